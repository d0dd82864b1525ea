"""The citizen session: every state, transition and timeout, in one place.

Theory of operation
-------------------
A *session* is one citizen's time at the terminal.  Staff open it with
``begin`` from the console (touching the screen never starts anything); it
holds one or more *entries* (one PIN typed and checked, or changed).  It ends
in exactly four ways: staff ``logout``, ``cancel`` (staff, or the citizen's
中止 key), inactivity, or the card leaving the reader.  Ending wipes every
Pin, forgets the PIN type, tries left and operator, shows the citizen a
confirmation screen, and tells the console ``session.ended {cleared: true}``.
Nothing of a session survives into the next: the next one starts from a new
``_Entry`` and a new session id.

``Session`` is pure: it takes events with the time as an argument and returns
``Effect`` values (card operations to run, frames for the console, audit
records).  It does no I/O and reads no clock.  The app loop runs the effects
and feeds results back in.  The UI draws ``view()`` and never decides.

The table ``TRANSITIONS`` lists, for each state, the events it accepts and the
handler that decides the next state.  An event a state does not accept is
ignored (and answered with an ``alert`` when staff sent it), so no sequence of
events can reach a handler in a state it was not written for.

PIN handling: the Pins of an entry are created here, lent (not copied) to the
card worker inside a ``CardOp``, and wiped here as soon as the card answered,
the entry was abandoned, or the session ended.  The session never wipes a Pin
that a card operation still holds: while ``verifying``, a logout or cancel is
remembered and carried out when the card answers.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Callable

from kiosk.jpki import CHANGE_SUPPORTED, CardIdentity
from kiosk.pin import PIN_RULES, Pin, PinError, PinType, entry_problem
from kiosk.view import View
from kiosk.vocabulary import AlertCode, CardOutcome as O, DeviceFault, EndReason, PinResult as R

# --- states -----------------------------------------------------------------
IDLE = "idle"                  # no session
CARD_CHECK = "card_check"      # reading tries left (no try spent)
WARNING = "last_try_warning"   # one try left: explicit confirmation before typing
ENTRY = "entry"                # keypad shown
VERIFYING = "verifying"        # the card is checking
RESULT = "result"              # an outcome shown; waiting for the citizen or staff
ENDED = "ended"                # the citizen sees that the session ended
TECHNICIAN = "technician"      # calibration or drift check owns the screen

#: Card outcomes (drivers) -> ``pin.result`` results.  ``card_changed`` (another card
#: answers than the session's) ends the session as ``card_removed``.
_OUTCOME_TO_RESULT = {
    O.OK: R.OK, O.WRONG: R.WRONG, O.LOCKED: R.LOCKED, O.CARD_REMOVED: R.CARD_REMOVED,
    O.CARD_CHANGED: R.CARD_REMOVED,
    O.NO_CARD: R.NO_CARD, O.NOT_MYNUMBER: R.NO_CARD, O.JUKI_CARD: R.NO_CARD, O.SMARTPHONE: R.NO_CARD,
    O.UNKNOWN_TOKEN: R.NO_CARD, O.NO_APPLET: R.NO_CARD, O.NOT_A_CARD: R.NO_CARD,
    O.TWO_CARDS: R.ERROR, O.CARD_ERROR: R.ERROR, O.NOT_SUPPORTED: R.ERROR,
    O.NO_READER: R.ERROR, O.NO_PCSCD: R.ERROR, O.ERROR: R.ERROR,
}

#: Card outcomes that are device faults -> the fault screen's code (kiosk.ui.strings ``fault_*``).
_OUTCOME_TO_FAULT = {O.NO_READER: DeviceFault.NO_READER, O.NO_PCSCD: DeviceFault.NO_READER,
                     O.ERROR: DeviceFault.CARD_ERROR, O.CARD_ERROR: DeviceFault.CARD_ERROR,
                     O.TWO_CARDS: DeviceFault.CARD_ERROR, O.NOT_SUPPORTED: DeviceFault.CARD_ERROR}

#: Card outcomes the clerk must be told in words (alert code = the outcome), and the words.
CARD_ALERTS = {
    O.TWO_CARDS: "二つのリーダーにカードがあります: 市民のカードだけを残してください (two readers hold a card)",
    O.JUKI_CARD: "住基カードです: マイナンバーカードではありません (an old 住基カード, not a My Number card)",
    O.SMARTPHONE: "スマートフォンのJPKIです: カードではありません (a smartphone's JPKI, not a card)",
    O.UNKNOWN_TOKEN: "JPKIのトークンが不明です (unknown JPKI token)",
    O.NOT_MYNUMBER: "マイナンバーカードではありません (no JPKI applet)",
    O.NOT_A_CARD: "カードとして応答しません (does not answer as a smart card)",
    O.NO_APPLET: "この暗証番号のアプリがカードにありません (no applet for this PIN)",
    O.CARD_ERROR: "カードがエラーを返しました (the card answered with an error)",
    O.CARD_CHANGED: "別のカードに替わりました: セッションを終了しました (another card: session ended)",
}

#: Result screen for each ``pin.result`` result shown in RESULT.
_RESULT_SCREEN = {R.OK: "result_ok", R.WRONG: "wrong_pin", R.LOCKED: "locked",
                  R.NO_CARD: "no_card", R.ERROR: "fault"}

#: Screen shown after a session ends, by reason.
_ENDED_SCREEN = {EndReason.LOGOUT: "session_ended", EndReason.CANCEL: "session_ended",
                 EndReason.SHUTDOWN: "session_ended", EndReason.TIMEOUT: "timed_out",
                 EndReason.CARD_REMOVED: "card_removed"}

#: The result of an entry that never reached the card, by why the session ended.
_ABANDONED_RESULT = {EndReason.CANCEL: R.CANCELLED, EndReason.LOGOUT: R.CANCELLED,
                     EndReason.TIMEOUT: R.TIMEOUT, EndReason.CARD_REMOVED: R.CARD_REMOVED,
                     EndReason.SHUTDOWN: R.CANCELLED}

COUNTDOWN_FROM_S = 10  # show the seconds left this long before an inactivity timeout


# --- effects ----------------------------------------------------------------
@dataclass(frozen=True)
class CardOp:
    """Run ``op`` ("tries_left" | "verify" | "change") on the card; answer with card_result."""

    request_id: int
    op: str  # "identify" | "tries_left" | "verify" | "change"
    pin_type: PinType
    pins: tuple[Pin, ...] = ()  # lent, not copied: do not wipe, the session does
    #: the session's card (from ``identify``): the operation reaches that card only
    identity: CardIdentity | None = None
    #: the count the citizen was shown: the PIN goes out only while the card still says so
    shown_tries: int | None = None


@dataclass(frozen=True)
class ToConsole:
    type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class ToAudit:
    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class SessionClosed:
    """The session ended: the app closes anything it keeps per session (drift sums)."""

    reason: str
    wrong_pin: bool


Effect = CardOp | ToConsole | ToAudit | SessionClosed


# --- per-entry data: everything here is wiped with the session -------------
@dataclass
class _Entry:
    pin_type: PinType
    action: str  # "verify" | "change"
    operator: str | None
    step: str = "current"  # change: current -> new -> confirm
    tries_left: int | None = None
    pins: dict[str, Pin] = field(default_factory=dict)  # step -> Pin
    problem: str | None = None
    result: str | None = None
    fault: str | None = None  # device fault behind an "error" result
    request_id: int | None = None

    @property
    def typing(self) -> Pin:
        return self.pins.setdefault(self.step, Pin())

    def wipe(self) -> None:
        for pin in self.pins.values():
            pin.wipe()
        self.pins.clear()


class Session:
    """The citizen session state machine.  Methods take ``now_s`` and return effects."""

    def __init__(self, *, inactivity_timeout_s: float = 60.0, ended_screen_s: float = 5.0,
                 language: str = "ja") -> None:
        self.inactivity_timeout_s = inactivity_timeout_s
        self.ended_screen_s = ended_screen_s
        self.default_language = language
        self.state = IDLE
        self.lang = language
        self.session_id: str | None = None
        self.entry: _Entry | None = None
        self.last_activity_s = 0.0
        self.ended_at_s: float | None = None
        self.ended_reason: str | None = None
        self.pending_end: str | None = None  # end requested while the card is busy
        self.pressed_key: str | None = None
        #: a device the terminal cannot work without is missing ("touch_absent", "no_reader")
        self.device_fault: str | None = None
        self.now_s = 0.0
        self._next_request = 1
        #: the card this session is bound to (``identify`` at begin); None before and after
        self.card_identity: CardIdentity | None = None
        #: the card left during a VERIFY: the ended screen says a try may have been counted
        self.removed_while_verifying = False
        #: after such a removal, the counter to read at the next insertion, for the clerk:
        #: (PIN type, the card it was).  Outlives the session on purpose; holds no PIN.
        self.recount: tuple[PinType, CardIdentity | None] | None = None
        self._recount_request: int | None = None

    # ------------------------------------------------------------------ events
    def begin(self, now_s: float, pin_type: PinType, action: str = "verify",
              operator: str | None = None) -> list[Effect]:
        return self._dispatch("begin", now_s, pin_type=pin_type, action=action, operator=operator)

    def cancel(self, now_s: float, by: str = "staff") -> list[Effect]:
        return self._dispatch("cancel", now_s, by=by)

    def logout(self, now_s: float) -> list[Effect]:
        return self._dispatch("logout", now_s)

    def key(self, now_s: float, key_id: str) -> list[Effect]:
        """A key or button committed on the touchscreen (id, never logged)."""
        self.pressed_key = None
        return self._dispatch("key", now_s, key_id=key_id)

    def touch(self, now_s: float, pressed_key: str | None = None) -> list[Effect]:
        """Finger activity: keeps the session alive and highlights the pressed key."""
        self.pressed_key = pressed_key
        if self.state not in (IDLE, ENDED, TECHNICIAN):
            self.last_activity_s = now_s
        return []

    def card_result(self, now_s: float, request_id: int, outcome: str,
                    tries_left: int | None, identity: CardIdentity | None = None,
                    valid_until: Any = None, resident_registry_aid: bytes | None = None) -> list[Effect]:
        """A card answer; ``identify`` answers also bind the session to ``identity``."""
        if request_id is not None and request_id == self._recount_request:
            return self._on_recounted(outcome, tries_left)  # not a session's: answered in any state
        return self._dispatch("card_result", now_s, request_id=request_id, outcome=outcome,
                              tries_left=tries_left, identity=identity, valid_until=valid_until,
                              resident_registry_aid=resident_registry_aid)

    def card_removed(self, now_s: float) -> list[Effect]:
        return self._dispatch("card_removed", now_s)

    def card_inserted(self, now_s: float) -> list[Effect]:
        """A card came into a reader: after a card pulled mid-VERIFY, read its counter for the clerk."""
        return self._dispatch("card_inserted", now_s)

    def technician(self, now_s: float, active: bool) -> list[Effect]:
        """Calibration or drift check takes the screen (active) or gives it back."""
        return self._dispatch("technician", now_s, active=active)

    def tick(self, now_s: float) -> list[Effect]:
        return self._dispatch("tick", now_s)

    def devices(self, fault: str | None) -> None:
        """The app's view of its devices: the idle screen shows a fault instead of waiting."""
        self.device_fault = fault

    def shutdown(self, now_s: float) -> list[Effect]:
        """The process is stopping (SIGTERM): end any session now, in every state.

        Call it after the card worker has stopped, so no Pin is still lent.
        """
        self.now_s = now_s
        if self.state in (IDLE, ENDED, TECHNICIAN):
            self._reset_session()
            return []
        if self.entry is not None and self.entry.result is None:
            return self._abandon("shutdown")
        return self._end("shutdown")

    # ----------------------------------------------------------------- table
    def _dispatch(self, event: str, now_s: float, **kw: Any) -> list[Effect]:
        self.now_s = now_s
        handler = TRANSITIONS[self.state].get(event)
        if handler is None:
            if event in ("begin", "cancel", "logout"):
                return [self._alert(AlertCode.NOT_NOW, f"{event} ignored while {self.state}")]
            return []
        return handler(self, now_s, **kw)

    # -------------------------------------------------------------- handlers
    def _on_begin(self, now_s: float, pin_type: PinType, action: str, operator: str | None) -> list[Effect]:
        if action not in ("verify", "change"):
            return [self._alert(AlertCode.BAD_COMMAND, f"unknown action {action!r}")]
        if action == "change" and PinType(pin_type) not in CHANGE_SUPPORTED:
            # before anything is typed: no public reference shows this PIN can be changed
            return [self._alert(AlertCode.CHANGE_NOT_SUPPORTED,
                                f"{PinType(pin_type).value}: 暗証番号の変更はこの端末ではできません "
                                "(changing this PIN is not supported)")]
        fx: list[Effect] = []
        if self.state in (IDLE, ENDED):
            self._reset_session()
            self.session_id = secrets.token_hex(6)
            self.lang = self.default_language
            started = {"pin_type": PinType(pin_type).value, "action": action}
            if operator:
                started["operator"] = operator
            fx.append(ToConsole("session.started", started))
            fx.append(ToAudit("session.start", {"session": self.session_id, **started}))
        elif self.entry is not None:
            self.entry.wipe()
        self.entry = _Entry(PinType(pin_type), action, operator)
        self.last_activity_s = now_s
        # a new session identifies its card; a later entry of it stays on that card
        return fx + self._ask_card("tries_left" if self.card_identity is not None else "identify", ())

    def _answered(self, now_s: float, request_id: int) -> _Entry | None:
        """The entry a card answer belongs to; None for a stale answer (an older request)."""
        e = self.entry
        if e is None or request_id != e.request_id:
            return None
        e.request_id = None
        self.last_activity_s = now_s
        return e

    def _on_card_checked(self, now_s: float, request_id: int, outcome: str,
                         tries_left: int | None, identity: CardIdentity | None = None,
                         valid_until: Any = None, resident_registry_aid: bytes | None = None) -> list[Effect]:
        e = self._answered(now_s, request_id)
        if e is None:
            return []
        fx: list[Effect] = [self._alert(outcome, CARD_ALERTS[outcome])] if outcome in CARD_ALERTS else []
        if outcome in ("card_removed", "card_changed"):
            return fx + self._finish_entry("card_removed", None) + self._end("card_removed")
        if identity is not None and self.card_identity is None:
            self.card_identity = identity
            identified = {"session": self.session_id, "reader": identity.reader}
            if resident_registry_aid is not None:
                identified["resident_registry_aid"] = resident_registry_aid.hex().upper()
            fx.append(ToAudit("card.identified", identified))
        if outcome == "ok" and tries_left == 0:
            outcome = "locked"
        result = _OUTCOME_TO_RESULT.get(outcome, "error")
        e.fault = _OUTCOME_TO_FAULT.get(outcome)
        if result != "ok":
            return fx + self._finish_entry(result, tries_left)
        started: dict[str, Any] = {"pin_type": e.pin_type.value, "action": e.action, "tries_left": tries_left}
        if valid_until is not None:  # the only fact of the certificate that leaves the card path
            started["cert_valid_until"] = valid_until.isoformat()
        return fx + self._enter(e, tries_left, started)

    def _enter(self, e: _Entry, tries_left: int | None, started: dict[str, Any]) -> list[Effect]:
        """Show the keypad (or the last-try warning) for a counter the card just read."""
        e.tries_left = tries_left
        self.state = WARNING if tries_left == 1 else ENTRY
        return [ToConsole("entry.started", started)]

    def _on_key_warning(self, now_s: float, key_id: str) -> list[Effect]:
        self.last_activity_s = now_s
        if key_id == "continue":
            self.state = ENTRY
        elif key_id == "cancel":
            return self._abandon("cancel")
        elif key_id == "lang":
            self._toggle_lang()
        return []

    def _on_key_entry(self, now_s: float, key_id: str) -> list[Effect]:
        e = self.entry
        assert e is not None
        self.last_activity_s = now_s
        rule = PIN_RULES[e.pin_type]
        pin = e.typing
        if key_id == "cancel":
            return self._abandon("cancel")
        if key_id == "lang":
            self._toggle_lang()
        elif key_id == "backspace":
            pin.backspace()
            e.problem = None
        elif key_id == "clear":
            pin.wipe()
            e.problem = None
        elif key_id == "enter":
            return self._on_enter(e)
        elif len(key_id) == 1 and key_id in rule.charset and len(pin) < rule.max_len:
            try:
                pin.append(key_id)
            except PinError:
                pass
            e.problem = None
        return []

    def _on_enter(self, e: _Entry) -> list[Effect]:
        new_pin = e.action == "change" and e.step in ("new", "confirm")
        problem = entry_problem(e.pin_type, e.typing, new_pin=new_pin)
        if problem is not None:  # Enter is drawn disabled; a press still sends nothing
            e.problem = problem
            return []
        if e.action == "verify":
            return self._ask_card("verify", (e.pins["current"],), shown_tries=e.tries_left)
        if e.step == "current":
            e.step = "new"
            return []
        if e.step == "new":
            e.step = "confirm"
            return []
        if not e.pins["new"].matches(e.pins["confirm"]):
            for step in ("new", "confirm"):
                e.pins.pop(step).wipe()
            e.step, e.problem = "new", "mismatch"
            return []
        return self._ask_card("change", (e.pins["current"], e.pins["new"]), shown_tries=e.tries_left)

    def _on_card_verified(self, now_s: float, request_id: int, outcome: str,
                          tries_left: int | None, **_identify: Any) -> list[Effect]:
        e = self._answered(now_s, request_id)
        if e is None:
            return []
        e.wipe()  # the card has answered: the PIN is needed no more
        if outcome == "counter_changed" and not self.pending_end and tries_left:
            # the card's count is not the one the citizen saw: nothing was sent; back to the
            # citizen with the new count (and the last-try warning when it is 1)
            e.step, e.problem = "current", None
            return self._enter(e, tries_left, {"pin_type": e.pin_type.value, "action": e.action,
                                               "tries_left": tries_left})
        if outcome == "counter_changed":
            outcome = "locked" if tries_left == 0 else "error"
        if outcome == "card_removed":
            self.removed_while_verifying = True  # the try may have been counted
        alert = [self._alert(outcome, CARD_ALERTS[outcome])] if outcome in CARD_ALERTS else []
        if outcome == "wrong" and tries_left == 0:
            outcome = "locked"
        result = _OUTCOME_TO_RESULT.get(outcome, "error")
        e.fault = _OUTCOME_TO_FAULT.get(outcome)
        if result == "ok" and tries_left is None:
            tries_left = PIN_RULES[e.pin_type].max_tries
        fx = alert + self._finish_entry(result, tries_left)
        if result == "card_removed":
            return fx + self._end("card_removed")
        if self.pending_end:
            return fx + self._end(self.pending_end)
        return fx

    def _on_key_result(self, now_s: float, key_id: str) -> list[Effect]:
        e = self.entry
        assert e is not None
        self.last_activity_s = now_s
        if key_id == "lang":
            self._toggle_lang()
        elif key_id == "retry" and e.result == "wrong":
            e.step, e.problem, e.result = "current", None, None
            return self._ask_card("tries_left", ())  # re-read: never trust a stale counter
        elif key_id == "cancel":
            return self._end("cancel")
        return []

    def _on_cancel(self, now_s: float, by: str = "staff") -> list[Effect]:
        return self._stop("cancel")

    def _on_logout(self, now_s: float) -> list[Effect]:
        return self._stop("logout")

    def _stop(self, reason: str) -> list[Effect]:
        """Staff logout or cancel (or the citizen's cancel) while no card operation runs."""
        if self.entry is not None and self.entry.result is None:
            return self._abandon(reason)
        return self._end(reason)

    def _on_cancel_busy(self, now_s: float, by: str = "staff") -> list[Effect]:
        """Cancel while the card is checking: end as soon as it answers (the Pin is lent)."""
        self.pending_end = "cancel"
        return []

    def _on_logout_busy(self, now_s: float) -> list[Effect]:
        self.pending_end = "logout"
        return []

    def _on_card_removed(self, now_s: float) -> list[Effect]:
        if self.entry is not None and self.entry.result is None and self.state != VERIFYING:
            return self._finish_entry("card_removed", None) + self._end("card_removed")
        if self.state == VERIFYING:
            return []  # the driver answers the running command with card_removed
        return self._end("card_removed")

    def _on_tick(self, now_s: float) -> list[Effect]:
        if self.state == ENDED:
            if self.ended_at_s is not None and now_s >= self.ended_at_s + self.ended_screen_s:
                self._reset_session()
            return []
        if now_s >= self.last_activity_s + self.inactivity_timeout_s:
            if self.entry is not None and self.entry.result is None:
                return self._abandon("timeout")
            return self._end("timeout")
        return []

    def _on_card_inserted(self, now_s: float) -> list[Effect]:
        if self.recount is None or self._recount_request is not None:
            return []
        pin_type, identity = self.recount
        self._recount_request = self._next_request
        self._next_request += 1
        return [CardOp(self._recount_request, "tries_left", pin_type, (), identity)]

    def _on_recounted(self, outcome: str, tries_left: int | None) -> list[Effect]:
        """The counter read after a card was pulled mid-VERIFY: to the clerk and the trail."""
        self._recount_request = None
        if self.recount is None or outcome in ("no_card", "card_removed", "no_reader", "no_pcscd"):
            return []  # nothing read: the next insertion tries again
        pin_type = self.recount[0]
        self.recount = None
        fields: dict[str, Any] = {"pin_type": pin_type.value, "reason": "removed_during_verify",
                                  "card": "other" if outcome == "card_changed" else "same"}
        if outcome in ("ok", "locked"):
            fields["tries_left"] = tries_left
        return [ToConsole("card.counter", fields), ToAudit("card.counter", fields)]

    def _on_technician(self, now_s: float, active: bool) -> list[Effect]:
        if active and self.state in (IDLE, ENDED):
            self._reset_session()
            self.state = TECHNICIAN
        elif not active and self.state == TECHNICIAN:
            self.state = IDLE
        return []

    # --------------------------------------------------------------- helpers
    def _ask_card(self, op: str, pins: tuple[Pin, ...], shown_tries: int | None = None) -> list[Effect]:
        e = self.entry
        assert e is not None
        e.request_id = self._next_request
        self._next_request += 1
        self.state = CARD_CHECK if op in ("identify", "tries_left") else VERIFYING
        return [CardOp(e.request_id, op, e.pin_type, pins, self.card_identity, shown_tries)]

    def _finish_entry(self, result: str, tries_left: int | None) -> list[Effect]:
        """Report an entry's outcome; the session stays open on the result screen."""
        e = self.entry
        assert e is not None
        e.wipe()
        e.result, e.tries_left = result, tries_left
        self.state = RESULT
        fields = {"pin_type": e.pin_type.value, "action": e.action, "result": result,
                  "tries_left": tries_left}
        return [ToConsole("pin.result", fields),
                ToAudit("pin.result", {"session": self.session_id, **fields})]

    def _abandon(self, reason: str) -> list[Effect]:
        """An entry that never reached the card ends with the session."""
        result = _ABANDONED_RESULT[EndReason(reason)]
        fx = self._finish_entry(result, self.entry.tries_left if self.entry else None)
        return fx + self._end(reason)

    def _end(self, reason: str) -> list[Effect]:
        wrong = bool(self.entry and self.entry.result in ("wrong", "locked"))
        sid = self.session_id
        mid_verify = self.removed_while_verifying and reason == "card_removed"
        if mid_verify and self.entry is not None:
            self.recount = (self.entry.pin_type, self.card_identity)
        self._reset_session()
        self.removed_while_verifying = mid_verify  # for the ended screen only
        self.state, self.ended_reason, self.ended_at_s = ENDED, reason, self.now_s
        return [
            ToAudit("session.end", {"session": sid, "reason": reason, "cleared": True}),
            ToConsole("session.ended", {"reason": reason, "cleared": True}),
            SessionClosed(reason, wrong),
        ]

    def _reset_session(self) -> None:
        """Forget everything of the session: Pins wiped, entry and ids dropped."""
        if self.entry is not None:
            self.entry.wipe()
        self.entry = None
        self.session_id = None
        self.card_identity = None
        self.removed_while_verifying = False
        self.pending_end = None
        self.pressed_key = None
        self.ended_reason = None
        self.ended_at_s = None
        self.lang = self.default_language
        self.state = IDLE

    def _toggle_lang(self) -> None:
        self.lang = "en" if self.lang == "ja" else "ja"

    def _alert(self, code: str, message: str) -> ToConsole:
        return ToConsole("alert", {"code": code, "message": message})

    # ----------------------------------------------------------------- reads
    @property
    def active(self) -> bool:
        """A citizen session is open (the console's ``state`` reads this)."""
        return self.state not in (IDLE, ENDED, TECHNICIAN)

    def pins_held(self) -> int:
        """How many Pins hold material right now (tests and the watchdog assert on it)."""
        return sum(1 for p in (self.entry.pins.values() if self.entry else ()) if not p.wiped)

    def next_deadline_s(self) -> float | None:
        """When ``tick`` must run next; None when nothing is due."""
        if self.state == ENDED and self.ended_at_s is not None:
            return self.ended_at_s + self.ended_screen_s
        if self.state in (IDLE, TECHNICIAN, VERIFYING, CARD_CHECK):
            return None
        timeout_at = self.last_activity_s + self.inactivity_timeout_s
        countdown_at = timeout_at - COUNTDOWN_FROM_S
        if self.now_s < countdown_at:
            return countdown_at
        return min(timeout_at, self.now_s + 1.0)  # once a second during the countdown

    def view(self) -> View:
        """What the screen shows now (no PIN material: only the count of typed characters)."""
        if self.state == IDLE:
            if self.device_fault is not None:  # nothing can start: say why, and to ask staff
                return View("fault", lang=self.lang, fault=self.device_fault)
            return View("idle", lang=self.lang)
        if self.state == TECHNICIAN:
            return View("idle", lang=self.lang)  # the technician procedure draws its own view
        if self.state == ENDED:
            if self.removed_while_verifying:  # a try may have been counted: say so, and to ask staff
                return View("card_removed_verifying", lang=self.lang)
            return View(_ENDED_SCREEN.get(self.ended_reason or "logout", "session_ended"), lang=self.lang)
        e = self.entry
        assert e is not None
        rule = PIN_RULES[e.pin_type]
        common = dict(lang=self.lang, pin_type=e.pin_type, action=e.action,
                      tries_left=e.tries_left, max_tries=rule.max_tries)
        left = self.last_activity_s + self.inactivity_timeout_s - self.now_s
        countdown = int(left + 0.999) if left <= COUNTDOWN_FROM_S else None
        if self.state == CARD_CHECK:
            return View("card_check", **common)
        if self.state == VERIFYING:
            return View("verifying", **common)
        if self.state == WARNING:
            return View("last_try_warning", seconds_left=countdown, **common)
        if self.state == ENTRY:
            new_pin = e.action == "change" and e.step in ("new", "confirm")
            pin = e.pins.get(e.step)
            ok = pin is not None and entry_problem(e.pin_type, pin, new_pin=new_pin) is None
            return View("entry", step=e.step if e.action == "change" else None,
                        entered=len(pin) if pin else 0, enter_enabled=ok, problem=e.problem,
                        pressed_key=self.pressed_key, seconds_left=countdown, **common)
        return View(_RESULT_SCREEN.get(e.result or "error", "fault"), fault=e.fault,
                    seconds_left=countdown, **common)


