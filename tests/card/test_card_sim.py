"""The virtual card model, the in-process sim backend, and CardWorker (no PC/SC needed)."""
import select
import time

import pytest

from drivers.card import CardEvent, CardWorker, open_card
from drivers.card.sim import SIM_READER, SimBackend
from drivers.card.virtual import VirtualCard, parse_pins, parse_tries
from kiosk import jpki
from kiosk.config import CardConfig
from kiosk.jpki import CardResult
from kiosk.pin import Pin, PinType

PINS = {PinType.USER_AUTH: "1234", PinType.SIGNATURE: "ABC123",
        PinType.RESIDENT_REGISTRY: "5555", PinType.CARD_INFO_INPUT: "7777"}
UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT


def sw(card, apdu):
    r = card.process(bytes(apdu))
    return (r[-2] << 8) | r[-1]


def selected(card, pin_type):
    loc = jpki.PIN_LOCATIONS[pin_type]
    assert sw(card, jpki.select_applet(loc.aid)) == 0x9000
    assert sw(card, jpki.select_ef(loc.ef)) == 0x9000
    return card


# -- the model, APDU by APDU ---------------------------------------------------

def test_model_counter_wrong_last_try_blocked():
    card = selected(VirtualCard.with_pins(PINS), UA)
    assert card.power_on() == jpki.ATR
    selected(card, UA)
    assert sw(card, jpki.VERIFY_COUNTER) == 0x63C3
    assert sw(card, jpki.verify(b"0000")) == 0x63C2
    assert sw(card, jpki.verify(b"0000")) == 0x63C1
    assert sw(card, jpki.verify(b"0000")) == 0x63C0  # the last try
    assert sw(card, jpki.VERIFY_COUNTER) == 0x63C0  # blocked: 63C0, as OpenSC and jpki/myna read it
    assert sw(card, jpki.verify(b"1234")) == 0x63C0  # blocked: even the right PIN


def test_model_good_pin_resets_counter_and_verified_state_until_power_down():
    card = selected(VirtualCard.with_pins(PINS, {SIG: 2}), SIG)
    assert sw(card, jpki.VERIFY_COUNTER) == 0x63C2
    assert sw(card, jpki.verify(b"ABC123")) == 0x9000
    assert sw(card, jpki.VERIFY_COUNTER) == 0x63C5  # the real card answers 63Cx even when verified
    assert sw(card, jpki.change_reference_data(b"NEW123")) == 0x9000  # but it is verified
    card.reset()
    selected(card, SIG)
    assert sw(card, jpki.VERIFY_COUNTER) == 0x63C5
    assert sw(card, jpki.change_reference_data(b"NEW124")) == 0x6982  # not verified after reset


@pytest.mark.parametrize("drops", [True, False])
def test_model_reselect_choice(drops):
    """What a re-SELECT does to a verified PIN is a choice of the model; both are tested."""
    card = selected(VirtualCard.with_pins(PINS, reselect_drops_verified=drops), SIG)
    assert sw(card, jpki.verify(b"ABC123")) == 0x9000
    selected(card, SIG)
    assert sw(card, jpki.change_reference_data(b"NEW123")) == (0x6982 if drops else 0x9000)


def test_model_files_token_and_certificate():
    card = VirtualCard.with_pins(PINS, serial=b"\x07")
    assert sw(card, jpki.select_applet(jpki.AID_JPKI)) == 0x9000
    assert sw(card, b"\x00\xb0\x00\x00\x10") == 0x6986  # no EF selected
    assert sw(card, jpki.select_ef(jpki.EF_TOKEN)) == 0x9000
    r = card.process(jpki.read_binary(0, 0x20))
    assert r[:-2].rstrip(b"\x00") == b"JPKIAPICCTOKEN2" and r[-2:] == b"\x90\x00"
    assert sw(card, jpki.select_ef(jpki.EF_AUTH_CERT)) == 0x9000
    assert card.process(jpki.read_binary(0, 4))[:-2] == card.cert[:4]
    assert card.process(jpki.read_binary(4, 255))[:-2] == card.cert[4:259]
    assert VirtualCard.with_pins(PINS).cert != VirtualCard.with_pins(PINS).cert  # two cards, two certs
    assert VirtualCard.with_pins(PINS, kind="juki_card").token == "JPKIAPICCTOKEN"

def test_model_change_after_verify_only_where_allowed():
    card = selected(VirtualCard.with_pins(PINS), CI)
    assert sw(card, jpki.verify(b"7777")) == 0x9000
    assert sw(card, jpki.change_reference_data(b"12")) == 0x6700  # length outside the rule
    assert sw(card, jpki.change_reference_data(b"12A4")) == 0x6A80  # letter in a digits PIN
    assert sw(card, jpki.change_reference_data(b"2468")) == 0x9000
    card.power_off()
    selected(card, CI)
    assert sw(card, jpki.verify(b"2468")) == 0x9000
    card.power_off()
    selected(card, RR)
    assert sw(card, jpki.verify(b"5555")) == 0x9000
    assert sw(card, jpki.change_reference_data(b"1111")) == 0x6985  # no public tool changes it


