"""What the screen shows: the value the session hands to the UI.

The session (``kiosk.session``) decides; the UI (``kiosk.ui``) draws a
``View`` and nothing else.  A View never holds PIN material: only how many
characters were typed (``entered``), so the field can show that many dots.
Two equal Views draw the same pixels, which is what lets the UI redraw only
when the View changed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from kiosk.pin import PinType

#: Every screen the citizen, the technician or the clerk can see.
SCREENS = (
    "idle",              # waiting for staff; how to call for help
    "card_check",        # checking the card, reading tries left
    "no_card",           # no card in the reader / not a My Number card
    "entry",             # keypad for the PIN type (verify, or a step of change)
    "last_try_warning",  # before the last remaining try: explicit confirmation
    "verifying",         # the card is checking
    "result_ok",         # PIN correct (or PIN changed)
    "wrong_pin",         # wrong PIN, tries left, tap to try again
    "locked",            # PIN locked: what to do next
    "timed_out",         # inactivity ended the session
    "card_removed",      # card pulled during the session
    "card_removed_verifying",  # card pulled while it checked a PIN: a try may have been counted
    "session_ended",     # 画面を終了しました: everything of the session is gone
    "calibration",       # technician calibration targets
    "drift_check",       # technician drift-check targets
    "calibration_result",  # residual map, accept / retry
    "fault",             # device fault (no reader, touch absent, ...)
)

#: Steps of a PIN change, in order.
CHANGE_STEPS = ("current", "new", "confirm")


@dataclass(frozen=True)
class TargetsView:
    """Technician calibration or drift-check screen."""

    targets_px: tuple[tuple[int, int], ...]  # every target, in order
    current: int | None  # index of the target to touch now; None when reviewing
    phase: str  # "collect" | "validate" | "review"
    residuals_mm: tuple[float | None, ...] = ()  # per target, once measured
    rms_mm: float | None = None
    max_mm: float | None = None
    passed: bool | None = None
    message: str | None = None  # message code, e.g. "rejected_retry"


@dataclass(frozen=True)
class View:
    screen: str
    lang: str = "ja"
    pin_type: PinType | None = None
    action: str | None = None  # "verify" | "change"
    step: str | None = None  # one of CHANGE_STEPS during a change
    entered: int = 0  # characters typed so far (shown as dots)
    enter_enabled: bool = False
    tries_left: int | None = None
    max_tries: int | None = None
    problem: str | None = None  # entry problem or message code (kiosk.pin.ENTRY_PROBLEMS, "mismatch", ...)
    pressed_key: str | None = None  # key id highlighted under the finger
    fault: str | None = None  # device fault code on the fault screen
    seconds_left: int | None = None  # countdown shown near timeout, if any
    targets: TargetsView | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())  # rare extra labels, key/value

    def __post_init__(self) -> None:
        if self.screen not in SCREENS:
            raise ValueError(f"unknown screen {self.screen!r}")
