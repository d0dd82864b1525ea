"""The My Number card at the APDU level: applets, files, commands, status words.

Theory of operation
-------------------
Everything the terminal knows about the card's command set lives here, as
data and pure functions (no I/O, no clock).  The driver (``drivers.card``)
strings them together: select the JPKI applet and read its token (that is how
a My Number card is recognised, and told from an old 住基カード or a
smartphone's JPKI: contactless readers invent ATRs, so the ATR proves
nothing), read the user-authentication certificate (no PIN needed: the
card's identity and the certificate's end date), locate the 住基 applet by
probing, select the applet and PIN file of the PIN in question, read the
retry counter with an *empty* VERIFY (it spends no try), and only then send
the PIN.

Every fact below names its public source; where sources disagree the
terminal asks the card (the 住基 applet) and says what it found.

========================  ==========================  ========  =====
PIN                       applet (AID)                PIN EF    tries
========================  ==========================  ========  =====
user_auth (利用者証明用)   JPKI D392F000260100000001   0018      3
signature (署名用)         JPKI D392F000260100000001   001B      5
resident_registry (住基)   probed, see below           001C      3
card_info_input (券面補助) D3921000310001010408        0011      3
========================  ==========================  ========  =====

Sources: OpenSC ``src/libopensc/jpki.h`` (AID_JPKI, JPKI_AUTH_PIN 0018 with 3
tries, JPKI_SIGN_PIN 001B with 5); jpki/myna ``src/jpki.rs`` (the same, and
the token EF 0006, auth certificate EF 000A read without a PIN) and
``src/text.rs`` (券面事項入力補助 AP D3921000310001010408, PIN EF 0011);
TRETJapanNFCReader ``Sources/MIFARE/IndividualNumber/`` (the same four AIDs
and PIN EFs, counters read with an empty VERIFY).

* SELECT by DF name ``00 A4 04 0C 0A <AID>``; SELECT EF ``00 A4 02 0C 02 <EF>``
  (P2 ``0C``: no FCI returned; OpenSC, jpki/myna and TRET all send these).
* READ BINARY ``00 B0 <offset> <Le>`` (jpki/myna ``reader.rs read_binary``).
* VERIFY ``00 20 00 80 Lc <PIN in ASCII>``.  The empty VERIFY ``00 20 00 80``
  answers ``63Cx`` (x tries left) without spending one, *also right after a
  good VERIFY*: OpenSC PR #959 (HAMANO Tsukasa, the JPKI driver's author):
  "JPKI card always return tries_left when calling 00 20 00 80", which is
  why OpenSC keeps the login state itself.  ``9000`` is still read as "full".
* A wrong PIN answers ``63Cx``; the try that uses the last one ``63C0``; a
  blocked PIN ``63C0`` too (OpenSC's GET_INFO and jpki/myna's ``read_pin``
  accept only ``63xx`` and read ``x`` as the count; OpenSC's
  ``pkcs15-tool --list-pins`` shows "Tries left: 0").  ``6983``/``6984``
  (ISO 7816-4 "blocked") are still read as locked, should a card send them.
* CHANGE REFERENCE DATA ``00 24 01 80 Lc <new PIN>`` after a good VERIFY
  (P1 ``01``: only the new value is sent), offered only for the PINs a public
  tool changes (``CHANGE_SUPPORTED``).
* A power-down (disconnect with reset/unpower) drops the verified state.
  What a re-SELECT of the applet does is not documented: OpenSC's
  ``jpki_logout`` is a re-SELECT of the JPKI AP (commit 4ea26f1a), i.e. it
  assumes re-SELECT drops it.  The terminal relies on neither: it verifies
  and changes on one link without re-selecting in between, and never treats
  a PIN as verified across links.

Commands carrying a PIN are built into a ``bytearray`` the caller zeroes
(``wipe``) right after the transmit; ``describe_apdu`` never shows their body.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from kiosk.pin import PIN_RULES, PinType
from kiosk.vocabulary import CardOutcome, values

#: The ATR of the card; OpenSC's JPKI driver matches it.  Not used to detect the card.
ATR = bytes.fromhex("3BE000FF8131FE4514")

AID_JPKI = bytes.fromhex("D392F000260100000001")  # OpenSC jpki.h AID_JPKI; jpki/myna jpki.rs JPKI_AID
# 券面事項入力補助 AP: jpki/myna text.rs TEXT_AID; TRET cardInfoInputSupportAP
AID_CARD_INFO_INPUT = bytes.fromhex("D3921000310001010408")

#: Where the 住民基本台帳 (住基) PIN may live, in the order they are probed.  No source is
#: authoritative, and OpenSC and current jpki/myna have no 住基 applet at all:
#: * D3921000310001010100: TRETJapanNFCReader ``IndividualNumberReaderCommands.swift``
#:   ``individualNumberAP``, whose EF 001C it reads as the PIN "個人番号カード用（住民基本台帳
#:   事務用）" (``IndividualNumberCardPINType.swift``); jpki/myna 2017 ``tool.go`` probes 001C
#:   here too ("謎" AP) and today calls it ``UNKNOWN_AID`` (``src/unknown.rs``).
#: * D3921000310001010401: jpki/myna 2017 ``libmyna/common.go`` reads 001C here as "住基?";
#:   the AID this terminal first shipped with.
#: The probe (``drivers.card.base``) takes the first that selects and whose PIN EF answers
#: the empty VERIFY with 63Cx; ``[card] resident_registry_aid`` overrides it.
RESIDENT_REGISTRY_AID_CANDIDATES = (bytes.fromhex("D3921000310001010100"),
                                    bytes.fromhex("D3921000310001010401"))
AID_RESIDENT_REGISTRY = RESIDENT_REGISTRY_AID_CANDIDATES[0]  # the first guess, before a probe

EF_TOKEN = bytes.fromhex("0006")      # jpki/myna jpki.rs jpki_ap(): READ BINARY 0x20 bytes
EF_AUTH_CERT = bytes.fromhex("000A")  # OpenSC pkcs15-jpki.c "User Authentication Certificate", not private
TOKEN_LENGTH = 0x20

#: The JPKI token (EF 0006, NUL/space padded) -> what holds the applet.  jpki/myna
#: ``_go/libmyna/api.go`` CheckCard (2017..2026): JPKIAPICCTOKEN2 is the My Number card,
#: JPKIAPICCTOKEN "これは住基カードですね?" (the old 住基カード's JPKI), JPKIAPGPSETOKEN the
#: smartphone's JPKI (``src/jpki.rs`` today: its auth certificate needs the PIN).
TOKENS = {"JPKIAPICCTOKEN2": "mynumber_card", "JPKIAPICCTOKEN": "juki_card",
          "JPKIAPGPSETOKEN": "smartphone"}

#: The PINs a public tool changes with CHANGE REFERENCE DATA: jpki/myna ``src/cli.rs``
#: ``pin change card|auth|sign`` (and ``_go/libmyna/api.go`` ChangeCardInputHelperPin,
#: ChangeJPKIAuthPin, ChangeJPKISignPin).  No public tool changes the 住基 PIN.
CHANGE_SUPPORTED = frozenset({PinType.USER_AUTH, PinType.SIGNATURE, PinType.CARD_INFO_INPUT})

# ISO 7816-4 instruction bytes
CLA = 0x00
INS_SELECT = 0xA4
INS_VERIFY = 0x20
INS_CHANGE_REFERENCE_DATA = 0x24
INS_READ_BINARY = 0xB0
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
SW_WRONG_P1P2_PARAMS = 0x6A86
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


def pin_location(pin_type: PinType, resident_registry_aid: bytes | None = None) -> PinLocation:
    """Where ``pin_type`` lives; the 住基 PIN under ``resident_registry_aid`` when it was located."""
    loc = PIN_LOCATIONS[PinType(pin_type)]
    if pin_type == PinType.RESIDENT_REGISTRY and resident_registry_aid is not None:
        return PinLocation(resident_registry_aid, loc.ef, loc.max_tries)
    return loc


def parse_aid(text: str) -> bytes:
    """An AID from hex (spaces allowed), 5..16 bytes (ISO 7816-4); ValueError otherwise."""
    try:
        aid = bytes.fromhex(text.replace(" ", ""))
    except ValueError:
        raise ValueError(f"not hex: {text!r}") from None
    if not 5 <= len(aid) <= 16:
        raise ValueError(f"an AID is 5..16 bytes, got {len(aid)}")
    return aid


# --------------------------------------------------------------------------
# Results


#: Every outcome a card operation can have.  The session maps each to a screen.
OUTCOMES = values(CardOutcome)  # what each means: kiosk.vocabulary.CardOutcome


@dataclass(frozen=True)
class CardIdentity:
    """Which card a session is bound to: its reader and the hash of its auth certificate.

    The certificate is public and needs no PIN; only its SHA-256 is kept, and the
    repr shows neither hash nor certificate.
    """

    reader: str
    cert_sha256: bytes = field(repr=False)
    #: where this card's 住基 PIN was found (None: not looked for, or configured)
    resident_registry_aid: bytes | None = None

    def same_card(self, cert_der: bytes) -> bool:
        return hashlib.sha256(cert_der).digest() == self.cert_sha256


@dataclass(frozen=True)
class CardResult:
    """The outcome of one card operation.  ``tries_left`` is None when unknown.

    An ``identify`` result also carries the card's ``identity``, the auth certificate's
    ``valid_until`` date, and the 住基 applet found (``resident_registry_aid``).
    """

    outcome: str
    tries_left: int | None = None
    identity: CardIdentity | None = None
    valid_until: date | None = None
    resident_registry_aid: bytes | None = None

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


def read_binary(offset: int, length: int) -> bytes:
    """READ BINARY of the selected EF: ``00 B0 P1P2=offset Le`` (1..256 bytes; Le 00 = 256)."""
    if not 0 <= offset <= 0x7FFF or not 1 <= length <= 256:
        raise ValueError("READ BINARY: offset 0..32767, length 1..256")
    return bytes((CLA, INS_READ_BINARY, offset >> 8, offset & 0xFF, length & 0xFF))


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


def select_outcome(sw: int, *, jpki_applet: bool = False) -> str | None:
    """Why a SELECT failed, or None when it worked (``9000``).

    ``6A82`` "file or application not found": for the JPKI applet this is a card that is
    not a My Number card; for another applet or an EF, that applet is not on this card.
    ``6D00``/``6E00`` (instruction or class unknown) or no status word at all: what answered
    does not speak ISO 7816-4.  Anything else: the card is in trouble (``card_error``).
    """
    if sw == SW_OK:
        return None
    if sw == SW_FILE_NOT_FOUND:
        return "not_mynumber" if jpki_applet else "no_applet"
    if sw in (SW_INS_NOT_SUPPORTED, SW_CLA_NOT_SUPPORTED, 0):
        return "not_a_card"
    return "card_error"


def token_kind(data: bytes) -> str:
    """What the JPKI token (EF 0006) says holds the applet: a ``TOKENS`` value or ``unknown_token``."""
    text = bytes(data).rstrip(b"\x00 ").decode("ascii", errors="replace")
    return TOKENS.get(text, "unknown_token")


# --------------------------------------------------------------------------
# The auth certificate: only its length, its hash and its end date are ever used


def der_total_length(head: bytes) -> int | None:
    """The length of the DER element that starts ``head`` (tag + length + value), or None.

    ``head`` needs the tag and the length octets (at most 6 bytes for a certificate).
    """
    if len(head) < 2 or head[0] != 0x30:
        return None
    first = head[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if not 1 <= n <= 3 or len(head) < 2 + n:
        return None
    return 2 + n + int.from_bytes(head[2:2 + n], "big")


def _der_element(buf: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, start of value, end of value)`` of the DER element at ``pos``; ValueError if cut."""
    if pos + 2 > len(buf):
        raise ValueError("truncated DER")
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if not 1 <= n <= 3 or pos + n > len(buf):
            raise ValueError("bad DER length")
        length = int.from_bytes(buf[pos:pos + n], "big")
        pos += n
    if pos + length > len(buf):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def certificate_not_after(der: bytes) -> date:
    """The notAfter date of an X.509 certificate (RFC 5280 4.1.2.5); ValueError when it is not one.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    serialNumber, signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... } ... }.
    Nothing else of the certificate is read.
    """
    tag, start, _end = _der_element(der, 0)
    if tag != 0x30:
        raise ValueError("not a certificate")
    tag, pos, tbs_end = _der_element(der, start)
    if tag != 0x30:
        raise ValueError("no tbsCertificate")
    if der[pos] == 0xA0:  # version
        pos = _der_element(der, pos)[2]
    for _ in range(3):  # serialNumber, signature, issuer
        pos = _der_element(der, pos)[2]
    tag, vpos, _vend = _der_element(der, pos)
    if tag != 0x30:
        raise ValueError("no validity")
    not_before_end = _der_element(der, vpos)[2]
    tag, tpos, tend = _der_element(der, not_before_end)
    text = der[tpos:tend].decode("ascii")
    if tag == 0x17 and len(text) >= 6:  # UTCTime YYMMDD...: 50..99 -> 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
        return date(year, int(text[2:4]), int(text[4:6]))
    if tag == 0x18 and len(text) >= 8:  # GeneralizedTime YYYYMMDD...
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    raise ValueError("notAfter is not a time")