def test_model_selection_rules():
    card = VirtualCard.with_pins(PINS)
    assert sw(card, jpki.select_ef(b"\x00\x18")) == 0x6A82  # no applet selected
    assert sw(card, jpki.select_applet(bytes.fromhex("A000000003000000"))) == 0x6A82
    assert sw(card, jpki.select_applet(jpki.AID_JPKI)) == 0x9000
    assert sw(card, jpki.select_ef(b"\x00\x11")) == 0x6A82  # 券面 PIN is not in the JPKI applet
    assert sw(card, jpki.VERIFY_COUNTER) == 0x6985  # no PIN file selected
    assert sw(card, b"\x80\x20\x00\x80") == 0x6E00
    assert sw(card, b"\x00\xca\x00\x00\x00") == 0x6D00  # GET DATA: not modelled


def test_pin_and_tries_lists():
    assert parse_pins("user_auth=1111, signature=ZZ9999", base=PINS)[SIG] == "ZZ9999"
    assert parse_tries("user_auth=1,signature=0") == {UA: 1, SIG: 0}
    for bad in ("user_auth=12", "signature=abc123", "signature=ABC_12", "nobody=1234", "user_auth"):
        with pytest.raises(ValueError):
            parse_pins(bad)
    for bad in ("user_auth=4", "signature=-1", "user_auth=x"):
        with pytest.raises(ValueError):
            parse_tries(bad)
    with pytest.raises(ValueError, match="missing"):
        VirtualCard.with_pins({UA: "1234"})


# -- the operations through the sim backend --------------------------------------

def test_sim_backend_operations_and_never_sending_to_a_locked_pin():
    card = VirtualCard.with_pins(PINS, {UA: 1})
    b = SimBackend(card)
    assert b.tries_left(UA) == CardResult("ok", 1)
    assert b.verify(UA, Pin.from_text("0000")) == CardResult("locked", 0)  # 63C0
    assert b.verify(UA, Pin.from_text("1234")) == CardResult("locked", 0)  # even the right PIN
    assert card.slots[UA].tries_left == 0


def test_verify_reads_counter_first_and_sends_the_pin_only_when_tries_remain():
    card = VirtualCard.with_pins(PINS, {UA: 0})
    b = SimBackend(card)
    commands = []
    original = card.process
    card.process = lambda apdu: commands.append(bytes(apdu)) or original(apdu)
    assert b.verify(UA, Pin.from_text("1234")) == CardResult("locked", 0)
    assert commands[-1] == jpki.VERIFY_COUNTER  # the PIN never went out
    assert not any(c[1] == jpki.INS_VERIFY and len(c) > 4 for c in commands)


def test_change_verifies_old_first_and_keeps_callers_pins():
    b = SimBackend(VirtualCard.with_pins(PINS))
    old, new = Pin.from_text("ABC123"), Pin.from_text("XYZ789")
    assert b.change(SIG, Pin.from_text("WRONG1"), new) == CardResult("wrong", 4)
    assert b.change(SIG, old, new) == CardResult("ok", 5)
    assert len(old) == 6 and len(new) == 6  # the session wipes them, not the driver
    assert b.verify(SIG, Pin.from_text("XYZ789")) == CardResult("ok", 5)
    assert b.change(SIG, Pin.from_text("XYZ789"), Pin.from_text("ONLYLETTERS")) == CardResult("error")
    assert b.verify(SIG, Pin.from_text("XYZ789")).ok


def test_invalid_entries_never_reach_the_card():
    card = VirtualCard.with_pins(PINS)
    b = SimBackend(card)
    card.process = lambda apdu: pytest.fail("sent to the card")
    assert b.verify(UA, Pin()) == CardResult("error")  # an empty body would read the counter
    assert b.verify(UA, Pin.from_text("12345")) == CardResult("error")
    assert b.verify(UA, Pin.from_text("12AB")) == CardResult("error")


def test_sim_removed_card_and_no_card():
    b = SimBackend(VirtualCard.with_pins(PINS))
    b.remove()
    assert b.tries_left(UA) == CardResult("no_card")
    assert b.status().card == "absent"
    b.insert()
    assert b.tries_left(UA) == CardResult("ok", 3)


