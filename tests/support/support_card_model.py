"""A second My Number card model, written apart from ``drivers.card.virtual`` (test code only).

The driver's tests run against both, so no result depends on one model's quirks.  This one
is a file system: a dict of dedicated files (DF name -> {EF id: bytes}) and PIN objects
(DF name -> {EF id: [value, tries, max]}), after the behaviour jpki/myna's dummy reader
(``src/reader/dummy.rs``) and OpenSC's JPKI driver expect, with what the real card is known
to do where the dummy differs: an unknown DF answers 6A82 (the dummy accepts any), a good PIN
refills the counter, a blocked PIN answers 63C0.  Where ``drivers.card.virtual`` makes a
choice, this model makes the other one: a re-SELECT keeps the verified state (until reset).
It shares no code with the product model; only the published numbers are the same.
"""
from __future__ import annotations

import os
from datetime import date

from drivers.card.virtual import certificate_for  # only the test certificate's bytes

JPKI = "D392F000260100000001"
KENHOJO = "D3921000310001010408"
JUKI_CANDIDATES = ("D3921000310001010100", "D3921000310001010401")


def _sw(hi: int, lo: int) -> bytes:
    return bytes((hi, lo))


class FileSystemCard:
    """ISO 7816-4 as a file system of DFs, EFs and PIN objects."""

    def __init__(self, pins: dict[str, str], *, juki_aid: str = JUKI_CANDIDATES[1],
                 token: bytes = b"JPKIAPICCTOKEN2", tries: dict[str, int] | None = None,
                 serial: bytes | None = None, valid_until: date = date(2029, 12, 31)) -> None:
        tries = tries or {}
        self.cert = certificate_for(serial or os.urandom(8), valid_until)
        self.files = {JPKI: {"0006": token.ljust(32, b"\0"), "000A": self.cert},
                      KENHOJO: {}, juki_aid: {}}
        self.pins = {
            JPKI: {"0018": [pins["user_auth"], tries.get("user_auth", 3), 3],
                   "001B": [pins["signature"], tries.get("signature", 5), 5]},
            KENHOJO: {"0011": [pins["card_info_input"], tries.get("card_info_input", 3), 3]},
            juki_aid: {"001C": [pins["resident_registry"], tries.get("resident_registry", 3), 3]},
        }
        self.changeable = {(JPKI, "0018"), (JPKI, "001B"), (KENHOJO, "0011")}
        self.df = self.ef = None
        self.logged_in: set[tuple[str, str]] = set()

    # the same power interface as the product model
    def power_on(self) -> bytes:
        self.df = self.ef = None
        self.logged_in = set()
        return bytes.fromhex("3BE000FF8131FE4514")

    power_off = reset = power_on

    def process(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        if apdu[0] != 0x00:
            return _sw(0x6E, 0x00)
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        data = apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""
        handler = {0xA4: self._select, 0xB0: self._read, 0x20: self._verify, 0x24: self._change}.get(ins)
        return handler(p1, p2, apdu, data) if handler else _sw(0x6D, 0x00)

    def _select(self, p1, p2, apdu, data):
        name = data.hex().upper()
        if p1 == 0x04:
            if name not in self.files:
                return _sw(0x6A, 0x82)
            self.df, self.ef = name, None  # the verified state stays: this model's choice
            return _sw(0x90, 0x00)
        if p1 == 0x02 and self.df and (name in self.files[self.df] or name in self.pins[self.df]):
            self.ef = name
            return _sw(0x90, 0x00)
        return _sw(0x6A, 0x82)

    def _read(self, p1, p2, apdu, data):
        content = self.files.get(self.df, {}).get(self.ef)
        if content is None:
            return _sw(0x69, 0x86)
        offset, le = (p1 << 8) | p2, (apdu[4] if len(apdu) == 5 else 0) or 256
        return content[offset:offset + le] + _sw(0x90, 0x00)

    def _pin(self):
        return self.pins.get(self.df, {}).get(self.ef)

    def _verify(self, p1, p2, apdu, data):
        pin = self._pin()
        if pin is None:
            return _sw(0x69, 0x86)
        if not data:
            return _sw(0x63, 0xC0 | pin[1])
        if pin[1] == 0:
            return _sw(0x63, 0xC0)
        if data.decode("ascii", "replace") == pin[0]:
            pin[1] = pin[2]
            self.logged_in.add((self.df, self.ef))
            return _sw(0x90, 0x00)
        pin[1] -= 1
        return _sw(0x63, 0xC0 | pin[1])

    def _change(self, p1, p2, apdu, data):
        pin = self._pin()
        if pin is None or (self.df, self.ef) not in self.changeable:
            return _sw(0x69, 0x85)
        if (self.df, self.ef) not in self.logged_in:
            return _sw(0x69, 0x82)
        pin[0] = data.decode("ascii")
        return _sw(0x90, 0x00)