#: state -> {event: handler}.  Events missing for a state are ignored.
TRANSITIONS: dict[str, dict[str, Callable[..., list[Effect]]]] = {
    IDLE: {"begin": Session._on_begin, "technician": Session._on_technician,
           "card_inserted": Session._on_card_inserted},
    CARD_CHECK: {"card_result": Session._on_card_checked, "cancel": Session._on_cancel,
                 "logout": Session._on_logout, "card_removed": Session._on_card_removed},
    WARNING: {"key": Session._on_key_warning, "cancel": Session._on_cancel, "logout": Session._on_logout,
              "card_removed": Session._on_card_removed, "tick": Session._on_tick},
    ENTRY: {"key": Session._on_key_entry, "cancel": Session._on_cancel, "logout": Session._on_logout,
            "card_removed": Session._on_card_removed, "tick": Session._on_tick},
    VERIFYING: {"card_result": Session._on_card_verified, "cancel": Session._on_cancel_busy,
                "logout": Session._on_logout_busy, "card_removed": Session._on_card_removed},
    RESULT: {"begin": Session._on_begin, "key": Session._on_key_result, "cancel": Session._on_cancel,
             "logout": Session._on_logout, "card_removed": Session._on_card_removed,
             "tick": Session._on_tick},
    ENDED: {"begin": Session._on_begin, "tick": Session._on_tick, "technician": Session._on_technician,
            "card_inserted": Session._on_card_inserted},
    TECHNICIAN: {"technician": Session._on_technician},
}