def test_open_card_picks_by_scheme():
    b = open_card("sim", CardConfig(
        sim_pins="user_auth=1111,signature=ABC123,resident_registry=1234,card_info_input=4321"))
    assert isinstance(b, SimBackend) and b.verify(UA, Pin.from_text("1111")).ok
    assert open_card("pcsc:Virtual", CardConfig()).pattern == "Virtual"
    assert open_card("pcsc", CardConfig(reader_pattern="ACS")).pattern == "ACS"
    for bad in ("usb", "sim:x", ""):
        with pytest.raises(ValueError, match="unknown card spec"):
            open_card(bad, CardConfig())


# -- the worker ------------------------------------------------------------------

def wait_events(worker, pred, timeout_s=2.0):
    got = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([worker], [], [], deadline - time.monotonic())
        if ready:
            got += worker.drain()
            if pred(got):
                return got
    raise AssertionError(f"events so far: {got}")


def test_worker_reports_presence_and_results_through_its_fd():
    backend = SimBackend(VirtualCard.with_pins(PINS))
    worker = CardWorker(backend)
    try:
        got = wait_events(worker, lambda ev: any(e.kind == "card_inserted" for e in ev))
        assert CardEvent("reader_added", reader=SIM_READER) in got
        pin = Pin.from_text("1234")
        t0 = time.monotonic()
        rid = worker.submit("verify", UA, pin)
        got = wait_events(worker, lambda ev: any(e.request_id == rid for e in ev))
        assert time.monotonic() - t0 < 0.2  # the cancel woke the presence wait
        assert got[-1] == CardEvent("result", rid, "verify", UA, CardResult("ok", 3))
        assert len(pin) == 4  # not wiped by the worker
        backend.remove()
        got = wait_events(worker, lambda ev: any(e.kind == "card_removed" for e in ev))
        assert got[-1].reader == SIM_READER
        rid = worker.submit("tries_left", UA)
        got = wait_events(worker, lambda ev: any(e.request_id == rid for e in ev))
        assert got[-1].result == CardResult("no_card")
        assert worker.alive()
        assert not worker.alive(now_s=time.monotonic() + 60)  # a stalled loop is reported
    finally:
        t0 = time.monotonic()
        worker.close()
        assert time.monotonic() - t0 < 0.5
    assert not worker.alive()


def test_worker_rejects_bad_submissions():
    worker = CardWorker(SimBackend(VirtualCard.with_pins(PINS)))
    try:
        with pytest.raises(ValueError):
            worker.submit("unlock", UA)
        with pytest.raises(ValueError):
            worker.submit("verify", UA)  # no PIN
        with pytest.raises(ValueError):
            worker.submit("tries_left", UA, Pin.from_text("1234"))
    finally:
        worker.close()
    with pytest.raises(RuntimeError):
        worker.submit("tries_left", UA)


class ForeignCard(VirtualCard):
    """Another ISO 7816 card (a bank card, say): it has none of the My Number applets."""

    def process(self, apdu):
        return bytes.fromhex("6A82")


def test_a_card_without_the_jpki_applet_is_not_mynumber():
    b = SimBackend(ForeignCard.with_pins(PINS))
    for t in PinType:
        assert b.tries_left(t) == CardResult("not_mynumber")
    assert b.verify(UA, Pin.from_text("1234")) == CardResult("not_mynumber")


def test_status_report_names_the_reason():
    from kiosk.commands.card import MESSAGES, status_report

    report = status_report(SimBackend(ForeignCard.with_pins(PINS)))
    assert (report["card"], report["state"]) == ("present", "not_mynumber")
    assert "not a My Number card" in MESSAGES[report["state"]]
    b = SimBackend(VirtualCard.with_pins(PINS, {SIG: 0}))
    assert status_report(b)["pins"]["signature"] == {"tries_left": 0}
    b.remove()
    report = status_report(b)
    assert (report["reader"], report["card"], report["state"]) == (SIM_READER, "absent", "no_card")
    assert report["pins"] == {str(t): {"tries_left": None} for t in PinType}
    for kind, words in (("juki_card", "住基カード"), ("smartphone", "smartphone")):
        report = status_report(SimBackend(VirtualCard.with_pins(PINS, kind=kind)))
        assert report["state"] == kind and words in MESSAGES[kind]


def test_card_backends_are_picked_by_scheme_from_one_registry():
    from drivers.card import SCHEMES, CardBackend, backend_class, open_card
    from kiosk.config import CardConfig

    for scheme in SCHEMES:
        cls = backend_class(scheme)
        assert issubclass(cls, CardBackend) and cls.SPEC_FORMS[0] == scheme
    assert backend_class("nfc") is None
    assert open_card("sim", CardConfig()).name == "sim"
    for bad in ("nfc", "sim:x"):
        with pytest.raises(ValueError, match=r"expected one of: pcsc, pcsc:PATTERN, sim\)"):
            open_card(bad, CardConfig())
