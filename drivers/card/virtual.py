"""The virtual My Number card: an APDU-level model for tests and the demo.

Theory of operation
-------------------
``VirtualCard`` answers command APDUs the way the real card does for what
the terminal (and OpenSC's JPKI driver) sends: SELECT of the applets and
their files, READ BINARY of the JPKI token (EF 0006) and the
user-authentication certificate (EF 000A, no PIN), VERIFY (empty: read the
counter; with data: check), CHANGE REFERENCE DATA after a good VERIFY, with
retry counters that block at 0.  It has no I/O and no clock:
``drivers.card.sim`` calls it in-process and ``drivers.card.vpcd`` plugs it
into pcscd through vpcd.  The card facts come from ``kiosk.jpki`` and
``kiosk.pin.PIN_RULES``; nothing here restates them.

Where the real card's behaviour is known from public sources it is copied
(see ``kiosk.jpki``): a blocked PIN answers ``63C0`` to every VERIFY; the
empty VERIFY answers ``63Cx`` even right after a good VERIFY.  Where it is
not known it is a choice, written down here and switchable so the terminal
is tested under both:

* ``reselect_drops_verified`` (default True, as OpenSC's ``jpki_logout``
  assumes): a SELECT of an applet drops every verified state.  False: the
  verified state lasts until power-down or reset, whatever is selected.
* The 住基 applet sits at one of ``jpki.RESIDENT_REGISTRY_AID_CANDIDATES``
  (``resident_registry_aid``); the other candidate answers ``6A82``.
* Its PIN cannot be changed (``6985``): no public tool changes it.

Powering off or resetting drops the selection and every verified state.
Each card has its own certificate (a random serial unless one is given), so
two virtual cards are two cards to the terminal, as two real ones are.
"""
from __future__ import annotations

import hmac
import os
from dataclasses import dataclass, field
from datetime import date

from kiosk import jpki
from kiosk.pin import PIN_RULES, Pin, PinError, PinType, entry_problem, parse_pin_type

#: Token the virtual card carries in EF 0006 for each kind (``jpki.TOKENS`` read backwards).
TOKEN_OF_KIND = {kind: token for token, kind in jpki.TOKENS.items()}

#: A test person's details, put into the virtual certificate so tests can prove that none of
#: it ever leaves the card reader path (a real auth certificate carries no name at all).
TEST_PERSON = {"name": "試験太郎", "address": "東京都千代田区試験町1-2-3", "birth": "19700401"}


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


# -- a DER certificate, just enough of one for the terminal to read its end date ------------


