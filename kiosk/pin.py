"""The card's four PINs: their rules, and the one type that may hold a PIN.

Theory of operation
-------------------
Every fact about what a PIN may contain lives in ``PIN_RULES`` (from the card
issuer's public rules, see docs/product.md): the keypad reads it to decide
which keys exist, the session reads it to decide when Enter is enabled, the
card driver reads ``max_tries``.  Nobody else encodes these facts.

A PIN typed by a citizen is held only in a ``Pin``: a fixed-size slot of
locked, undumpable memory (``kiosk.secret_memory.SecretArena``: never swapped,
never in a core file) that is overwritten with zeros by ``wipe()``.  ``Pin`` refuses to become text:
``repr``/``str``/``format`` give a mask, ``json.dumps`` and ``pickle`` fail,
and comparing two PINs is constant-time.  The only way to the bytes is
``reveal()``, a context manager that hands out a scratch copy and zeroes it on
exit (also a slot of the arena), so the bytes exist outside locked memory only
for the card transmit.
"""
from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kiosk.secret_memory import SecretArena
from kiosk.vocabulary import PinType

__all__ = ["PIN_RULES", "PIN_CAPACITY", "Pin", "PinError", "PinRule", "PinType", "entry_problem", "parse_pin_type"]

DIGITS = "0123456789"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: The longest PIN any of the four may have; a Pin's buffer never grows.
PIN_CAPACITY = 16

#: Where every Pin's bytes and every revealed scratch copy live.
ARENA = SecretArena(PIN_CAPACITY)

MASK_CHAR = "\u25cf"  # ● what the citizen sees per typed character


@dataclass(frozen=True)
class PinRule:
    """What one PIN may contain, and how many wrong tries lock it."""

    charset: str
    min_len: int
    max_len: int
    max_tries: int
    keypad: str  # "digits" or "alnum"
    #: a new PIN chosen on change must mix letters and digits (signature PIN)
    needs_letter_and_digit: bool = False


PIN_RULES: dict[PinType, PinRule] = {
    PinType.SIGNATURE: PinRule(
        DIGITS + UPPER, 6, 16, 5, "alnum", needs_letter_and_digit=True,
    ),
    PinType.USER_AUTH: PinRule(DIGITS, 4, 4, 3, "digits"),
    PinType.RESIDENT_REGISTRY: PinRule(DIGITS, 4, 4, 3, "digits"),
    PinType.CARD_INFO_INPUT: PinRule(DIGITS, 4, 4, 3, "digits"),
}


def parse_pin_type(text: str) -> PinType:
    """The PinType named ``text``; ValueError naming the allowed ones otherwise."""
    try:
        return PinType(text)
    except ValueError:
        allowed = ", ".join(t.value for t in PinType)
        raise ValueError(f"unknown PIN type {text!r} (allowed: {allowed})") from None


class PinError(ValueError):
    """A character or length the PIN type does not allow (never carries the PIN)."""


class Pin:
    """A PIN being typed or sent to the card.  Holds the only copy; wipe it."""

    __slots__ = ("_buf", "_len", "__weakref__")

    def __init__(self) -> None:
        self._buf = ARENA.take()
        self._len = 0

    @classmethod
    def from_text(cls, text: str) -> "Pin":
        """A Pin from text: for tests, the simulated card and technician tools only."""
        pin = cls()
        for ch in text:
            pin.append(ch)
        return pin

    # -- editing -----------------------------------------------------------
    def append(self, ch: str) -> None:
        """Add one character; PinError if it is not 0-9/A-Z or the buffer is full."""
        if len(ch) != 1 or ch not in DIGITS + UPPER:
            raise PinError("character not allowed in any PIN")
        if self._len >= PIN_CAPACITY:
            raise PinError("PIN is at its maximum length")
        self._buf[self._len] = ord(ch)
        self._len += 1

    def backspace(self) -> None:
        if self._len:
            self._len -= 1
            self._buf[self._len] = 0

    def wipe(self) -> None:
        """Overwrite every byte with zero; the Pin is then empty."""
        for i in range(PIN_CAPACITY):
            self._buf[i] = 0
        self._len = 0

    clear = wipe

    def __len__(self) -> int:
        return self._len

    @property
    def wiped(self) -> bool:
        """True when no byte of the buffer holds PIN material."""
        return self._len == 0 and not any(self._buf)

    # -- the one door to the bytes ----------------------------------------
    @contextmanager
    def reveal(self) -> Iterator[memoryview]:
        """The PIN as ASCII bytes in a scratch slot of the arena, zeroed when the block ends."""
        scratch = ARENA.take()
        scratch[: self._len] = self._buf[: self._len]
        try:
            yield scratch[: self._len]
        finally:
            ARENA.give_back(scratch)

    def fits(self, rule: PinRule) -> bool:
        """True when every character is in the rule's set (length not checked)."""
        allowed = rule.charset.encode("ascii")
        return all(b in allowed for b in self._buf[: self._len])

    def has_letter_and_digit(self) -> bool:
        body = self._buf[: self._len]
        return any(0x30 <= b <= 0x39 for b in body) and any(0x41 <= b <= 0x5A for b in body)

    def matches(self, other: "Pin") -> bool:
        """Constant-time comparison (for "type the new PIN again")."""
        return hmac.compare_digest(self._buf[: self._len], other._buf[: other._len])

    # -- refusing to become text ------------------------------------------
    def mask(self) -> str:
        return MASK_CHAR * self._len

    def __repr__(self) -> str:
        return f"<Pin {self._len} chars hidden>"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pin) and self.matches(other)

    __hash__ = None  # type: ignore[assignment]  # a PIN is never a dict key

    def __reduce__(self):  # pickle, copy: refused
        raise TypeError("a Pin cannot be serialised")

    def __copy__(self):
        raise TypeError("a Pin cannot be copied")

    def __deepcopy__(self, memo):
        raise TypeError("a Pin cannot be copied")

    def __iter__(self):
        raise TypeError("a Pin cannot be iterated")

    def __bool__(self) -> bool:
        return self._len > 0

    def __del__(self) -> None:
        try:
            self._len = 0
            ARENA.give_back(self._buf)  # zeroes it
        except Exception:  # interpreter shutdown
            pass


#: Why an entry cannot be sent (never names a character).
ENTRY_PROBLEMS = ("empty", "too_short", "too_long", "bad_char", "needs_letter_and_digit")


def entry_problem(pin_type: PinType, pin: Pin, *, new_pin: bool = False) -> str | None:
    """Why ``pin`` may not be sent to the card for ``pin_type``, or None when it may.

    ``new_pin`` applies the stricter rule for a PIN being chosen on change.
    """
    rule = PIN_RULES[pin_type]
    n = len(pin)
    if n == 0:
        return "empty"
    if not pin.fits(rule):
        return "bad_char"
    if n < rule.min_len:
        return "too_short"
    if n > rule.max_len:
        return "too_long"
    if new_pin and rule.needs_letter_and_digit and not pin.has_letter_and_digit():
        return "needs_letter_and_digit"
    return None
