"""The card's command set as pure data: exact APDU bytes and every status-word path."""
import pytest

from kiosk import jpki
from kiosk.jpki import CardResult
from kiosk.pin import PinType


def test_applets_and_pin_files_are_the_public_facts():
    loc = jpki.PIN_LOCATIONS
    assert loc[PinType.USER_AUTH] == jpki.PinLocation(bytes.fromhex("D392F000260100000001"), b"\x00\x18", 3)
    assert loc[PinType.SIGNATURE] == jpki.PinLocation(bytes.fromhex("D392F000260100000001"), b"\x00\x1b", 5)
    assert loc[PinType.RESIDENT_REGISTRY].ef == b"\x00\x1c"  # the applet is probed (below)
    assert loc[PinType.CARD_INFO_INPUT] == jpki.PinLocation(bytes.fromhex("D3921000310001010408"), b"\x00\x11", 3)
    assert jpki.ATR.hex() == "3be000ff8131fe4514"


def test_command_bytes():
    assert jpki.select_applet(jpki.AID_JPKI).hex() == "00a4040c0ad392f000260100000001"
    assert jpki.select_ef(b"\x00\x18").hex() == "00a4020c020018"
    assert jpki.VERIFY_COUNTER.hex() == "00200080"
    assert bytes(jpki.verify(b"1234")).hex() == "002000800431323334"
    assert bytes(jpki.change_reference_data(b"ABC123")).hex() == "0024018006414243313233"
    assert isinstance(jpki.verify(b"1234"), bytearray)  # so the caller can wipe it


def test_commands_never_carry_an_empty_or_oversized_pin():
    for build in (jpki.verify, jpki.change_reference_data):
        with pytest.raises(ValueError):
            build(b"")
        with pytest.raises(ValueError):
            build(b"1" * 256)


def test_wipe_zeroes_bytearrays_and_int_lists():
    apdu = jpki.verify(b"4729")
    jpki.wipe(apdu)
    assert apdu == bytearray(len(apdu))
    as_list = list(jpki.verify(b"4729"))
    jpki.wipe(as_list)
    assert as_list == [0] * 9


def test_describe_hides_pin_bodies_but_not_selects():
    text = jpki.describe_apdu(jpki.verify(b"4729"))
    assert "4729" not in text and "34 37 32 39" not in text and "hidden" in text
    assert "34373239" not in jpki.describe_apdu(jpki.change_reference_data(b"4729")).replace(" ", "")
    assert jpki.describe_apdu(jpki.select_ef(b"\x00\x18")) == "00 A4 02 0C 02 00 18"
    assert jpki.describe_apdu(jpki.VERIFY_COUNTER) == "00 20 00 80"


@pytest.mark.parametrize("sw,expected", [
    (0x63C3, CardResult("ok", 3)),
    (0x63C1, CardResult("ok", 1)),
    (0x63C0, CardResult("locked", 0)),
    (0x9000, CardResult("ok", 3)),  # already verified: counter full
    (0x6984, CardResult("locked", 0)),
    (0x6983, CardResult("locked", 0)),
    (0x6A82, CardResult("error")),
])
def test_counter_answers(sw, expected):
    assert jpki.result_of_counter(sw, 3) == expected


@pytest.mark.parametrize("sw,expected", [
    (0x9000, CardResult("ok", 5)),
    (0x63C4, CardResult("wrong", 4)),
    (0x63C1, CardResult("wrong", 1)),
    (0x63C0, CardResult("locked", 0)),  # the try that used the last one
    (0x6984, CardResult("locked", 0)),
    (0x6983, CardResult("locked", 0)),
    (0x6700, CardResult("error")),
])
def test_verify_answers(sw, expected):
    assert jpki.result_of_verify(sw, 5) == expected


def test_change_answers():
    assert jpki.result_of_change(0x9000, 3) == CardResult("ok", 3)
    assert jpki.result_of_change(0x6984, 3) == CardResult("locked", 0)
    assert jpki.result_of_change(0x6982, 3) == CardResult("error")


