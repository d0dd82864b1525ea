"""The My Number card at the APDU level: applets, PIN files, commands, status words.

Theory of operation
-------------------
Everything the terminal knows about the card's command set lives here, as
data and pure functions (no I/O, no clock).  The driver (``drivers.card``)
strings them together: select the JPKI applet (that is how a My Number card
is recognised: contactless readers invent ATRs, so the ATR proves nothing),
select the applet and PIN file of the PIN in question, read the retry counter
with an *empty* VERIFY (it spends no try), and only then send the PIN.

Facts, checked against OpenSC ``card-jpki.c``/``jpki.h``/``pkcs15-jpki.c``
and jpki/myna:

========================  ==========================  ========  =====
PIN                       applet (AID)                PIN EF    tries
========================  ==========================  ========  =====
user_auth (利用者証明用)   JPKI D392F000260100000001   0018      3
signature (署名用)         JPKI D392F000260100000001   001B      5
resident_registry (住基)   D3921000310001010401        001C      3
card_info_input (券面補助) D3921000310001010408        0011      3
========================  ==========================  ========  =====

* SELECT by DF name ``00 A4 04 0C 0A <AID>``; SELECT EF ``00 A4 02 0C 02 <EF>``
  (P2 ``0C``: no FCI returned).  The MF is never selected.
* VERIFY ``00 20 00 80 Lc <PIN in ASCII>``.  The empty VERIFY ``00 20 00 80``
  answers ``63Cx`` (x tries left) without spending one; ``9000`` when the PIN
  is already verified in this card session (counter then full).
* A wrong PIN answers ``63Cx``; the try that uses the last one ``63C0``; a
  blocked PIN ``6984`` (``6983``, "authentication method blocked", alike).
* CHANGE REFERENCE DATA ``00 24 01 80 Lc <new PIN>`` after a good VERIFY
  (P1 ``01``: only the new value is sent).
* A power-down (disconnect with reset/unpower) drops the verified state.

Commands carrying a PIN are built into a ``bytearray`` the caller zeroes
(``wipe``) right after the transmit; ``describe_apdu`` never shows their body.
"""
from __future__ import annotations

from dataclasses import dataclass

from kiosk.pin import PIN_RULES, PinType

#: The ATR of the card; OpenSC's JPKI driver matches it.  Not used to detect the card.
ATR = bytes.fromhex("3BE000FF8131FE4514")

AID_JPKI = bytes.fromhex("D392F000260100000001")
AID_RESIDENT_REGISTRY = bytes.fromhex("D3921000310001010401")  # 住民基本台帳 (住基) applet
AID_CARD_INFO_INPUT = bytes.fromhex("D3921000310001010408")  # 券面事項入力補助 applet

# ISO 7816-4 instruction bytes
CLA = 0x00
INS_SELECT = 0xA4
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE_DATA = 0x24
P1_SELECT_DF_NAME = 0x04
P1_SELECT_EF = 0x02
P2_SELECT_NO_FCI = 0x0C
P2_VERIFY_SPECIFIC = 0x80  # reference data of the currently selected (specific) PIN EF
P1_CHANGE_NEW_ONLY = 0x01

# Status words
SW_OK = 0x9000
SW_BLOCKED = 0x6984  # reference data not usable: the PIN is blocked
SW_AUTH_BLOCKED = 0x6983  # authentication method blocked
SW_FILE_NOT_FOUND = 0x6A82
SW_WRONG_LENGTH = 0x6700
SW_SECURITY_NOT_SATISFIED = 0x6982
SW_CONDITIONS_NOT_SATISFIED = 0x6985
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_WRONG_P1P2 = 0x6B00
SW1_COUNTER = 0x63  # 63Cx: x tries left


def sw_counter(tries_left: int) -> int:
    """The status word ``63Cx`` for ``tries_left`` (0..15)."""
    if not 0 <= tries_left <= 15:
        raise ValueError("63Cx holds 0..15 tries")
    return 0x63C0 | tries_left


@dataclass(frozen=True)
class PinLocation:
    """Where a PIN lives on the card: the applet to select, then its PIN file."""

    aid: bytes
    ef: bytes
    max_tries: int


PIN_LOCATIONS: dict[PinType, PinLocation] = {
    PinType.USER_AUTH: PinLocation(AID_JPKI, bytes.fromhex("0018"), PIN_RULES[PinType.USER_AUTH].max_tries),
    PinType.SIGNATURE: PinLocation(AID_JPKI, bytes.fromhex("001B"), PIN_RULES[PinType.SIGNATURE].max_tries),
    PinType.RESIDENT_REGISTRY: PinLocation(
        AID_RESIDENT_REGISTRY, bytes.fromhex("001C"), PIN_RULES[PinType.RESIDENT_REGISTRY].max_tries),
    PinType.CARD_INFO_INPUT: PinLocation(
        AID_CARD_INFO_INPUT, bytes.fromhex("0011"), PIN_RULES[PinType.CARD_INFO_INPUT].max_tries),
}

# --------------------------------------------------------------------------
# Results


