"""The one loop: touch, card, console and timers in; session effects, screen and reports out.

Theory of operation
-------------------
``Kiosk`` owns the drivers and the pure cores and does no deciding of its
own: every citizen-facing decision is ``kiosk.session.Session``'s, every
technician decision ``calibration.procedure``'s, every drift decision
``calibration.drift``'s.  The kiosk turns I/O into their events and their
effects into I/O:

* touch fd readable -> contacts -> calibration matrix -> press tracker on the
  layout of the screen shown -> ``session.key`` / ``session.touch``, and one
  anonymous residual per committed keypress into ``SessionDrift``;
* card worker fd readable -> ``session.card_result`` / ``card_removed``;
* console fd readable -> commands -> ``session.begin`` / ``cancel`` / ...;
* one timer, always re-armed at the earliest deadline any part asked for
  (session timeout, console retransmission/heartbeat/reopen, touch replay or
  reopen, technician timeout, watchdog): the loop sleeps in ``select`` until
  then and never spins;
* after every event the screen is redrawn only if the View changed, and only
  the rectangles that changed are flipped.

Devices that are missing are states (``touch: absent``, ``reader: absent``,
``link: down``) reported in ``status`` frames and on the fault screen, never
exceptions out of the loop.  SIGTERM/SIGINT stop the loop; ``close`` ends any
session (PINs wiped), clears the screen and says ``STOPPING=1``.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from calibration.drift import (DriftEstimator, LevelChange, SessionDrift, SessionPool, add_pool, key_pitch_mm,
                              key_residual_mm)
from calibration.matrix import Affine
from kiosk import __version__
from kiosk.config import Config
from kiosk.keypad import KeyLayout, LayoutError, PressTracker, build_layout, build_screen_layout
from kiosk.loop import EventLoop, TimerHandle
from kiosk.pin import PinType
from kiosk.sound import Speaker
from kiosk.session import CardOp, SessionClosed, Session, ToAudit, ToConsole
from kiosk.view import View

log = logging.getLogger("pin_kiosk.app")

#: How often the desktop demo's ``mouse`` source is polled (the real panel is an fd).
MOUSE_POLL_S = 0.02
#: The metrics file is rewritten at least this often: the fleet alert fires on a file older than 60 s.
METRICS_EVERY_S = 20.0


@dataclass
class Presence:
    """What the terminal knows of its devices (status frames, metrics, fault screen)."""

    reader: bool = False
    card: bool = False
    touch: bool = False
    pcscd: bool = True


@dataclass
class Counters:
    sessions_by_result: dict[str, int] = field(default_factory=dict)


class Kiosk:
    """Wires drivers to the pure cores on one EventLoop.  See the module docstring."""

    def __init__(self, cfg: Config, *, loop: EventLoop, touch: Any, card: Any, link: Any,
                 display: Any | None, audit: Any | None = None, notifier: Any | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_frame: Callable[[View, Any], None] | None = None) -> None:
        from calibration import store

        self.cfg = cfg
        self.loop = loop
        self.touch = touch
        self.card = card
        self.link = link
        self.display = display
        self.audit = audit
        self.notifier = notifier
        self.clock = clock
        self.on_frame = on_frame
        #: Called with the procedure's final state when a technician procedure ends.
        self.technician_done: Callable[[str], None] | None = None
        self.last_drift_check_passed = False
        self.state_dir = cfg.state_dir
        self.session = Session(inactivity_timeout_s=cfg.session.inactivity_timeout_s,
                               ended_screen_s=cfg.session.ended_screen_s, language=cfg.screen.language)
        self.presence = Presence(touch=bool(getattr(touch, "present", False)))
        self.counters = Counters()
        self.affine, cal_status = store.load_active(self.state_dir, touch.axes, cfg.screen)
        self.calibration_source = cal_status.source
        self.calibrated_at_s = _unix_time(cal_status.meta.get("installed_at"))
        self.session_drift = SessionDrift()
        self.drift_pool = SessionPool(cfg.drift.pool_sessions)
        self.procedure: Any | None = None
        self._card_requests: dict[int, int] = {}  # worker request id -> session request id
        self._layouts: dict[tuple, KeyLayout] = {}
        self.drift = self._load_drift()
        self._view: View | None = None
        self._layout: KeyLayout | None = None
        self.tracker: PressTracker | None = None
        self._timer: TimerHandle | None = None
        self._fds: dict[str, int | None] = {"touch": None, "link": None}
        self._axis_mismatch = ""  # the last touch_axis_mismatch alerted
        # RAM only, wiped at session end: the last character key, and the one a backspace erased,
        # so "backspace, then the key next to the erased one" counts as a likely mis-registration.
        self._last_char_key: str | None = None
        self._erased_key: str | None = None
        self._down_key: str | None = None
        self._watchdog_s = notifier.watchdog_interval_s() if notifier is not None else None
        self._next_watchdog_s = 0.0
        self._status_sent: str | None = None  # the STATUS= systemd has, resent only when it changes
        self._next_metrics_s = 0.0
        self.sealer: Any = None  # kiosk.audit_seal.Sealer, set at start
        self._next_seal_s = self.clock() + cfg.state.seal_interval_s
        self._link_up = False
        self.link.status_provider = self.status_fields
        self._mouse = display is not None and getattr(display, "mouse_input", False)
        # sound only with a screen (SDL is up); the click is the same for every key
        self.speaker = Speaker(cfg.sound.enabled and display is not None, cfg.sound.volume)
        if cal_status.alert:
            self._alert(self.clock(), cal_status.alert, f"calibration: {cal_status.detail or cal_status.alert}")

    # ------------------------------------------------------------------ set-up
    def _load_drift(self) -> DriftEstimator:
        """The kept estimator, measured against the closest keys in use (the alphanumeric keypad)."""
        from kiosk.drift_state import load_estimator

        pitch_mm = key_pitch_mm(*(self._layout_for(View("entry", pin_type=t)) for t in PinType))
        return load_estimator(self.cfg, pitch_mm)

    def start(self) -> None:
        now = self.clock()
        self._check_sealed_trail(now)
        from kiosk.boot_clock import clock_synchronized, kernel_boot_id
        self._record("boot", version=__version__, terminal=self.cfg.terminal.id, boot=self.link.boot,
                     kernel_boot=kernel_boot_id(), clock="synced" if clock_synchronized() else "unsynced")
        if not self.touch.present and self.touch.spec.startswith("evdev:"):
            # a panel missing at boot is a fault now (a FIFO or recording simply has no writer yet)
            self._alert(now, "touch_absent", f"touch panel absent: {self.touch.absent_reason}")
        self.loop.add_reader(self.card.fileno(), self._on_card)
        self._watch_fds()
        self._redraw(now)
        self._metrics(now)
        if self.notifier is not None:
            self.notifier.ready(self._status_sent or "pin-kiosk running")
        self._after(now)

    def close(self) -> None:
        """Stop: card worker first (so no Pin is lent), then end the session, clear, report."""
        now = self.clock()
        if self.notifier is not None:
            self.notifier.stopping()
        self.card.close()
        self._run(self.session.shutdown(now), now)
        self.link.tick(now)
        if self.display is not None:
            self.display.clear()
        self._record("shutdown", reason="signal")
        self._seal(now)
        self._metrics(now)
        self.link.close()
        self.touch.close()

    # ------------------------------------------------------------------ events
    def _on_touch(self, now: float) -> None:
        self._read_touch(now)
        self._after(now)

    def _read_touch(self, now: float) -> None:
        if self._mouse:
            self._pump_mouse(now)
        for contact in self.touch.read(now):
            self._contact(contact, now)

    def _pump_mouse(self, now: float) -> None:
        """``mouse`` source (desktop demo only): hand pygame's button events to the source."""
        import pygame
        kinds = {pygame.MOUSEBUTTONDOWN: "down", pygame.MOUSEMOTION: "move", pygame.MOUSEBUTTONUP: "up"}
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT:
                self.loop.stop()
            elif ev.type in kinds and (ev.type == pygame.MOUSEMOTION or ev.button == 1):
                self.touch.feed_mouse(kinds[ev.type], ev.pos[0], ev.pos[1], now)

    def _contact(self, c: Any, now: float) -> None:
        x_px, y_px = self.affine.apply(c.x_raw, c.y_raw)
        if self.procedure is not None:
            self._technician_contact(c, x_px, y_px, now)
            return
        tracker = self.tracker
        if tracker is None:
            return
        if c.kind == "down":
            self._down_key = tracker.down(x_px, y_px, c.t_s)
            self.session.touch(now, tracker.highlighted)
        elif c.kind == "move":
            tracker.move(x_px, y_px, c.t_s)
            self.session.touch(now, tracker.highlighted)
        elif c.kind == "cancel":
            tracker.cancel()
            self.session.touch(now, None)
        elif c.kind == "up":
            tap_px = self.affine.apply(c.tap.x_raw, c.tap.y_raw) if c.tap is not None else (x_px, y_px)
            key = tracker.up(x_px, y_px, c.t_s)
            self._observe_tap(key, tap_px)
            if key is not None:
                self.speaker.click()
                self._run(self.session.key(now, key), now)
            else:
                self.session.touch(now, None)

    def _observe_tap(self, key: str | None, tap_px: tuple[float, float]) -> None:
        """Feed the drift sums: a residual per keypad press, gap taps, likely corrections."""
        view, layout = self._view, self._layout
        if view is None or layout is None or view.screen != "entry":
            return
        if key is None:
            if self._down_key is None and layout.hit(*tap_px) is None:
                self.session_drift.add_gap_tap()
            return
        self.session_drift.add_tap(key_residual_mm(layout, key, *tap_px))
        if key == "backspace":
            self._erased_key, self._last_char_key = self._last_char_key, None
        elif len(key) == 1:
            erased, self._erased_key, self._last_char_key = self._erased_key, None, key
            if erased is not None and erased != key and _neighbours(layout, erased, key):
                self.session_drift.add_correction()
        else:
            self._erased_key = self._last_char_key = None

    def _on_card(self, now: float) -> None:
        for ev in self.card.drain():
            if ev.kind == "result":
                rid = self._card_requests.pop(ev.request_id, None)
                if rid is not None:
                    r = ev.result
                    self._run(self.session.card_result(now, rid, r.outcome, r.tries_left, r.identity,
                                                       r.valid_until, r.resident_registry_aid), now)
            else:
                self._presence(ev, now)
        self._after(now)

    def _presence(self, ev: Any, now: float) -> None:
        kind = ev.kind
        if kind == "card_removed":
            self.presence.card = False
            self._record("card.removed", reader=ev.reader or "")
            self._run(self.session.card_removed(now), now)
        elif kind == "card_inserted":
            self.presence.card = True
            self._record("card.inserted", reader=ev.reader or "")
            self._run(self.session.card_inserted(now), now)
        elif kind in ("reader_added", "reader_removed"):
            self.presence.reader = kind == "reader_added"
            if kind == "reader_removed":
                self.presence.card = False
                self._run(self.session.card_removed(now), now)
            self._record("reader.present", reader=ev.reader or "", present=self.presence.reader)
            if not self.presence.reader:
                self._alert(now, "reader_absent", "card reader disconnected")
        elif kind in ("pcscd_down", "pcscd_up"):
            self.presence.pcscd = kind == "pcscd_up"
            if not self.presence.pcscd:
                self.presence.reader = self.presence.card = False
                self._alert(now, "pcscd_down", "PC/SC service not reachable")
        self._metrics(now)

    def _on_link(self, now: float) -> None:
        self._commands(self.link.on_readable(now), now)
        self._after(now)

    def _commands(self, commands: list, now: float) -> None:
        for cmd in commands:
            f = cmd.fields
            if cmd.type == "begin":
                self._run(self.session.begin(now, PinType(f["pin_type"]), f.get("action", "verify"),
                                             f.get("operator")), now)
            elif cmd.type == "cancel":
                if self.procedure is not None:
                    self.procedure.cancel(now)
                    self._technician_done(now)
                else:
                    self._run(self.session.cancel(now), now)
            elif cmd.type == "logout":
                self._run(self.session.logout(now), now)
            elif cmd.type == "status_request":
                self.link.send_status(now, **self.status_fields())
            elif cmd.type in ("calibrate", "drift_check"):
                self.start_technician(cmd.type, f["technician"], now)

    def _on_timer(self, now: float) -> None:
        self._timer = None
        self._run(self.session.tick(now), now)
        self._commands(self.link.tick(now), now)
        if self.procedure is not None:
            self.procedure.tick(now)
            if self.procedure.finished:
                self._technician_done(now)
        wake = self.touch.wakeup_s(now)
        if (wake is not None and wake <= now) or self._mouse:
            self._read_touch(now)
        self._watchdog(now)
        if now >= self._next_metrics_s:
            self._metrics(now)
        if now >= self._next_seal_s:
            self._seal(now)
        self._after(now)

    # -------------------------------------------------------------- sealing
    def _check_sealed_trail(self, now: float) -> None:
        """A trail that no longer reaches the last seal (deleted, cut, replaced) is an alert, not a new chain."""
        from kiosk.audit_seal import SealError, Sealer

        if self.audit is None:
            return
        try:
            self.sealer = Sealer(self.cfg.state_dir)
        except SealError as exc:
            self.sealer = None
            self._alert(now, "audit_unsealed", f"audit trail cannot be sealed: {exc}")
            return
        if not self.sealer.active:
            log.warning("audit trail not sealed: run pin-kiosk audit seal-init and keep the verification key")
            return
        problem = self.sealer.check_trail(self.audit)
        if problem is not None:
            log.error("audit trail short: %s", problem)
            self._record("audit.trail_short", reason=problem)
            self._alert(now, "audit_trail_short", f"audit trail missing or shorter than sealed: {problem}")

    def _seal(self, now: float) -> None:
        """Seal what was recorded since the last seal, then forget this epoch's key."""
        self._next_seal_s = now + self.cfg.state.seal_interval_s
        if self.audit is None or self.sealer is None:
            return
        try:
            self.sealer.seal(self.audit)
        except (OSError, ValueError) as exc:
            log.error("audit trail not sealed: %s", exc)

    # ------------------------------------------------------------- technician
    def start_technician(self, kind: str, technician: str, now: float) -> bool:
        """Calibration ("calibrate") or drift check ("drift_check") takes the screen; False if busy."""
        from calibration.procedure import CalibrationProcedure, DriftCheck

        if self.session.active or self.procedure is not None:
            self._alert(now, "busy", f"{kind} refused: a session or procedure is in progress")
            return False
        self._run(self.session.technician(now, True), now)
        if kind == "calibrate":
            self.procedure = CalibrationProcedure(self.cfg.screen, self.cfg.drift, technician, now, self.affine)
        else:
            self.procedure = DriftCheck(self.cfg.screen, self.cfg.drift, technician, now, self.affine)
        self._after(now)
        return True

    def _technician_contact(self, c: Any, x_px: float, y_px: float, now: float) -> None:
        proc = self.procedure
        if c.kind != "up" or c.tap is None:
            return
        if proc.state == "review":
            layout = self._layout
            key = layout.hit(x_px, y_px) if layout is not None else None
            if key == "accept":
                proc.accept(now)
            elif key == "retry":
                proc.retry(now)
        else:
            # the tap's own time, not the loop's: taps read in one batch are not bounces
            proc.tap(c.t_s, c.tap.x_raw, c.tap.y_raw)
        if proc.finished:
            self._technician_done(now)

    def _technician_done(self, now: float) -> None:
        from calibration import store
        from calibration.procedure import ACCEPTED, CalibrationProcedure

        proc, self.procedure = self.procedure, None
        if proc is None:
            return
        if self.technician_done is not None:
            self.technician_done(proc.state)
        if isinstance(proc, CalibrationProcedure):
            if proc.state == ACCEPTED and proc.outcome is not None:
                out = proc.outcome
                before = _matrix_sha(self.affine)
                self.calibrated_at_s = time.time()
                store.install(self.state_dir, out.affine,
                              {"technician": out.technician, "rms_mm": out.rms_mm, "max_mm": out.max_mm,
                               "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                             time.gmtime(self.calibrated_at_s))},
                              axes=self.touch.axes, screen=self.cfg.screen)
                self.affine = out.affine
                self.calibration_source = "active"
                was = self.drift.level
                self.drift.reset_baseline()
                self.drift_pool.wipe()  # sessions typed on the old calibration are not its baseline
                self._drift_changed(LevelChange(was, "ok", "calibrated") if was != "ok" else None, now)
                self._record("calibration", technician=out.technician, outcome="accepted",
                             rms_mm=out.rms_mm, max_mm=out.max_mm, points=len(out.fit_residuals_mm),
                             validation_points=len(out.validation_residuals_mm),
                             rejected_taps=out.rejected_taps, matrix_before_sha256=before,
                             matrix_after_sha256=_matrix_sha(out.affine))
                self.link.send("calibration.result", now, kind="calibrate", ok=True,
                               message="calibration installed", **out.console_fields())
            else:
                outcome = {"timed_out": "timeout"}.get(proc.state, "cancelled")
                self._record("calibration", technician=proc.technician, outcome=outcome)
                self.link.send("calibration.result", now, kind="calibrate", ok=False,
                               technician=proc.technician, message=f"calibration {outcome}, nothing changed")
        else:
            out = proc.outcome
            self.last_drift_check_passed = bool(out is not None and out.passed)
            if out is not None:
                self._record("drift.check", technician=out.technician, passed=out.passed,
                             rms_mm=out.rms_mm, max_mm=out.max_mm)
                self.link.send("calibration.result", now, kind="drift_check", ok=out.passed,
                               technician=out.technician, rms_mm=round(out.rms_mm, 2),
                               max_mm=round(out.max_mm, 2), points=len(out.errors_mm),
                               message="drift check passed" if out.passed else "drift check failed: calibrate")
                self._drift_changed(self.drift.drift_check_result(out.passed), now, measured_mm=out.rms_mm)
            else:
                self.link.send("calibration.result", now, kind="drift_check", ok=False,
                               technician=proc.technician, message="drift check not finished")
        self._run(self.session.technician(now, False), now)

    # ---------------------------------------------------------------- effects
    def _run(self, effects: list, now: float) -> None:
        for e in effects:
            if isinstance(e, CardOp):
                wid = self.card.submit(e.op, e.pin_type, *e.pins, identity=e.identity, shown_tries=e.shown_tries)
                self._card_requests[wid] = e.request_id
            elif isinstance(e, ToConsole):
                fields = e.fields
                if e.type == "session.ended" and self.audit is not None:
                    # the chain head after the session's end record: the console keeps it, so a
                    # rewritten trail no longer matches what the clerk's PC saw
                    fields = {**fields, "audit_head": self.audit.head, "audit_seq": self.audit.seq}
                self.link.send(e.type, now, **fields)
                if e.type == "pin.result":
                    r = e.fields["result"]
                    self.speaker.result(r)
                    self.counters.sessions_by_result[r] = self.counters.sessions_by_result.get(r, 0) + 1
            elif isinstance(e, ToAudit):
                self._record(e.kind, **e.fields)
            elif isinstance(e, SessionClosed):
                self._session_closed(e, now)

    def _session_closed(self, e: SessionClosed, now: float) -> None:
        summary = self.session_drift.summary()
        self.session_drift.wipe()
        self._last_char_key = self._erased_key = self._down_key = None
        pool = self.drift_pool.add(summary, e.wrong_pin)
        if pool:  # the drift figures move only by several sessions at once: none shows one PIN's length
            self._drift_changed(add_pool(self.drift, pool), now)
        self._metrics(now)

    def _drift_changed(self, change: Any, now: float, measured_mm: float | None = None) -> None:
        """Keep the estimator; on a level change tell the console and the audit trail.

        ``measured_mm``: the rms error a technician's drift check measured, when that
        (not the statistics of ordinary taps) moved the level.
        """
        self._save_drift()
        if change is None:
            return
        st = self.drift.status()
        how = (f"drift check measured {measured_mm:.1f} mm rms" if measured_mm is not None
               else f"taps shifted {st['shift_mm']:.1f} mm ({change.reason})")
        self._record("drift.level", level_from=change.old, level_to=change.new, shift_mm=st["shift_mm"],
                     shift_x_mm=st["offset_mm"][0], shift_y_mm=st["offset_mm"][1])
        self.link.send("drift", now, message=f"drift {change.old} -> {change.new}: {how}",
                       **self._drift_fields())
        if change.new != "ok":
            self._alert(now, f"drift_{change.new}", f"touch panel drift: {how}; check or calibrate")

    def _save_drift(self) -> None:
        from kiosk.drift_state import save_estimator

        try:
            save_estimator(self.cfg, self.drift)
        except OSError as exc:
            log.error("drift state not saved: %s", exc)

    def _drift_fields(self) -> dict[str, Any]:
        st = self.drift.status()
        return {"level": st["level"], "shift_mm": st["shift_mm"], "shift_x_mm": st["offset_mm"][0],
                "shift_y_mm": st["offset_mm"][1], "taps": st["taps"],
                "key_fraction": round(st["shift_mm"] / self.drift.key_pitch_mm, 3)}

    def _record(self, kind: str, **fields: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(kind, **fields)
        except (OSError, ValueError) as exc:
            log.error("audit record %s not written: %s", kind, exc)

    def _alert(self, now: float, code: str, message: str) -> None:
        log.warning("alert %s: %s", code, message)
        self._record("alert", code=code, message=message)
        self.link.send("alert", now, code=code, message=message)

    # ----------------------------------------------------------------- status
    def status_fields(self) -> dict[str, Any]:
        st = self.drift.status()
        fields: dict[str, Any] = {
            "state": self.session.state, "reader": self.presence.reader, "card": self.presence.card,
            "touch": self.presence.touch, "session": self.session.active,
            "calibrated": self.calibration_source == "active",
            "drift": {"level": st["level"], "shift_mm": st["shift_mm"],
                      "shift_x_mm": st["offset_mm"][0], "shift_y_mm": st["offset_mm"][1],
                      "taps": st["taps"]},
        }
        if self.audit is not None:
            fields["audit_head"] = self.audit.head
            fields["audit_seq"] = self.audit.seq  # with the head: the console's anchor (audit verify --anchor)
        return fields

    def _metrics(self, now: float) -> None:
        from kiosk.metrics import METRICS_FILE, MetricsSnapshot, status_text, write_metrics

        self._next_metrics_s = now + METRICS_EVERY_S
        st = self.drift.status()
        snap = MetricsSnapshot(
            terminal=self.cfg.terminal.id, sessions_by_result=dict(self.counters.sessions_by_result),
            drift_offset_x_m=st["offset_mm"][0] / 1000, drift_offset_y_m=st["offset_mm"][1] / 1000,
            drift_level=st["level"], link_up=bool(self.link.up),
            link_retransmissions=self.link.retransmissions, card_reader_present=self.presence.reader,
            touch_present=self.presence.touch, audit_records=getattr(self.audit, "seq", 0),
            last_calibration_s=self.calibrated_at_s if self.calibration_source == "active" else None)
        try:
            write_metrics(self.cfg.metrics_dir / METRICS_FILE, snap)
        except OSError as exc:
            log.error("metrics not written: %s", exc)
        status = status_text(snap)
        if self.notifier is not None and status != self._status_sent:
            self._status_sent = status if self.notifier.status(status) else None

    def _watchdog(self, now: float) -> None:
        if self.notifier is None or self._watchdog_s is None or now < self._next_watchdog_s:
            return
        self._next_watchdog_s = now + self._watchdog_s / 2
        # This runs on the loop's own timer, so the loop is alive; the card worker thread and
        # the console journal are asked.  A stuck loop sends nothing and systemd restarts us.
        self.notifier.watchdog([lambda: self.card.alive(now), self.link.alive])

    # ------------------------------------------------------------------ screen
    def current_view(self, now: float) -> View:
        if self.procedure is not None:
            return self.procedure.view(now, self.session.lang)
        return self.session.view()

    def _layout_for(self, view: View) -> KeyLayout:
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

    def _redraw(self, now: float) -> None:
        view = self.current_view(now)
        if view == self._view:
            return
        layout = self._layout_for(view)
        if layout is not self._layout:
            self._last_char_key = self._erased_key = None  # they belong to the old keypad
            if self.tracker is None:
                self.tracker = PressTracker.from_config(layout, self.cfg.keypad)
            else:
                self.tracker.set_layout(layout)
            self._layout = layout
        self._view = view
        if self.display is not None:
            self.display.show(view, layout)
            if self.on_frame is not None:
                self.on_frame(view, self.display.surface)

    # ------------------------------------------------------------------ timer
    def _watch_fds(self) -> None:
        """(Re)register the touch and console descriptors; they change when a device returns."""
        for name, source, callback in (("touch", self.touch, self._on_touch), ("link", self.link, self._on_link)):
            fd = source.fileno()
            if fd != self._fds[name]:
                if self._fds[name] is not None:
                    self.loop.remove_reader(self._fds[name])
                if fd is not None:
                    self.loop.add_reader(fd, callback)
                self._fds[name] = fd

    def _after(self, now: float) -> None:
        """After any event: presence, screen, descriptors, and the one timer."""
        touch_now = bool(self.touch.present)
        if touch_now != self.presence.touch:
            self.presence.touch = touch_now
            self._record("touch.present", device=self.touch.spec, present=touch_now)
            if not touch_now:
                self._alert(now, "touch_absent", f"touch panel absent: {self.touch.absent_reason}")
            self._metrics(now)
        mismatch = self.touch.pipeline.axis_mismatch
        if mismatch and mismatch != self._axis_mismatch:
            self._axis_mismatch = mismatch  # once per device: its contacts are refused meanwhile
            self._alert(now, "touch_axis_mismatch", f"touch panel reports positions off its axes: {mismatch}")
        if bool(self.link.up) != self._link_up:
            self._link_up = bool(self.link.up)
            self._record("console.link", state="up" if self._link_up else "down", port=self.cfg.console.port)
            self._metrics(now)
        self.session.devices("touch_absent" if not self.presence.touch else
                             "no_reader" if not (self.presence.reader and self.presence.pcscd) else None)
        self._redraw(now)
        self._watch_fds()
        deadlines = [self.session.next_deadline_s(), self.link.next_deadline_s(now), self.touch.wakeup_s(now)]
        if self.procedure is not None:
            deadlines.append(self.procedure.wakeup_s())
        if self._watchdog_s is not None:
            deadlines.append(self._next_watchdog_s)
        deadlines.append(self._next_metrics_s)
        deadlines.append(self._next_seal_s)
        if self._mouse:
            deadlines.append(now + MOUSE_POLL_S)  # SDL gives no fd to wait on: desktop demo only
        due = min((d for d in deadlines if d is not None and math.isfinite(d)), default=None)
        if self._timer is not None:
            self.loop.cancel(self._timer)
            self._timer = None
        if due is not None:
            self._timer = self.loop.call_at(max(due, now), self._on_timer)


def _unix_time(iso: Any) -> float | None:
    """``2026-11-26T20:59:27Z`` as Unix time; None when absent or not that form."""
    import calendar
    try:
        return float(calendar.timegm(time.strptime(str(iso), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def _neighbours(layout: KeyLayout, a: str, b: str) -> bool:
    """Keys side by side or diagonal on this keypad (centres within 1.5 key pitches)."""
    if a not in layout.ids or b not in layout.ids:
        return False
    (ax, ay), (bx, by) = layout.key_centre_px(a), layout.key_centre_px(b)
    return math.hypot((ax - bx) / layout.px_per_mm_x, (ay - by) / layout.px_per_mm_y) <= 1.5 * layout.pitch_mm


def _matrix_sha(affine: Affine) -> str:
    import hashlib
    return hashlib.sha256(repr(affine.as_tuple()).encode()).hexdigest()



class StartError(Exception):
    """The kiosk cannot start (screen cannot open, another kiosk holds the state dir): one line, exit 1."""


def open_kiosk(cfg: Config, *, loop: EventLoop, on_frame: Callable[[View, Any], None] | None = None) -> Kiosk:
    """Open every driver the configuration names and wire them into a Kiosk.

    A missing device is a state, not an error: the touch source, card reader and
    console port each start absent and are retried.  A bad spec is a
    configuration error (exit 2); a screen that cannot open, or a state
    directory held by another kiosk, is a StartError (exit 1).
    """
    from drivers.card import CardWorker, open_card, reader_pattern_problem
    from drivers.touch import TouchSpecError, open_touch
    from kiosk.audit import AuditBusy, AuditTrail
    from kiosk.config import ConfigError
    from kiosk.console_link import ConsoleLink
    from kiosk.watchdog import Notifier

    problem = reader_pattern_problem(cfg.card.source, cfg.card)
    if problem is not None:
        raise ConfigError(cfg.source, "card.reader_pattern", problem)
    try:
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        audit = AuditTrail(cfg.state_dir)
    except AuditBusy as exc:
        raise StartError(f"another kiosk is running: {exc}") from None
    except OSError as exc:
        raise StartError(f"state directory {cfg.state_dir} not writable: {exc.strerror or exc}") from None
    try:
        touch = open_touch(cfg.touch.source, cfg.touch)
    except (TouchSpecError, ValueError) as exc:
        audit.close()
        raise ConfigError(cfg.source, "touch.source", str(exc)) from None
    try:
        card = CardWorker(open_card(cfg.card.source, cfg.card))
    except ValueError as exc:
        touch.close()
        audit.close()
        raise ConfigError(cfg.source, "card.source", str(exc)) from None
    from kiosk.console_key import KeyFileError
    try:
        link = ConsoleLink(cfg, cfg.state_dir)
    except KeyFileError as exc:
        for part in (card, touch, audit):
            part.close()
        raise ConfigError(cfg.source, "console.key_file", str(exc)) from None
    from kiosk.ui.display import Display, DisplayError
    from kiosk.ui.fonts import FontError
    try:
        display = Display(cfg.screen, cfg.touch.source)
    except (DisplayError, FontError) as exc:
        for part in (card, link, touch, audit):
            part.close()
        raise StartError(str(exc)) from None
    kiosk = Kiosk(cfg, loop=loop, touch=touch, card=card, link=link, display=display, audit=audit,
                  notifier=Notifier.from_env(), on_frame=on_frame)
    import hashlib
    try:
        digest = hashlib.sha256(Path(cfg.source).read_bytes()).hexdigest()
        kiosk._record("config.loaded", source=cfg.source, sha256=digest)
    except OSError:
        pass
    return kiosk


def run_kiosk(cfg: Config, on_frame: Callable[[View, Any], None] | None = None) -> int:
    """``pin-kiosk run``: start, loop until SIGTERM/SIGINT, shut down cleanly.  Returns the exit code."""
    from kiosk.pin import ARENA
    from kiosk.secret_memory import forbid_core_dumps
    for failure in forbid_core_dumps():
        log.warning("core dumps not forbidden: %s (LimitCORE=0 in the unit still applies)", failure)
    ARENA.prepare()  # map and lock the PIN arena's first page now, to report it once
    if not ARENA.locked:
        log.warning("PIN memory not locked (it may be swapped out): mlock: %s", ARENA.lock_error)
    loop = EventLoop()
    kiosk = open_kiosk(cfg, loop=loop, on_frame=on_frame)
    log.info("pin-kiosk %s running: terminal %s, touch %s, card %s, console %s",
             __version__, cfg.terminal.id, cfg.touch.source, cfg.card.source, cfg.console.port)
    kiosk.start()
    try:
        signum = loop.run()
        if signum is not None:
            log.info("stopping on signal %d", signum)
    finally:
        kiosk.close()
        loop.close()
    return 0


def run_technician(cfg: Config, kind: str, technician: str) -> int:
    """``pin-kiosk calibrate --technician ID`` on the terminal itself, without the service.

    The same procedure the console starts, on the same screen and touch
    source; the process ends with it.  Exit 0 when a calibration was accepted
    (or a drift check passed), 1 otherwise.  If the kiosk service is running
    it holds the state directory: stop it first, or start the procedure from
    the staff console instead.
    """
    loop = EventLoop()
    kiosk = open_kiosk(cfg, loop=loop)
    final: list[str] = []

    def done(state: str) -> None:
        final.append(state)
        loop.stop()

    kiosk.technician_done = done
    kiosk.start()
    kiosk.start_technician(kind, technician, kiosk.clock())
    try:
        loop.run()
    finally:
        kiosk.close()
        loop.close()
    passed = kiosk.last_drift_check_passed if kind == "drift_check" else final == ["accepted"]
    return 0 if passed else 1