def test_split_response_and_counter_sw():
    assert jpki.split_response([0x01, 0x02, 0x90, 0x00]) == (b"\x01\x02", 0x9000)
    assert jpki.split_response(b"\x63\xc2") == (b"", 0x63C2)
    assert jpki.split_response(b"") == (b"", 0)
    assert jpki.sw_counter(2) == 0x63C2
    with pytest.raises(ValueError):
        jpki.sw_counter(16)


def test_results_only_take_known_outcomes():
    for outcome in jpki.OUTCOMES:
        assert CardResult(outcome).outcome == outcome
    with pytest.raises(ValueError):
        CardResult("maybe")


def test_resident_registry_candidates_and_override():
    # TRETJapanNFCReader's individualNumberAP first, jpki/myna 2017's "住基?" second
    assert [a.hex().upper() for a in jpki.RESIDENT_REGISTRY_AID_CANDIDATES] == [
        "D3921000310001010100", "D3921000310001010401"]
    other = bytes.fromhex("D3921000310001010401")
    assert jpki.pin_location(PinType.RESIDENT_REGISTRY, other) == jpki.PinLocation(other, b"\x00\x1c", 3)
    assert jpki.pin_location(PinType.USER_AUTH, other) == jpki.PIN_LOCATIONS[PinType.USER_AUTH]
    assert jpki.parse_aid("D3 92 10 00 31 00 01 01 04 01") == other
    for bad in ("D392", "zz", "00" * 17):
        with pytest.raises(ValueError):
            jpki.parse_aid(bad)


def test_change_is_offered_only_where_a_public_tool_changes_it():
    assert jpki.CHANGE_SUPPORTED == {PinType.USER_AUTH, PinType.SIGNATURE, PinType.CARD_INFO_INPUT}


@pytest.mark.parametrize("data,kind", [
    (b"JPKIAPICCTOKEN2" + bytes(17), "mynumber_card"),
    (b"JPKIAPICCTOKEN" + bytes(18), "juki_card"),
    (b"JPKIAPGPSETOKEN" + bytes(17), "smartphone"),
    (b"JPKIAPICCTOKEN2   ", "mynumber_card"),
    (b"SOMETHING ELSE", "unknown_token"),
    (b"", "unknown_token"),
])
def test_token_kinds(data, kind):
    assert jpki.token_kind(data) == kind


@pytest.mark.parametrize("sw,jpki_applet,why", [
    (0x9000, False, None),
    (0x6A82, True, "not_mynumber"),
    (0x6A82, False, "no_applet"),
    (0x6D00, True, "not_a_card"),
    (0x6E00, False, "not_a_card"),
    (0, True, "not_a_card"),
    (0x6F00, True, "card_error"),
    (0x6581, False, "card_error"),
])
def test_select_failures_are_told_apart(sw, jpki_applet, why):
    assert jpki.select_outcome(sw, jpki_applet=jpki_applet) == why


def test_read_binary_bytes():
    assert jpki.read_binary(0, 0x20).hex() == "00b0000020"
    assert jpki.read_binary(0x1234, 256).hex() == "00b0123400"
    with pytest.raises(ValueError):
        jpki.read_binary(0, 0)


def test_certificate_end_date_and_length():
    from datetime import date

    from drivers.card.virtual import certificate_for

    cert = certificate_for(b"\x01\x02", date(2031, 7, 9))
    assert jpki.der_total_length(cert[:4]) == len(cert)
    assert jpki.certificate_not_after(cert) == date(2031, 7, 9)
    assert jpki.der_total_length(b"\x04\x82") is None
    for broken in (b"", cert[:40], b"\x02\x01\x00"):
        with pytest.raises((ValueError, IndexError)):
            jpki.certificate_not_after(broken)


def test_identity_compares_certificate_hashes_and_shows_neither():
    import hashlib

    ident = jpki.CardIdentity("Reader 0", hashlib.sha256(b"cert A").digest())
    assert ident.same_card(b"cert A") and not ident.same_card(b"cert B")
    assert hashlib.sha256(b"cert A").hexdigest() not in repr(ident) and "cert_sha256" not in repr(ident)
