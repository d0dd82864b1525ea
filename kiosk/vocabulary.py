"""The terminal's one vocabulary: every result, reason, level and code, named once.

Why one module: the same words travel through the session, the console
protocol's whitelists, the audit trail's whitelists, the metrics labels and
the screens.  Written out in each of them they drift apart (``END_REASONS``
once did: the audit trail accepted reasons the session could not produce and
the other way round).  Here each word is a member of an enum; every other
module imports it.

The enums are ``StrEnum``: a member *is* its wire string (``PinResult.WRONG ==
"wrong"``, ``json.dumps`` writes ``"wrong"``, an f-string gives ``wrong``), so
frames, audit records and metrics files are byte-for-byte what they were
with plain strings.  Adding a word: add a member here; the whitelists that
list the enum (``kiosk.protocol``, ``kiosk.audit``, ``kiosk.metrics``) accept
it at once.
"""
from __future__ import annotations

import enum


class PinType(str, enum.Enum):
    """The four PINs of a My Number card, named as the console protocol names them.

    Their rules (characters, lengths, tries) are ``kiosk.pin.PIN_RULES``; their
    names on screen and console are ``kiosk.ui.strings`` ``name_<type>``.
    """

    USER_AUTH = "user_auth"  # 利用者証明用電子証明書
    SIGNATURE = "signature"  # 署名用電子証明書
    RESIDENT_REGISTRY = "resident_registry"  # 住民基本台帳用
    CARD_INFO_INPUT = "card_info_input"  # 券面事項入力補助用

    def __str__(self) -> str:  # so f-strings give "user_auth", not "PinType.USER_AUTH"
        return self.value


class Action(enum.StrEnum):
    """What an entry does with the PIN: check it, or change it (current, new, confirm)."""

    VERIFY = "verify"
    CHANGE = "change"


class CardOutcome(enum.StrEnum):
    """What the card (driver) answered: ``jpki.CardResult.outcome``."""

    OK = "ok"                            # verified / changed / counter read
    WRONG = "wrong"                      # wrong PIN, tries_left > 0 tries remain
    LOCKED = "locked"                    # the PIN is blocked (or this wrong try blocked it: tries_left 0)
    CARD_REMOVED = "card_removed"        # the card went away during the command: the try may have been spent
    CARD_CHANGED = "card_changed"        # another card than the session's answers: nothing was sent to it
    COUNTER_CHANGED = "counter_changed"  # the counter is not the one the citizen was shown: the PIN was not sent
    NO_CARD = "no_card"                  # no card in the reader
    TWO_CARDS = "two_cards"              # more than one matching reader holds a card: none is guessed
    NOT_MYNUMBER = "not_mynumber"        # a card that has no JPKI applet (SELECT answered 6A82)
    JUKI_CARD = "juki_card"              # an old 住民基本台帳カード (its JPKI token says so)
    SMARTPHONE = "smartphone"            # a smartphone's JPKI, not a card
    UNKNOWN_TOKEN = "unknown_token"      # a JPKI applet whose token is none of the known ones
    NO_APPLET = "no_applet"              # the PIN's applet or file is not on this card (6A82)
    NOT_A_CARD = "not_a_card"            # what answered does not speak ISO 7816-4 SELECT (6D00/6E00, no SW)
    CARD_ERROR = "card_error"            # the card answered SELECT with another error (6Fxx, 65xx, ...)
    NOT_SUPPORTED = "not_supported"      # the card refused an operation no public reference shows it offers
    NO_READER = "no_reader"              # no reader (matching the configured pattern)
    NO_PCSCD = "no_pcscd"                # the PC/SC daemon is not running
    ERROR = "error"                      # anything else (unexpected status word, reader fault)


class PinResult(enum.StrEnum):
    """``pin.result`` results: what the console, the audit trail and the metrics learn of an entry."""

    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    CARD_REMOVED = "card_removed"
    NO_CARD = "no_card"
    ERROR = "error"


class EndReason(enum.StrEnum):
    """Why a session ended (``session.ended``, audit ``session.end``).

    The audit trail once also accepted ``link_lost`` and ``error``; nothing has
    ever produced them (a lost link does not end a session: it is a state), so
    they are gone.  A trail written with them fails ``verify`` loudly, which is
    right: no such record was written by this terminal.
    """

    LOGOUT = "logout"
    CANCEL = "cancel"
    TIMEOUT = "timeout"
    CARD_REMOVED = "card_removed"
    SHUTDOWN = "shutdown"


class DriftLevel(enum.StrEnum):
    """How far the touch panel has drifted (``calibration.drift``)."""

    OK = "ok"
    WARN = "warn"
    ALERT = "alert"


class DeviceFault(enum.StrEnum):
    """A device the terminal cannot work without is missing: the idle screen says which (``fault_*``)."""

    TOUCH_ABSENT = "touch_absent"
    NO_READER = "no_reader"
    CARD_ERROR = "card_error"


class AlertCode(enum.StrEnum):
    """``alert`` frame codes (and audit ``alert`` records).

    A card outcome the clerk must be told in words is also an alert, with the
    outcome as its code (``kiosk.session.CARD_ALERTS``).
    """

    NOT_NOW = "not_now"                          # a command the session does not take in this state
    BAD_COMMAND = "bad_command"                  # a command that does not fit the protocol
    BUSY = "busy"                                # technician refused: a session or procedure runs
    CHANGE_NOT_SUPPORTED = "change_not_supported"  # no public reference shows this PIN can be changed
    TOUCH_ABSENT = "touch_absent"
    TOUCH_AXIS_MISMATCH = "touch_axis_mismatch"  # positions off the panel's declared axes
    READER_ABSENT = "reader_absent"
    PCSCD_DOWN = "pcscd_down"
    DRIFT_WARN = "drift_warn"
    DRIFT_ALERT = "drift_alert"
    JOURNAL_OVERFLOW = "journal_overflow"        # frames lost from the outgoing journal
    AUDIT_UNSEALED = "audit_unsealed"            # the audit trail's seal cannot be opened
    AUDIT_TRAIL_SHORT = "audit_trail_short"      # the trail no longer reaches the last seal
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"    # a whole audit line does not verify (edited, deleted): not a power cut
    STATE_FILE_UNUSABLE = "state_file_unusable"  # a state file was set aside (kiosk.state_files.STATE_FILE_ALERT)
    CALIBRATION_MISSING = "calibration_missing"  # none installed: the built-in matrix is used
    CALIBRATION_CORRUPT = "calibration_corrupt"  # the active file could not be read (a history entry is used)
    CALIBRATION_MISMATCH = "calibration_mismatch"  # installed for another panel or screen


class TechnicianOutcome(enum.StrEnum):
    """How a calibration ended (audit ``calibration`` outcome)."""

    ACCEPTED = "accepted"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


class TechnicianKind(enum.StrEnum):
    """The two technician procedures (console commands and ``calibration.result`` kind)."""

    CALIBRATE = "calibrate"
    DRIFT_CHECK = "drift_check"


def values(enum_type: type[enum.Enum]) -> tuple[str, ...]:
    """The wire strings of an enum, in declaration order (for whitelists and metric labels)."""
    return tuple(m.value for m in enum_type)
