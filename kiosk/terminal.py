"""The terminal core: every decision above the citizen session, pure.

Theory of operation
-------------------
``Terminal`` is to the kiosk what h11's ``Connection`` is to HTTP: typed
events go in, typed effects come out, and nothing in between does I/O, reads
a clock or touches pygame.  ``kiosk.app`` turns file descriptors into events
and effects into I/O; it decides nothing.  Time is always an argument.

What the terminal owns, and so decides:

* **who has the screen**: the citizen ``Session``, or a technician procedure
  (``calibration.procedure``).  A ``cancel`` goes to the procedure while one
  runs, else to the session; a technician command is refused (``busy``) while
  a session or a procedure is open.
* **devices**: card reader, card, pcscd, touch panel and console link, as
  ``Devices``.  A change is an audit record, an alert when something went
  missing, and the device fault the idle screen shows (touch first: without
  it nobody can do anything; then the reader).
* **the tap observer**: each committed key on the keypad feeds the session's
  anonymous drift sums (residual to the key centre), a tap between keys is a
  gap tap, and "backspace, then the key next to the erased one" a likely
  correction.  Key ids stay in RAM and are forgotten with the session.
* **technician outcome policy**: the review's accept/retry, what a finished
  calibration means (``InstallCalibration``: matrix, audit record, drift
  baseline reset) and what a drift check's result does to the drift level.
* **drift**: the estimator's level changes become a ``drift`` frame, an audit
  record and, above ``ok``, an alert whose message says what measured it.
* **the layout**: which keypad the shown view needs, so the press tracker and
  the screen agree on it; ``Show`` is emitted only when the view changed.

The tables at the bottom (``EVENTS``) map each event type to its handler: one
table, read top-down, like ``session.TRANSITIONS`` and ``protocol.LINK_TABLE``.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from calibration.drift import (DriftEstimator, LevelChange, SessionDrift, SessionPool, add_pool, key_at_mm,
                              key_pitch_mm, key_residual_mm, keypad_box_mm)
from calibration.matrix import Affine
from kiosk.config import Config
from kiosk.keypad import KeyLayout, PressTracker, build_layout, build_screen_layout
from kiosk.pin import PinType
from kiosk.sound import RESULT_TONES
from kiosk.session import CardOp, Session, SessionClosed, ToAudit, ToConsole
from kiosk.vocabulary import AlertCode, DeviceFault, DriftLevel, TechnicianKind, TechnicianOutcome


# --- events -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Contact:
    """One finger contact step in raw panel units (``kind``: down, move, up, cancel).

    ``tap_raw`` is the robust position of a finished tap (on ``up``), when the
    tap filters produced one; ``t_s`` the contact's own time (not the loop's).
    """

    now_s: float
    kind: str
    x_raw: float
    y_raw: float
    t_s: float
    tap_raw: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class CardAnswer:
    """The card answered a ``CardOp`` (``request_id`` is the session's).

    ``identity`` (which card: reader and certificate hash), ``valid_until`` and
    ``resident_registry_aid`` come with the answer to ``identify``.
    """

    now_s: float
    request_id: int
    outcome: str
    tries_left: int | None
    identity: Any = None
    valid_until: Any = None
    resident_registry_aid: Any = None


@dataclass(frozen=True, slots=True)
class CardPresence:
    """The card backend saw a change: card_inserted/removed, reader_added/removed, pcscd_up/down."""

    now_s: float
    kind: str
    reader: str = ""


@dataclass(frozen=True, slots=True)
class DevicesSeen:
    """What the app reads off its drivers after every batch of events (touch panel, console link).

    The terminal then settles: device faults, and ``Show`` when the view changed.
    """

    now_s: float
    touch_present: bool
    touch_absent_reason: str = ""
    touch_axis_mismatch: str = ""
    link_up: bool = False


@dataclass(frozen=True, slots=True)
class Command:
    """A console command that passed the protocol's whitelist (``type``, ``fields``)."""

    now_s: float
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tick:
    """The timer fired: timeouts are due."""

    now_s: float


@dataclass(frozen=True, slots=True)
class Shutdown:
    """The process is stopping (after the card worker stopped: no Pin is lent)."""

    now_s: float


Event = Contact | CardAnswer | CardPresence | DevicesSeen | Command | Tick | Shutdown


# --- effects ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Send:
    """A frame to the console."""

    type: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Audit:
    """An audit record (``kiosk.audit.KINDS`` whitelists it)."""

    kind: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    """Tell staff: logged, recorded in the audit trail and sent as an ``alert`` frame."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class StatusReply:
    """Answer ``status_request`` with ``Terminal.status_fields()``."""


@dataclass(frozen=True, slots=True)
class InstallCalibration:
    """Write ``affine`` as the active calibration (the terminal already uses it)."""

    affine: Affine
    meta: dict[str, Any]  # the app adds ``installed_at`` (wall time)


@dataclass(frozen=True, slots=True)
class SaveDrift:
    """Keep the drift estimator's state on disk."""


@dataclass(frozen=True, slots=True)
class WriteMetrics:
    """Something the metrics file shows changed: rewrite it now."""


@dataclass(frozen=True, slots=True)
class Show:
    """Draw ``view`` with ``layout`` (emitted only when the view changed)."""

    view: Any
    layout: KeyLayout


@dataclass(frozen=True, slots=True)
class Sound:
    """Play ``name`` (``kiosk.sound.TONES``): the key click, the same for every key, or a result tone."""

    name: str


@dataclass(frozen=True, slots=True)
class TechnicianDone:
    """A technician procedure ended in ``state`` (``passed``: calibration accepted or check passed)."""

    kind: str
    state: str
    passed: bool


Effect = CardOp | Send | Audit | Alert | StatusReply | InstallCalibration | SaveDrift | WriteMetrics | Show | Sound \
    | TechnicianDone


# --- state the terminal keeps ---------------------------------------------------
@dataclass
class Devices:
    """What the terminal knows of its devices (status frames, metrics, the fault screen)."""

    reader: bool = False
    card: bool = False
    touch: bool = False
    pcscd: bool = True
    link_up: bool = False
    axis_mismatch: str = ""  # the last touch_axis_mismatch alerted (once per device)

    def fault(self) -> DeviceFault | None:
        """The fault the idle screen shows: touch first (nothing works without it), then the reader."""
        if not self.touch:
            return DeviceFault.TOUCH_ABSENT
        if not (self.reader and self.pcscd):
            return DeviceFault.NO_READER
        return None


@dataclass
class TapObserver:
    """RAM only, wiped at session end: the keys the correction rule compares (ids, never logged)."""

    down_key: str | None = None
    last_char_key: str | None = None
    erased_key: str | None = None

    def forget(self) -> None:
        self.down_key = self.last_char_key = self.erased_key = None


def drift_key_pitch_mm(cfg: Config) -> float:
    """The pitch drift is measured against: the closest keys in use (the alphanumeric keypad)."""
    return key_pitch_mm(*(build_layout(t, cfg.screen, cfg.keypad, cfg.screen.language) for t in PinType))


def drift_keypad_box_mm(cfg: Config) -> tuple[float, float, float, float]:
    """Where the keys in use are (mm from the screen centre): the residual field is judged over it."""
    return keypad_box_mm(*(build_layout(t, cfg.screen, cfg.keypad, cfg.screen.language) for t in PinType))


def matrix_sha256(affine: Affine) -> str:
    """A calibration matrix's fingerprint for the audit trail (before/after an install)."""
    return hashlib.sha256(repr(affine.as_tuple()).encode()).hexdigest()


def neighbours(layout: KeyLayout, a: str, b: str) -> bool:
    """Keys side by side or diagonal on this keypad (centres within 1.5 key pitches)."""
    if a not in layout.ids or b not in layout.ids:
        return False
    (ax, ay), (bx, by) = layout.key_centre_px(a), layout.key_centre_px(b)
    return math.hypot((ax - bx) / layout.px_per_mm_x, (ay - by) / layout.px_per_mm_y) <= 1.5 * layout.pitch_mm


def drift_fields(drift: DriftEstimator) -> dict[str, Any]:
    """The ``drift`` frame's figures."""
    st = drift.status()
    return {"level": st["level"], "shift_mm": st["shift_mm"], "shift_x_mm": st["offset_mm"][0],
            "shift_y_mm": st["offset_mm"][1], "taps": st["taps"],
            "key_fraction": round(st["shift_mm"] / drift.key_pitch_mm, 3)}


def drift_changed(drift: DriftEstimator, change: LevelChange | None,
                  measured_mm: float | None = None) -> list[Effect]:
    """Keep the estimator; on a level change tell the console and the audit trail, and alert above ok.

    ``measured_mm``: the rms error a technician's drift check measured, when that
    (not the statistics of ordinary taps) moved the level; the message says which.
    """
    fx: list[Effect] = [SaveDrift()]
    if change is None:
        return fx
    st = drift.status()
    how = (f"drift check measured {measured_mm:.1f} mm rms" if measured_mm is not None
           else f"taps shifted {st['shift_mm']:.1f} mm ({change.reason})")
    fx.append(Audit("drift.level", {"level_from": change.old, "level_to": change.new, "shift_mm": st["shift_mm"],
                                    "shift_x_mm": st["offset_mm"][0], "shift_y_mm": st["offset_mm"][1]}))
    fx.append(Send("drift", {"message": f"drift {change.old} -> {change.new}: {how}", **drift_fields(drift)}))
    if change.new != DriftLevel.OK:
        fx.append(Alert(f"drift_{change.new}", f"touch panel drift: {how}; check or calibrate"))
    return fx


def calibration_installed(drift: DriftEstimator, before: Affine, after: Affine, *, technician: str,
                          rms_mm: float | None, max_mm: float | None,
                          audit: dict[str, Any] | None = None) -> list[Effect]:
    """What installing a calibration means, whoever made it (procedure, ``--from-taps``, an import).

    The file (``InstallCalibration``), a fresh drift baseline (the old one measured
    the old matrix: ``drift`` is reset here and saved), and one audit record with
    both matrices' fingerprints.  The kiosk and ``pin-kiosk calibrate`` both run
    exactly these effects.
    """
    was = drift.level
    drift.reset_baseline()
    fx: list[Effect] = [InstallCalibration(after, {"technician": technician, "rms_mm": rms_mm, "max_mm": max_mm})]
    fx += drift_changed(drift, LevelChange(was, DriftLevel.OK, "calibrated") if was != DriftLevel.OK else None)
    fx.append(Audit("calibration", {"technician": technician, "outcome": TechnicianOutcome.ACCEPTED,
                                    "rms_mm": rms_mm, "max_mm": max_mm, **(audit or {}),
                                    "matrix_before_sha256": matrix_sha256(before),
                                    "matrix_after_sha256": matrix_sha256(after)}))
    return fx


class Terminal:
    """Every decision of the terminal.  ``handle(event)`` returns the effects to run, in order."""

    def __init__(self, cfg: Config, *, affine: Affine, calibrated: bool, drift: DriftEstimator,
                 touch_present: bool = False) -> None:
        self.cfg = cfg
        self.session = Session(inactivity_timeout_s=cfg.session.inactivity_timeout_s,
                               ended_screen_s=cfg.session.ended_screen_s, language=cfg.screen.language)
        self.devices = Devices(touch=touch_present)
        self.affine = affine
        self.calibrated = calibrated
        self.drift = drift
        self.session_drift = SessionDrift()
        #: sessions wait here until several can move the drift figures at once (none shows one PIN's length)
        self.drift_pool = SessionPool(cfg.drift.pool_sessions)
        self.taps = TapObserver()
        self.procedure: Any | None = None
        self.sessions_by_result: dict[str, int] = {}
        self.last_drift_check_passed = False
        self.tracker: PressTracker | None = None
        self._layouts: dict[tuple, KeyLayout] = {}
        self._view: Any | None = None
        self._layout: KeyLayout | None = None
        self._now_s = 0.0

    # ------------------------------------------------------------------ entry
    def handle(self, event: Event) -> list[Effect]:
        """Run one event through the terminal.  The app ends every batch with ``DevicesSeen``."""
        self._now_s = event.now_s
        return EVENTS[type(event)](self, event)

    def boot(self, now_s: float, *, touch_is_panel: bool, touch_absent_reason: str,
             calibration_alert: str | None, calibration_detail: str | None) -> list[Effect]:
        """The first effects: what is already wrong at start, and the first frame."""
        self._now_s = now_s
        fx: list[Effect] = []
        if calibration_alert:
            fx.append(Alert(calibration_alert, f"calibration: {calibration_detail or calibration_alert}"))
        if not self.devices.touch and touch_is_panel:
            # a panel missing at boot is a fault now (a FIFO or recording simply has no writer yet)
            fx.append(Alert(AlertCode.TOUCH_ABSENT, f"touch panel absent: {touch_absent_reason}"))
        self.session.devices(self.devices.fault())
        return fx + self._refresh()

    # ---------------------------------------------------------------- events
    def _on_contact(self, c: Contact) -> list[Effect]:
        x_px, y_px = self.affine.apply(c.x_raw, c.y_raw)
        if self.procedure is not None:
            return self._technician_contact(c, x_px, y_px)
        tracker, now = self.tracker, c.now_s
        if tracker is None:
            return []
        if c.kind == "down":
            self.taps.down_key = tracker.down(x_px, y_px, c.t_s)
            self.session.touch(now, tracker.highlighted)
        elif c.kind == "move":
            tracker.move(x_px, y_px, c.t_s)
            self.session.touch(now, tracker.highlighted)
        elif c.kind == "cancel":
            tracker.cancel()
            self.session.touch(now, None)
        elif c.kind == "up":
            tap_px = self.affine.apply(*c.tap_raw) if c.tap_raw is not None else (x_px, y_px)
            key = tracker.up(x_px, y_px, c.t_s)
            self._observe_tap(key, tap_px)
            if key is not None:  # one click whatever the key: a sound must not tell the key
                return [Sound("click"), *self._session(self.session.key(now, key), now)]
            self.session.touch(now, None)
        return []

    def _observe_tap(self, key: str | None, tap_px: tuple[float, float]) -> None:
        """Feed the drift sums: a residual per keypad press, gap taps, likely corrections."""
        view, layout, t = self._view, self._layout, self.taps
        if view is None or layout is None or view.screen != "entry":
            return
        if key is None:
            if t.down_key is None and layout.hit(*tap_px) is None:
                self.session_drift.add_gap_tap()
            return
        self.session_drift.add_tap(key_residual_mm(layout, key, *tap_px), key_at_mm(layout, key))
        if key == "backspace":
            t.erased_key, t.last_char_key = t.last_char_key, None
        elif len(key) == 1:
            erased, t.erased_key, t.last_char_key = t.erased_key, None, key
            if erased is not None and erased != key and neighbours(layout, erased, key):
                self.session_drift.add_correction()
        else:
            t.erased_key = t.last_char_key = None

    def _on_card_answer(self, ev: CardAnswer) -> list[Effect]:
        return self._session(self.session.card_result(ev.now_s, ev.request_id, ev.outcome, ev.tries_left,
                                                      ev.identity, ev.valid_until, ev.resident_registry_aid),
                             ev.now_s)

    def _on_card_presence(self, ev: CardPresence) -> list[Effect]:
        now, kind, d = ev.now_s, ev.kind, self.devices
        fx: list[Effect] = []
        if kind == "card_removed":
            d.card = False
            fx.append(Audit("card.removed", {"reader": ev.reader}))
            fx += self._session(self.session.card_removed(now), now)
        elif kind == "card_inserted":
            d.card = True
            fx.append(Audit("card.inserted", {"reader": ev.reader}))
            fx += self._session(self.session.card_inserted(now), now)
        elif kind in ("reader_added", "reader_removed"):
            d.reader = kind == "reader_added"
            if not d.reader:
                d.card = False
                fx += self._session(self.session.card_removed(now), now)
            fx.append(Audit("reader.present", {"reader": ev.reader, "present": d.reader}))
            if not d.reader:
                fx.append(Alert(AlertCode.READER_ABSENT, "card reader disconnected"))
        elif kind in ("pcscd_down", "pcscd_up"):
            d.pcscd = kind == "pcscd_up"
            if not d.pcscd:
                d.reader = d.card = False
                fx.append(Alert(AlertCode.PCSCD_DOWN, "PC/SC service not reachable"))
        fx.append(WriteMetrics())
        return fx

    def _on_devices_seen(self, ev: DevicesSeen) -> list[Effect]:
        d, fx = self.devices, []
        if ev.touch_present != d.touch:
            d.touch = ev.touch_present
            fx.append(Audit("touch.present", {"device": self.cfg.touch.source, "present": d.touch}))
            if not d.touch:
                fx.append(Alert(AlertCode.TOUCH_ABSENT, f"touch panel absent: {ev.touch_absent_reason}"))
            fx.append(WriteMetrics())
        if ev.touch_axis_mismatch and ev.touch_axis_mismatch != d.axis_mismatch:
            d.axis_mismatch = ev.touch_axis_mismatch  # once per device: its contacts are refused meanwhile
            fx.append(Alert(AlertCode.TOUCH_AXIS_MISMATCH,
                            f"touch panel reports positions off its axes: {ev.touch_axis_mismatch}"))
        if ev.link_up != d.link_up:
            d.link_up = ev.link_up
            fx.append(Audit("console.link", {"state": "up" if d.link_up else "down", "port": self.cfg.console.port}))
            fx.append(WriteMetrics())
        self.session.devices(d.fault())
        return fx + self._refresh()

    def _on_command(self, cmd: Command) -> list[Effect]:
        now, f = cmd.now_s, cmd.fields
        if cmd.type == "begin":
            return self._session(self.session.begin(now, PinType(f["pin_type"]), f.get("action", "verify"),
                                                    f.get("operator")), now)
        if cmd.type == "cancel":
            if self.procedure is not None:  # the technician's procedure has the screen: it is cancelled
                self.procedure.cancel(now)
                return self._technician_done(now)
            return self._session(self.session.cancel(now), now)
        if cmd.type == "logout":
            return self._session(self.session.logout(now), now)
        if cmd.type == "status_request":
            return [StatusReply()]
        if cmd.type in (TechnicianKind.CALIBRATE, TechnicianKind.DRIFT_CHECK):
            return self.start_technician(now, cmd.type, f["technician"])
        return []

    def _on_tick(self, ev: Tick) -> list[Effect]:
        now = ev.now_s
        fx = self._session(self.session.tick(now), now)
        if self.procedure is not None:
            self.procedure.tick(now)
            if self.procedure.finished:
                fx += self._technician_done(now)
        return fx

    def _on_shutdown(self, ev: Shutdown) -> list[Effect]:
        return self._session(self.session.shutdown(ev.now_s), ev.now_s)

    # ------------------------------------------------------------- technician
    def start_technician(self, now_s: float, kind: str, technician: str) -> list[Effect]:
        """Calibration or drift check takes the screen; refused (``busy``) while anything else is open."""
        from calibration.procedure import CalibrationProcedure, DriftCheck

        if self.session.active or self.procedure is not None:
            return [Alert(AlertCode.BUSY, f"{kind} refused: a session or procedure is in progress")]
        fx = self._session(self.session.technician(now_s, True), now_s)
        if kind == TechnicianKind.CALIBRATE:  # the fit rejects what ``calibrate --from-taps`` rejects
            self.procedure = CalibrationProcedure(self.cfg.screen, self.cfg.drift, technician, now_s, self.affine,
                                                  fit_reject_mm=self.cfg.touch.fit_reject_mm)
        else:
            self.procedure = DriftCheck(self.cfg.screen, self.cfg.drift, technician, now_s, self.affine)
        return fx

    def _technician_contact(self, c: Contact, x_px: float, y_px: float) -> list[Effect]:
        proc, now = self.procedure, c.now_s
        if c.kind != "up" or c.tap_raw is None:
            return []
        if proc.state == "review":
            key = self._layout.hit(x_px, y_px) if self._layout is not None else None
            if key == "accept":
                proc.accept(now)
            elif key == "retry":
                proc.retry(now)
        else:
            # the tap's own time, not the loop's: taps read in one batch are not bounces
            proc.tap(c.t_s, *c.tap_raw)
        return self._technician_done(now) if proc.finished else []

    def _technician_done(self, now_s: float) -> list[Effect]:
        from calibration.procedure import ACCEPTED, CalibrationProcedure

        proc, self.procedure = self.procedure, None
        fx: list[Effect] = []
        if isinstance(proc, CalibrationProcedure):
            fx.append(TechnicianDone(TechnicianKind.CALIBRATE, proc.state, proc.state == ACCEPTED))
            if proc.state == ACCEPTED and proc.outcome is not None:
                out = proc.outcome
                fx += self.install_calibration(
                    now_s, out.affine, technician=out.technician, rms_mm=out.rms_mm, max_mm=out.max_mm,
                    audit={"points": len(out.fit_residuals_mm),
                           "validation_points": len(out.validation_residuals_mm),
                           "rejected_taps": out.rejected_taps})
                fx.append(Send("calibration.result", {"kind": TechnicianKind.CALIBRATE, "ok": True,
                                                      "message": "calibration installed", **out.console_fields()}))
            else:
                outcome = TechnicianOutcome.TIMEOUT if proc.state == "timed_out" else TechnicianOutcome.CANCELLED
                fx.append(Audit("calibration", {"technician": proc.technician, "outcome": outcome}))
                fx.append(Send("calibration.result", {"kind": TechnicianKind.CALIBRATE, "ok": False,
                                                      "technician": proc.technician,
                                                      "message": f"calibration {outcome}, nothing changed"}))
        else:
            out = proc.outcome
            self.last_drift_check_passed = bool(out is not None and out.passed)
            fx.append(TechnicianDone(TechnicianKind.DRIFT_CHECK, proc.state, self.last_drift_check_passed))
            if out is not None:
                fx.append(Audit("drift.check", {"technician": out.technician, "passed": out.passed,
                                                "rms_mm": out.rms_mm, "max_mm": out.max_mm}))
                fx.append(Send("calibration.result", {
                    "kind": TechnicianKind.DRIFT_CHECK, "ok": out.passed, "technician": out.technician,
                    "rms_mm": round(out.rms_mm, 2), "max_mm": round(out.max_mm, 2), "points": len(out.errors_mm),
                    "message": "drift check passed" if out.passed else "drift check failed: calibrate"}))
                fx += self._drift_changed(self.drift.drift_check_result(out.passed), measured_mm=out.rms_mm)
            else:
                fx.append(Send("calibration.result", {"kind": TechnicianKind.DRIFT_CHECK, "ok": False,
                                                      "technician": proc.technician,
                                                      "message": "drift check not finished"}))
        return fx + self._session(self.session.technician(now_s, False), now_s)

    def install_calibration(self, now_s: float, affine: Affine, *, technician: str, rms_mm: float | None,
                            max_mm: float | None, audit: dict[str, Any] | None = None) -> list[Effect]:
        """Install ``affine`` here (``calibration_installed`` says what that means) and use it from now on."""
        fx = calibration_installed(self.drift, self.affine, affine, technician=technician, rms_mm=rms_mm,
                                   max_mm=max_mm, audit=audit)
        self.drift_pool.wipe()  # sessions typed on the old calibration are not its baseline
        self.affine, self.calibrated = affine, True
        return fx

    # ------------------------------------------------------------------ drift
    def _drift_changed(self, change: LevelChange | None, measured_mm: float | None = None) -> list[Effect]:
        return drift_changed(self.drift, change, measured_mm)

    def drift_fields(self) -> dict[str, Any]:
        return drift_fields(self.drift)

    # ---------------------------------------------------------------- session
    def _session(self, effects: list, now_s: float) -> list[Effect]:
        """The session's effects, with what the terminal adds: result counts, drift at session end."""
        fx: list[Effect] = []
        for e in effects:
            if isinstance(e, ToConsole):
                fx.append(Send(e.type, e.fields))
                if e.type == "pin.result":
                    r = e.fields["result"]
                    self.sessions_by_result[r] = self.sessions_by_result.get(r, 0) + 1
                    if str(r) in RESULT_TONES:
                        fx.append(Sound(RESULT_TONES[str(r)]))
            elif isinstance(e, ToAudit):
                fx.append(Audit(e.kind, e.fields))
            elif isinstance(e, SessionClosed):
                summary = self.session_drift.summary()
                self.session_drift.wipe()
                self.taps.forget()
                pool = self.drift_pool.add(summary, e.wrong_pin)
                if pool:
                    fx += self._drift_changed(add_pool(self.drift, pool))
                fx.append(WriteMetrics())
            else:
                fx.append(e)
        return fx

    # ----------------------------------------------------------------- reads
    def next_deadline_s(self) -> float | None:
        """When ``Tick`` must come next for the session or the procedure; None when nothing is due."""
        due = [self.session.next_deadline_s()]
        if self.procedure is not None:
            due.append(self.procedure.wakeup_s())
        return min((d for d in due if d is not None and math.isfinite(d)), default=None)

    def status_fields(self) -> dict[str, Any]:
        """The ``status`` frame's fields (the app adds the audit chain head)."""
        st, d = self.drift.status(), self.devices
        return {
            "state": self.session.state, "reader": d.reader, "card": d.card, "touch": d.touch,
            "session": self.session.active, "calibrated": self.calibrated,
            "drift": {"level": st["level"], "shift_mm": st["shift_mm"],
                      "shift_x_mm": st["offset_mm"][0], "shift_y_mm": st["offset_mm"][1], "taps": st["taps"]},
        }

    def current_view(self, now_s: float) -> Any:
        if self.procedure is not None:
            return self.procedure.view(now_s, self.session.lang)
        return self.session.view()

    def layout_for(self, view: Any) -> KeyLayout:
        """The keypad (or buttons) a view needs; built once per screen, PIN type and language."""
        key = (view.screen, view.pin_type, view.lang)
        layout = self._layouts.get(key)
        if layout is None:
            if view.screen == "entry":
                layout = build_layout(view.pin_type, self.cfg.screen, self.cfg.keypad, view.lang)
            else:
                layout = build_screen_layout(view.screen, view.pin_type, self.cfg.screen, self.cfg.keypad,
                                             view.lang)
            self._layouts[key] = layout
        return layout

    def _refresh(self) -> list[Effect]:
        """``Show`` when the view changed; the tracker follows the layout."""
        view = self.current_view(self._now_s)
        if view == self._view:
            return []
        layout = self.layout_for(view)
        if layout is not self._layout:
            self.taps.last_char_key = self.taps.erased_key = None  # they belong to the old keypad
            if self.tracker is None:
                self.tracker = PressTracker.from_config(layout, self.cfg.keypad)
            else:
                self.tracker.set_layout(layout)
            self._layout = layout
        self._view = view
        return [Show(view, layout)]

    @property
    def view(self) -> Any:
        """The view last shown."""
        return self._view


#: event type -> handler.  Every event the terminal takes is here.
EVENTS: dict[type, Callable[[Terminal, Any], list[Effect]]] = {
    Contact: Terminal._on_contact,
    CardAnswer: Terminal._on_card_answer,
    CardPresence: Terminal._on_card_presence,
    DevicesSeen: Terminal._on_devices_seen,
    Command: Terminal._on_command,
    Tick: Terminal._on_tick,
    Shutdown: Terminal._on_shutdown,
}
