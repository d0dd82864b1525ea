"""The virtual My Number card: an APDU-level model for tests and the demo.

Theory of operation
-------------------
``VirtualCard`` answers command APDUs the way the real card does for what
the terminal (and OpenSC's JPKI driver) sends: SELECT of the three applets
and their PIN files, VERIFY (empty: read the counter; with data: check),
CHANGE REFERENCE DATA after a good VERIFY, with retry counters that block at
0 (``6984``).  It has no I/O and no clock: ``drivers.card.sim`` calls it
in-process and ``drivers.card.vpcd`` plugs it into pcscd through vpcd.
Powering off or resetting drops the selection and every verified state,
as on the real card.  The card facts come from ``kiosk.jpki`` and
``kiosk.pin.PIN_RULES``; nothing here restates them.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from kiosk import jpki
from kiosk.pin import PIN_RULES, Pin, PinError, PinType, entry_problem, parse_pin_type

#: Applets whose PIN may be changed with CHANGE REFERENCE DATA.
CHANGEABLE_APPLETS = (jpki.AID_JPKI, jpki.AID_CARD_INFO_INPUT)


@dataclass
class PinSlot:
    """One PIN file of the virtual card: its reference data and retry counter."""

    pin_type: PinType
    value: bytearray
    tries_left: int

    @property
    def max_tries(self) -> int:
        return PIN_RULES[self.pin_type].max_tries


def _sw(sw: int) -> bytes:
    return bytes((sw >> 8, sw & 0xFF))


@dataclass
class VirtualCard:
    """A My Number card: four PINs, counters, blocking, change, power states."""

    slots: dict[PinType, PinSlot]
    powered: bool = False
    applet: bytes | None = None
    ef: bytes | None = None
    verified: set = field(default_factory=set)

    @classmethod
    def with_pins(cls, pins: dict[PinType, str], tries: dict[PinType, int] | None = None) -> "VirtualCard":
        """A card whose PINs are ``pins`` (all four required), counters full unless ``tries`` says."""
        tries = tries or {}
        missing = [str(t) for t in PinType if t not in pins]
        if missing:
            raise ValueError(f"virtual card needs every PIN; missing: {', '.join(missing)}")
        slots = {
            t: PinSlot(t, bytearray(pins[t].encode("ascii")), tries.get(t, PIN_RULES[t].max_tries))
            for t in PinType
        }
        return cls(slots)

    # -- power ---------------------------------------------------------------
    def power_on(self) -> bytes:
        """Power the card up; returns the ATR."""
        self._drop_security_state()
        self.powered = True
        return jpki.ATR

    def power_off(self) -> None:
        self._drop_security_state()
        self.powered = False

    def reset(self) -> bytes:
        """Warm reset: the same as a power cycle for the security state."""
        return self.power_on()

    def _drop_security_state(self) -> None:
        self.applet = None
        self.ef = None
        self.verified.clear()

    # -- commands ------------------------------------------------------------
    def _slot_of_selection(self) -> PinSlot | None:
        for slot in self.slots.values():
            loc = jpki.PIN_LOCATIONS[slot.pin_type]
            if loc.aid == self.applet and loc.ef == self.ef:
                return slot
        return None

    def process(self, apdu: bytes | bytearray) -> bytes:
        """The response APDU (data + SW) to one command APDU."""
        if not self.powered:
            self.power_on()
        if len(apdu) < 4:
            return _sw(jpki.SW_WRONG_LENGTH)
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        body = bytes(apdu[5:5 + apdu[4]]) if len(apdu) > 5 else b""
        if len(apdu) > 5 and len(body) != apdu[4]:
            return _sw(jpki.SW_WRONG_LENGTH)
        if cla != jpki.CLA:
            return _sw(jpki.SW_CLA_NOT_SUPPORTED)
        if ins == jpki.INS_SELECT:
            return self._select(p1, body)
        if ins == jpki.INS_VERIFY:
            return self._verify(p1, p2, apdu)
        if ins == jpki.INS_CHANGE_REFERENCE_DATA:
            return self._change(p1, p2, apdu)
        return _sw(jpki.SW_INS_NOT_SUPPORTED)

    def _select(self, p1: int, body: bytes) -> bytes:
        if p1 == jpki.P1_SELECT_DF_NAME:
            if body in {loc.aid for loc in jpki.PIN_LOCATIONS.values()}:
                self.applet, self.ef = body, None
                return _sw(jpki.SW_OK)
            return _sw(jpki.SW_FILE_NOT_FOUND)
        if p1 == jpki.P1_SELECT_EF:
            if self.applet is not None and any(
                loc.aid == self.applet and loc.ef == body for loc in jpki.PIN_LOCATIONS.values()
            ):
                self.ef = body
                return _sw(jpki.SW_OK)
            return _sw(jpki.SW_FILE_NOT_FOUND)
        return _sw(jpki.SW_WRONG_P1P2)

    def _verify(self, p1: int, p2: int, apdu: bytes | bytearray) -> bytes:
        if (p1, p2) != (0x00, jpki.P2_VERIFY_SPECIFIC):
            return _sw(jpki.SW_WRONG_P1P2)
        slot = self._slot_of_selection()
        if slot is None:
            return _sw(jpki.SW_CONDITIONS_NOT_SATISFIED)
        if slot.tries_left == 0:
            return _sw(jpki.SW_BLOCKED)
        if len(apdu) <= 5 and (len(apdu) == 4 or apdu[4] == 0):  # empty VERIFY: the counter
            if slot.pin_type in self.verified:
                return _sw(jpki.SW_OK)
            return _sw(jpki.sw_counter(slot.tries_left))
        offered = bytes(apdu[5:])
        if hmac.compare_digest(offered, bytes(slot.value)):
            slot.tries_left = slot.max_tries
            self.verified.add(slot.pin_type)
            return _sw(jpki.SW_OK)
        self.verified.discard(slot.pin_type)
        slot.tries_left -= 1
        return _sw(jpki.sw_counter(slot.tries_left))

    def _change(self, p1: int, p2: int, apdu: bytes | bytearray) -> bytes:
        if (p1, p2) != (jpki.P1_CHANGE_NEW_ONLY, jpki.P2_VERIFY_SPECIFIC):
            return _sw(jpki.SW_WRONG_P1P2)
        slot = self._slot_of_selection()
        if slot is None or self.applet not in CHANGEABLE_APPLETS:
            return _sw(jpki.SW_CONDITIONS_NOT_SATISFIED)
        if slot.tries_left == 0:
            return _sw(jpki.SW_BLOCKED)
        if slot.pin_type not in self.verified:
            return _sw(jpki.SW_SECURITY_NOT_SATISFIED)
        new = bytes(apdu[5:]) if len(apdu) > 5 else b""
        rule = PIN_RULES[slot.pin_type]
        if not rule.min_len <= len(new) <= rule.max_len:
            return _sw(jpki.SW_WRONG_LENGTH)
        if any(chr(b) not in rule.charset for b in new):
            return _sw(0x6A80)  # incorrect data
        slot.value[:] = new
        slot.tries_left = slot.max_tries
        return _sw(jpki.SW_OK)


# -- "user_auth=1234,signature=ABC123" ----------------------------------------


def _assignments(text: str, what: str) -> dict[PinType, str]:
    out: dict[PinType, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"{what}: expected NAME=VALUE, got {name.strip()!r}")
        out[parse_pin_type(name.strip())] = value.strip()
    return out


def parse_pins(text: str, base: dict[PinType, str] | None = None) -> dict[PinType, str]:
    """PINs from ``user_auth=1234,signature=ABC123,...`` over ``base``; each checked against its rule."""
    pins = dict(base or {})
    for pin_type, value in _assignments(text, "pins").items():
        try:
            problem = entry_problem(pin_type, Pin.from_text(value))
        except PinError:
            problem = "bad_char"
        if problem:  # the value itself is a test/demo PIN, never a citizen's: safe to name the type
            raise ValueError(f"pins: {pin_type} does not fit its rule ({problem})")
        pins[pin_type] = value
    return pins


def parse_tries(text: str) -> dict[PinType, int]:
    """Initial tries left from ``user_auth=1,signature=5``; each 0..max_tries."""
    tries: dict[PinType, int] = {}
    for pin_type, value in _assignments(text, "tries").items():
        hi = PIN_RULES[pin_type].max_tries
        if not value.isdigit() or not 0 <= int(value) <= hi:
            raise ValueError(f"tries: {pin_type} must be 0..{hi}, got {value!r}")
        tries[pin_type] = int(value)
    return tries