#: Every outcome a card operation can have.  The session maps each to a screen.
OUTCOMES = (
    "ok",            # verified / changed / counter read
    "wrong",         # wrong PIN, tries_left > 0 tries remain
    "locked",        # the PIN is blocked (or this wrong try blocked it: tries_left 0)
    "card_removed",  # the card went away during the command: the try may have been spent
    "no_card",       # no card in the reader
    "not_mynumber",  # a card that has no JPKI applet
    "no_reader",     # no reader (matching the configured pattern)
    "no_pcscd",      # the PC/SC daemon is not running
    "error",         # anything else (unexpected status word, reader fault)
)


@dataclass(frozen=True)
class CardResult:
    """The outcome of one card operation.  ``tries_left`` is None when unknown."""

    outcome: str
    tries_left: int | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown card outcome {self.outcome!r}")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


# --------------------------------------------------------------------------
# Building commands


def select_applet(aid: bytes) -> bytes:
    """SELECT by DF name, no FCI: ``00 A4 04 0C Lc AID``."""
    return bytes((CLA, INS_SELECT, P1_SELECT_DF_NAME, P2_SELECT_NO_FCI, len(aid))) + aid


def select_ef(ef: bytes) -> bytes:
    """SELECT EF by file identifier, no FCI: ``00 A4 02 0C 02 EF``."""
    return bytes((CLA, INS_SELECT, P1_SELECT_EF, P2_SELECT_NO_FCI, len(ef))) + ef


#: Empty VERIFY: reads the retry counter of the selected PIN EF without spending a try.
VERIFY_COUNTER = bytes((CLA, INS_VERIFY, 0x00, P2_VERIFY_SPECIFIC))


def _case3_with_secret(ins: int, p1: int, p2: int, secret: bytes | bytearray) -> bytearray:
    if not 1 <= len(secret) <= 255:
        raise ValueError("reference data must be 1..255 bytes")
    apdu = bytearray(5 + len(secret))
    apdu[0:5] = bytes((CLA, ins, p1, p2, len(secret)))
    apdu[5:] = secret
    return apdu


def verify(raw_pin: bytes | bytearray) -> bytearray:
    """VERIFY with the PIN: ``00 20 00 80 Lc PIN``.  The caller wipes the result."""
    return _case3_with_secret(INS_VERIFY, 0x00, P2_VERIFY_SPECIFIC, raw_pin)


def change_reference_data(raw_new_pin: bytes | bytearray) -> bytearray:
    """CHANGE REFERENCE DATA, new value only: ``00 24 01 80 Lc NEW``.  The caller wipes it."""
    return _case3_with_secret(INS_CHANGE_REFERENCE_DATA, P1_CHANGE_NEW_ONLY, P2_VERIFY_SPECIFIC, raw_new_pin)


def wipe(buf: bytearray | list) -> None:
    """Overwrite a command buffer (bytearray or pyscard's list of ints) with zeros."""
    for i in range(len(buf)):
        buf[i] = 0


def carries_secret(apdu: bytes | bytearray | list) -> bool:
    """True for VERIFY/CHANGE with a body: the ones whose bytes must never be shown."""
    return len(apdu) > 4 and apdu[1] in (INS_VERIFY, INS_CHANGE_REFERENCE_DATA)


def describe_apdu(apdu: bytes | bytearray | list) -> str:
    """A loggable description: the header only, and the body unless it carries a PIN."""
    header = bytes(apdu[:4]).hex(" ").upper()
    if len(apdu) <= 4:
        return header
    if carries_secret(apdu):
        return f"{header} Lc={apdu[4]} <{apdu[4]} bytes hidden>"
    return bytes(apdu[:5 + apdu[4]]).hex(" ").upper()


# --------------------------------------------------------------------------
# Parsing status words


def split_response(response: bytes | bytearray | list) -> tuple[bytes, int]:
    """``(data, SW)`` from a response APDU; a response shorter than 2 bytes is SW 0."""
    if len(response) < 2:
        return b"", 0
    return bytes(response[:-2]), (response[-2] << 8) | response[-1]


def is_counter(sw: int) -> bool:
    return (sw & 0xFFF0) == 0x63C0


def result_of_counter(sw: int, max_tries: int) -> CardResult:
    """The answer to the empty VERIFY: how many tries are left, without spending one."""
    if is_counter(sw):
        left = sw & 0x0F
        return CardResult("locked", 0) if left == 0 else CardResult("ok", left)
    if sw == SW_OK:  # already verified in this card session: the counter is full
        return CardResult("ok", max_tries)
    if sw in (SW_BLOCKED, SW_AUTH_BLOCKED):
        return CardResult("locked", 0)
    return CardResult("error")


def result_of_verify(sw: int, max_tries: int) -> CardResult:
    """The answer to VERIFY with a PIN.  ``63C0`` means this wrong try locked it."""
    if sw == SW_OK:
        return CardResult("ok", max_tries)
    if is_counter(sw):
        left = sw & 0x0F
        return CardResult("locked", 0) if left == 0 else CardResult("wrong", left)
    if sw in (SW_BLOCKED, SW_AUTH_BLOCKED):
        return CardResult("locked", 0)
    return CardResult("error")


def result_of_change(sw: int, max_tries: int) -> CardResult:
    """The answer to CHANGE REFERENCE DATA sent after a good VERIFY."""
    if sw == SW_OK:
        return CardResult("ok", max_tries)
    if sw in (SW_BLOCKED, SW_AUTH_BLOCKED):
        return CardResult("locked", 0)
    return CardResult("error")