def _der(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes((0x80 | len(body),)) + body
    return bytes((tag,)) + length + value


def certificate_for(serial: bytes, valid_until: date, person: dict[str, str] = TEST_PERSON) -> bytes:
    """An X.509-shaped DER certificate: the serial, a validity ending ``valid_until``, and ``person``.

    Not signed by anyone (the terminal never checks signatures): the layout of RFC 5280,
    with a subject naming ``person`` so a test can look for it outside the card.
    """
    def name(cn: str) -> bytes:
        attribute = _der(0x30, _der(0x06, bytes.fromhex("550403")) + _der(0x0C, cn.encode()))
        return _der(0x30, _der(0x31, attribute))

    def utc(d: date) -> bytes:
        return _der(0x17, f"{d:%y%m%d}000000Z".encode())

    not_before = date(max(valid_until.year - 5, 1951), valid_until.month, min(valid_until.day, 28))
    subject = _der(0x30, b"".join(
        _der(0x31, _der(0x30, _der(0x06, bytes.fromhex(oid)) + _der(0x0C, value.encode())))
        for oid, value in (("550403", person["name"]), ("550409", person["address"]),
                           ("2b06010505070901", person["birth"]))))
    tbs = _der(0x30, b"".join((
        _der(0xA0, _der(0x02, b"\x02")),                                   # version v3
        _der(0x02, b"\x01" + serial),                                      # serialNumber
        _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00"),  # sha256RSA
        name("Virtual JPKI User Authentication CA"),                       # issuer
        _der(0x30, utc(not_before) + utc(valid_until)),                    # validity
        subject,
        _der(0x30, _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
             + _der(0x03, b"\x00" + bytes(64))),                           # subjectPublicKeyInfo
    )))
    return _der(0x30, tbs + _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d01010b")) + b"\x05\x00")
                + _der(0x03, b"\x00" + bytes(256)))


@dataclass
class VirtualCard:
    """A My Number card: four PINs, counters, blocking, change, files, power states."""

    slots: dict[PinType, PinSlot]
    token: str = TOKEN_OF_KIND["mynumber_card"]
    resident_registry_aid: bytes = jpki.RESIDENT_REGISTRY_AID_CANDIDATES[0]
    reselect_drops_verified: bool = True
    cert: bytes = b""
    powered: bool = False
    applet: bytes | None = None
    ef: bytes | None = None
    verified: set = field(default_factory=set)

    @classmethod
    def with_pins(cls, pins: dict[PinType, str], tries: dict[PinType, int] | None = None, *,
                  kind: str = "mynumber_card", resident_registry_aid: bytes | None = None,
                  reselect_drops_verified: bool = True, serial: bytes | None = None,
                  valid_until: date = date(2030, 3, 31)) -> "VirtualCard":
        """A card whose PINs are ``pins`` (all four required), counters full unless ``tries`` says.

        ``kind``: ``mynumber_card``, ``juki_card`` or ``smartphone`` (its JPKI token);
        ``serial``: the certificate's serial (random when None: every card a new card).
        """
        tries = tries or {}
        missing = [str(t) for t in PinType if t not in pins]
        if missing:
            raise ValueError(f"virtual card needs every PIN; missing: {', '.join(missing)}")
        if kind not in TOKEN_OF_KIND:
            raise ValueError(f"card kind must be one of {', '.join(TOKEN_OF_KIND)}, got {kind!r}")
        slots = {
            t: PinSlot(t, bytearray(pins[t].encode("ascii")), tries.get(t, PIN_RULES[t].max_tries))
            for t in PinType
        }
        return cls(slots, token=TOKEN_OF_KIND[kind],
                   resident_registry_aid=resident_registry_aid or jpki.RESIDENT_REGISTRY_AID_CANDIDATES[0],
                   reselect_drops_verified=reselect_drops_verified,
                   cert=certificate_for(serial if serial is not None else os.urandom(8), valid_until))

    # -- layout ----------------------------------------------------------------
    def _location(self, pin_type: PinType) -> jpki.PinLocation:
        return jpki.pin_location(pin_type, self.resident_registry_aid)

    def _applets(self) -> set[bytes]:
        return {self._location(t).aid for t in PinType}

    def _files(self) -> dict[tuple[bytes, bytes], bytes]:
        """(applet, EF) -> contents of the readable files."""
        return {(jpki.AID_JPKI, jpki.EF_TOKEN): self.token.encode().ljust(jpki.TOKEN_LENGTH, b"\x00"),
                (jpki.AID_JPKI, jpki.EF_AUTH_CERT): self.cert}

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
            loc = self._location(slot.pin_type)
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
        if ins == jpki.INS_READ_BINARY:
            return self._read_binary(p1, p2, apdu)
        if ins == jpki.INS_VERIFY:
            return self._verify(p1, p2, apdu)
        if ins == jpki.INS_CHANGE_REFERENCE_DATA:
            return self._change(p1, p2, apdu)
        return _sw(jpki.SW_INS_NOT_SUPPORTED)

    def _select(self, p1: int, body: bytes) -> bytes:
        if p1 == jpki.P1_SELECT_DF_NAME:
            if body in self._applets():
                self.applet, self.ef = body, None
                if self.reselect_drops_verified:
                    self.verified.clear()
                return _sw(jpki.SW_OK)
            return _sw(jpki.SW_FILE_NOT_FOUND)
        if p1 == jpki.P1_SELECT_EF:
            known = {(self._location(t).aid, self._location(t).ef) for t in PinType} | set(self._files())
            if self.applet is not None and (self.applet, body) in known:
                self.ef = body
                return _sw(jpki.SW_OK)
            return _sw(jpki.SW_FILE_NOT_FOUND)
        return _sw(jpki.SW_WRONG_P1P2)

    def _read_binary(self, p1: int, p2: int, apdu: bytes | bytearray) -> bytes:
        data = self._files().get((self.applet, self.ef)) if self.applet and self.ef else None
        if data is None:
            return _sw(0x6986)  # command not allowed: no readable EF selected
        offset = (p1 << 8) | p2
        le = apdu[4] if len(apdu) == 5 else 0
        if offset > len(data):
            return _sw(jpki.SW_WRONG_P1P2)
        chunk = data[offset:offset + (le or 256)]
        return chunk + _sw(jpki.SW_OK)

    def _verify(self, p1: int, p2: int, apdu: bytes | bytearray) -> bytes:
        if (p1, p2) != (0x00, jpki.P2_VERIFY_SPECIFIC):
            return _sw(jpki.SW_WRONG_P1P2)
        slot = self._slot_of_selection()
        if slot is None:
            return _sw(jpki.SW_CONDITIONS_NOT_SATISFIED)
        if slot.tries_left == 0:  # blocked: 63C0, as the real card (kiosk.jpki)
            return _sw(jpki.sw_counter(0))
        if len(apdu) <= 5 and (len(apdu) == 4 or apdu[4] == 0):
            # empty VERIFY: the counter, verified or not (kiosk.jpki: OpenSC PR #959)
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
        if slot is None or slot.pin_type not in jpki.CHANGE_SUPPORTED:
            return _sw(jpki.SW_CONDITIONS_NOT_SATISFIED)
        if slot.tries_left == 0:
            return _sw(jpki.sw_counter(0))
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
