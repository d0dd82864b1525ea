"""The PIN type never becomes text, and the rules match the card's facts."""
import copy
import json
import logging
import pickle

import pytest

from kiosk.pin import PIN_RULES, Pin, PinError, PinType, entry_problem, parse_pin_type


def test_rules_are_the_cards_facts():
    sig = PIN_RULES[PinType.SIGNATURE]
    assert (sig.min_len, sig.max_len, sig.max_tries, sig.keypad) == (6, 16, 5, "alnum")
    assert sig.charset == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    for t in (PinType.USER_AUTH, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT):
        r = PIN_RULES[t]
        assert (r.min_len, r.max_len, r.max_tries, r.keypad, r.charset) == (4, 4, 3, "digits", "0123456789")
    assert "_" not in sig.charset and "a" not in sig.charset


def test_pin_never_formats_as_its_digits():
    pin = Pin.from_text("4729")
    for text in (repr(pin), str(pin), f"{pin}", f"{pin!r}", "%s" % pin, "{}".format(pin)):
        assert "4729" not in text and "4" not in text.replace("4 chars", "")
    assert pin.mask() == "●●●●"


def test_pin_refuses_serialisation_and_copies():
    pin = Pin.from_text("ABC123")
    with pytest.raises(TypeError):
        json.dumps({"pin": pin})
    with pytest.raises(TypeError):
        pickle.dumps(pin)
    with pytest.raises(TypeError):
        copy.copy(pin)
    with pytest.raises(TypeError):
        copy.deepcopy(pin)
    with pytest.raises(TypeError):
        list(pin)
    with pytest.raises(TypeError):
        {pin: 1}


def test_logging_a_pin_logs_a_mask(caplog):
    pin = Pin.from_text("987654")
    # caplog's handler on the kiosk's own logger: setup_logging (run by earlier tests) stops
    # propagation to the root, where older pytest (Debian's 7.2) only listens
    root = logging.getLogger("pin_kiosk")
    root.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.DEBUG, logger="pin_kiosk"):
            logging.getLogger("pin_kiosk.test").info("entry %s done %r", pin, pin)
            logging.getLogger("pin_kiosk.test").info("entry %(p)s", {"p": pin})
    finally:
        root.removeHandler(caplog.handler)
    assert "987654" not in caplog.text
    assert "hidden" in caplog.text


def test_exception_messages_carry_no_pin():
    pin = Pin.from_text("1234")
    with pytest.raises(PinError) as exc:
        pin.append("_")
    assert "1234" not in str(exc.value) and "_" not in str(exc.value)
    err = ValueError(f"failed for {pin}")
    assert "1234" not in str(err)


def test_wipe_zeroes_every_byte():
    pin = Pin.from_text("ABCDEF123456")
    buf = pin._buf  # the real buffer: check the memory, not the API
    pin.wipe()
    assert bytes(buf) == bytes(len(buf)) and len(pin) == 0 and pin.wiped


def test_backspace_zeroes_the_removed_byte():
    pin = Pin.from_text("12")
    pin.backspace()
    assert pin._buf[1] == 0 and len(pin) == 1


def test_reveal_scratch_is_zeroed_after_use():
    pin = Pin.from_text("5555")
    with pin.reveal() as raw:
        assert bytes(raw) == b"5555"
        kept = raw
    assert bytes(kept) == b"\0\0\0\0"
    assert len(pin) == 4  # revealing does not consume the PIN


def test_only_0_9_A_Z_can_be_typed_and_capacity_is_16():
    pin = Pin()
    for bad in ("_", "-", "a", "z", " ", "Ａ", "١", ""):
        with pytest.raises(PinError):
            pin.append(bad)
    for _ in range(16):
        pin.append("A")
    with pytest.raises(PinError):
        pin.append("B")


@pytest.mark.parametrize("pin_type,text,problem", [
    (PinType.USER_AUTH, "", "empty"),
    (PinType.USER_AUTH, "123", "too_short"),
    (PinType.USER_AUTH, "12345", "too_long"),
    (PinType.USER_AUTH, "12A4", "bad_char"),
    (PinType.USER_AUTH, "1234", None),
    (PinType.RESIDENT_REGISTRY, "0000", None),
    (PinType.SIGNATURE, "ABC12", "too_short"),
    (PinType.SIGNATURE, "ABC123", None),
    (PinType.SIGNATURE, "123456", None),  # an existing all-digit signature PIN may still be verified
    (PinType.SIGNATURE, "A" * 16, None),
])
def test_entry_problem(pin_type, text, problem):
    assert entry_problem(pin_type, Pin.from_text(text)) == problem


def test_new_signature_pin_must_mix_letters_and_digits():
    assert entry_problem(PinType.SIGNATURE, Pin.from_text("123456"), new_pin=True) == "needs_letter_and_digit"
    assert entry_problem(PinType.SIGNATURE, Pin.from_text("ABCDEF"), new_pin=True) == "needs_letter_and_digit"
    assert entry_problem(PinType.SIGNATURE, Pin.from_text("ABC123"), new_pin=True) is None
    assert entry_problem(PinType.USER_AUTH, Pin.from_text("1234"), new_pin=True) is None


def test_matches_is_equality_of_content():
    assert Pin.from_text("1234").matches(Pin.from_text("1234"))
    assert not Pin.from_text("1234").matches(Pin.from_text("1235"))
    assert not Pin.from_text("1234").matches(Pin.from_text("12345"))


def test_parse_pin_type():
    assert parse_pin_type("signature") is PinType.SIGNATURE
    with pytest.raises(ValueError, match="allowed: user_auth"):
        parse_pin_type("sig")
