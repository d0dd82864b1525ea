"""The one loop's wiring: descriptors and a timer in, the terminal's effects out.

Theory of operation
-------------------
``Kiosk`` owns the drivers and one ``kiosk.terminal.Terminal``, and decides
nothing: every decision is the terminal's (and below it the session's, the
procedures' and the drift estimator's).  The kiosk turns I/O into terminal
events and runs the effects the terminal returns:

* touch fd readable -> contacts -> ``Contact`` (raw panel units);
* card worker fd readable -> ``CardAnswer`` / ``CardPresence``;
* console fd readable -> commands -> ``Command``;
* one timer, re-armed in a ``finally`` at the earliest deadline any part asked
  for (terminal, console retransmission/heartbeat/reopen, touch replay or
  reopen, watchdog, metrics), so an exception inside a handler never leaves
  the loop without a timer: it sleeps in ``select`` until then and never spins;
* after every batch, ``DevicesSeen`` (touch present, axis mismatch, link up):
  the terminal settles the fault screen and says ``Show`` when the view changed.

Devices that are missing are states reported in ``status`` frames and on the
fault screen, never exceptions out of the loop.  SIGTERM/SIGINT stop the loop;
``close`` ends any session (PINs wiped), clears the screen and says ``STOPPING=1``.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

from kiosk import __version__
from kiosk.config import Config
from kiosk.loop import EventLoop, TimerHandle
from kiosk.session import CardOp
from kiosk.terminal import (Alert, Audit, CardAnswer, CardPresence, Command, Contact, DevicesSeen,
                            InstallCalibration, SaveDrift, Send, Show, Shutdown, Sound, StatusReply, TechnicianDone,
                            Terminal, Tick, WriteMetrics, drift_key_pitch_mm, drift_keypad_box_mm)
from kiosk.sound import Speaker
from kiosk.state_files import STATE_FILE_ALERT, SetAside
from kiosk.view import View
from kiosk.vocabulary import AlertCode

log = logging.getLogger("pin_kiosk.app")

#: The metrics file is rewritten at least this often: the fleet alert fires on a file older than 60 s.
METRICS_EVERY_S = 20.0


class Kiosk:
    """Wires drivers to the Terminal on one EventLoop.  See the module docstring."""

    def __init__(self, cfg: Config, *, loop: EventLoop, touch: Any, card: Any, link: Any,
                 display: Any | None, audit: Any | None = None, notifier: Any | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 on_frame: Callable[[View, Any], None] | None = None) -> None:
        from calibration import store
        from kiosk.drift_state import load_estimator

        self.cfg, self.loop, self.touch, self.card, self.link = cfg, loop, touch, card, link
        self.display, self.audit, self.notifier, self.clock, self.on_frame = display, audit, notifier, clock, on_frame
        #: Called with the procedure's final state when a technician procedure ends.
        self.technician_done: Callable[[str], None] | None = None
        affine, cal_status = store.load_active(cfg.state_dir, touch.axes, cfg.screen, set_aside_corrupt=True)
        #: State files that could not be used; reported (alert + audit) by ``start``.
        self.set_aside: list[SetAside] = [*cal_status.set_aside, *getattr(link, "set_aside", ())]
        drift, notice = load_estimator(cfg, drift_key_pitch_mm(cfg), keypad_box_mm=drift_keypad_box_mm(cfg),
                                       set_aside_corrupt=True)
        if notice is not None:
            self.set_aside.append(notice)
        self.calibrated_at_s = _unix_time(cal_status.meta.get("installed_at"))
        self.terminal = Terminal(cfg, affine=affine, calibrated=cal_status.source == "active",
                                 drift=drift,
                                 touch_present=bool(getattr(touch, "present", False)))
        self._cal_status = cal_status
        self._card_requests: dict[int, int] = {}  # worker request id -> session request id
        self._timer: TimerHandle | None = None
        self._fds: dict[str, int | None] = {"touch": None, "link": None}
        self._watchdog_s = notifier.watchdog_interval_s() if notifier is not None else None
        self._next_watchdog_s = 0.0
        self._status_sent: str | None = None  # the STATUS= systemd has, resent only when it changes
        self._next_metrics_s = 0.0
        self.sealer: Any = None  # kiosk.audit_seal.Sealer, set at start
        self._next_seal_s = self.clock() + cfg.state.seal_interval_s
        self.link.status_provider = self.status_fields
        # sound only with a screen (SDL is up)
        self.speaker = Speaker(cfg.sound.enabled and display is not None, cfg.sound.volume)

    @property
    def affine(self) -> Any:
        """The calibration matrix in use (the terminal's)."""
        return self.terminal.affine

    @property
    def last_drift_check_passed(self) -> bool:
        return self.terminal.last_drift_check_passed

    # ------------------------------------------------------------ start, stop
    def start(self) -> None:
        from kiosk.boot_clock import clock_synchronized, kernel_boot_id

        now = self.clock()
        self._check_sealed_trail(now)
        self._record("boot", version=__version__, terminal=self.cfg.terminal.id, boot=self.link.boot,
                     kernel_boot=kernel_boot_id(), clock="synced" if clock_synchronized() else "unsynced")
        self._report_state_files(now)
        cal = self._cal_status
        self._run(self.terminal.boot(now, touch_is_panel=self.touch.spec.startswith("evdev:"),
                                     touch_absent_reason=self.touch.absent_reason,
                                     calibration_alert=cal.alert, calibration_detail=cal.detail), now)
        self.loop.add_reader(self.card.fileno(), self._on_card)
        self._watch_fds()
        self._metrics(now)
        if self.notifier is not None:
            self.notifier.ready(self._status_sent or "pin-kiosk running")
        self._after(now)

    def _report_state_files(self, now: float) -> None:
        """What the start found in the state directory and could not use: audit record and alert each."""
        fx: list = []
        for notice in self.set_aside:
            self._record("state.set_aside", file=notice.file, reason=notice.reason[:256],
                         kept_as=notice.kept_as or None)
            fx.append(Alert(STATE_FILE_ALERT, notice.message()))
        broken = getattr(self.audit, "broken_line", None)
        if broken is not None:
            fx.append(Alert(AlertCode.AUDIT_CHAIN_BROKEN, f"audit trail does not verify at line {broken}: "
                            "run pin-kiosk audit verify and keep the file"))
        self._run(fx, now)

    def close(self) -> None:
        """Stop: card worker first (so no Pin is lent), then end the session, clear, report."""
        now = self.clock()
        if self.notifier is not None:
            self.notifier.stopping()
        self.card.close()
        self._run(self.terminal.handle(Shutdown(now)), now)
        self.link.tick(now)
        if self.display is not None:
            self.display.clear()
        self._record("shutdown", reason="signal")
        self._seal(now)
        self._metrics(now)
        self.link.close()
        self.touch.close()

    def start_technician(self, kind: str, technician: str, now: float) -> None:
        """``pin-kiosk calibrate --technician``: the procedure the console would start."""
        self._run(self.terminal.start_technician(now, kind, technician), now)
        self._after(now)

    # ------------------------------------------------------------------ events
    def _on_touch(self, now: float) -> None:
        try:
            self._read_touch(now)
        finally:
            self._after(now)

    def _read_touch(self, now: float) -> None:
        for c in self.touch.read(now):
            tap = (c.tap.x_raw, c.tap.y_raw) if c.tap is not None else None
            self._run(self.terminal.handle(Contact(now, c.kind, c.x_raw, c.y_raw, c.t_s, tap)), now)

    def _on_card(self, now: float) -> None:
        try:
            for ev in self.card.drain():
                if ev.kind == "result":
                    rid = self._card_requests.pop(ev.request_id, None)
                    if rid is not None:
                        r = ev.result
                        self._run(self.terminal.handle(CardAnswer(now, rid, r.outcome, r.tries_left, r.identity,
                                                                  r.valid_until, r.resident_registry_aid)), now)
                else:
                    self._run(self.terminal.handle(CardPresence(now, ev.kind, ev.reader or "")), now)
        finally:
            self._after(now)

    def _on_link(self, now: float) -> None:
        try:
            self._commands(self.link.on_readable(now), now)
        finally:
            self._after(now)

    def _commands(self, commands: list, now: float) -> None:
        for cmd in commands:
            self._run(self.terminal.handle(Command(now, cmd.type, cmd.fields)), now)

    def _on_timer(self, now: float) -> None:
        self._timer = None
        try:
            self._run(self.terminal.handle(Tick(now)), now)
            self._commands(self.link.tick(now), now)
            wake = self.touch.wakeup_s(now)
            if wake is not None and wake <= now:
                self._read_touch(now)
            self._watchdog(now)
            if now >= self._next_metrics_s:
                self._metrics(now)
            if now >= self._next_seal_s:
                self._seal(now)
        finally:
            self._after(now)  # re-arms the timer even when a handler raised

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
            self._run([Alert(AlertCode.AUDIT_UNSEALED, f"audit trail cannot be sealed: {exc}")], now)
            return
        if not self.sealer.active:
            log.warning("audit trail not sealed: run pin-kiosk audit seal-init and keep the verification key")
            return
        problem = self.sealer.check_trail(self.audit)
        if problem is not None:
            log.error("audit trail short: %s", problem)
            self._record("audit.trail_short", reason=problem)
            self._run([Alert(AlertCode.AUDIT_TRAIL_SHORT, f"audit trail missing or shorter than sealed: {problem}")],
                      now)

    def _seal(self, now: float) -> None:
        """Seal what was recorded since the last seal, then forget this epoch's key."""
        self._next_seal_s = now + self.cfg.state.seal_interval_s
        if self.audit is None or self.sealer is None:
            return
        try:
            self.sealer.seal(self.audit)
        except (OSError, ValueError) as exc:
            log.error("audit trail not sealed: %s", exc)

    # ---------------------------------------------------------------- effects
    def _run(self, effects: list, now: float) -> None:
        for e in effects:
            if isinstance(e, CardOp):
                wid = self.card.submit(e.op, e.pin_type, *e.pins, identity=e.identity, shown_tries=e.shown_tries)
                self._card_requests[wid] = e.request_id
            elif isinstance(e, Send):
                fields = e.fields
                if e.type == "session.ended" and self.audit is not None:
                    # the chain head after the session's end record: the console keeps it, so a
                    # rewritten trail no longer matches what the clerk's PC saw
                    fields = {**fields, "audit_head": self.audit.head, "audit_seq": self.audit.seq}
                self.link.send(e.type, now, **fields)
            elif isinstance(e, Audit):
                self._record(e.kind, **e.fields)
            elif isinstance(e, Alert):
                log.warning("alert %s: %s", e.code, e.message)
                self._record("alert", code=e.code, message=e.message)
                self.link.send("alert", now, code=e.code, message=e.message)
            elif isinstance(e, Show):
                if self.display is not None:
                    self.display.show(e.view, e.layout)
                    if self.on_frame is not None:
                        self.on_frame(e.view, self.display.surface)
            elif isinstance(e, StatusReply):
                self.link.send_status(now, **self.status_fields())
            elif isinstance(e, WriteMetrics):
                self._metrics(now)
            elif isinstance(e, SaveDrift):
                self._save_drift()
            elif isinstance(e, InstallCalibration):
                self._install(e)
            elif isinstance(e, Sound):
                self.speaker.play(e.name)
            elif isinstance(e, TechnicianDone) and self.technician_done is not None:
                self.technician_done(e.state)

    def _install(self, e: InstallCalibration) -> None:
        from calibration import store

        self.calibrated_at_s = time.time()
        meta = {**e.meta, "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.calibrated_at_s))}
        store.install(self.cfg.state_dir, e.affine, meta, axes=self.touch.axes, screen=self.cfg.screen)

    def _save_drift(self) -> None:
        from kiosk.drift_state import save_estimator

        try:
            save_estimator(self.cfg, self.terminal.drift)
        except OSError as exc:
            log.error("drift state not saved: %s", exc)

    def _record(self, kind: str, **fields: Any) -> None:
        if self.audit is None:
            return
        try:
            self.audit.record(kind, **fields)
        except (OSError, ValueError) as exc:
            log.error("audit record %s not written: %s", kind, exc)

    # ----------------------------------------------------------------- status
    def status_fields(self) -> dict[str, Any]:
        fields = self.terminal.status_fields()
        if self.audit is not None:
            fields["audit_head"] = self.audit.head
            fields["audit_seq"] = self.audit.seq  # with the head: the console's anchor (audit verify --anchor)
        return fields

    def _metrics(self, now: float) -> None:
        from kiosk.metrics import METRICS_FILE, MetricsSnapshot, status_text, write_metrics

        self._next_metrics_s = now + METRICS_EVERY_S
        t = self.terminal
        st = t.drift.status()
        snap = MetricsSnapshot(
            terminal=self.cfg.terminal.id, sessions_by_result=dict(t.sessions_by_result),
            drift_offset_x_m=st["offset_mm"][0] / 1000, drift_offset_y_m=st["offset_mm"][1] / 1000,
            drift_level=st["level"], link_up=bool(self.link.up),
            link_retransmissions=self.link.retransmissions, card_reader_present=t.devices.reader,
            touch_present=t.devices.touch, audit_records=getattr(self.audit, "seq", 0),
            last_calibration_s=self.calibrated_at_s if t.calibrated else None)
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
        """After any batch: what the drivers show, the screen, the descriptors, and the one timer."""
        try:
            seen = DevicesSeen(now, bool(self.touch.present), self.touch.absent_reason,
                               self.touch.pipeline.axis_mismatch, bool(self.link.up))
            self._run(self.terminal.handle(seen), now)
            self._watch_fds()
        finally:
            self._arm_timer(now)

    def _arm_timer(self, now: float) -> None:
        deadlines = [self.terminal.next_deadline_s(), self.link.next_deadline_s(now), self.touch.wakeup_s(now),
                     self._next_metrics_s, self._next_seal_s]
        if self._watchdog_s is not None:
            deadlines.append(self._next_watchdog_s)
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


def _remove_stale_temps(cfg: Config) -> None:
    """Temp files of atomic writes a power cut or a kill -9 interrupted: never read, only in the way."""
    from calibration.store import calibration_dir
    from kiosk.durable import remove_stale_temps

    removed = []
    for directory in dict.fromkeys((cfg.state_dir, calibration_dir(cfg.state_dir), cfg.metrics_dir)):
        try:
            removed += remove_stale_temps(directory)
        except OSError as exc:
            log.error("temporary files in %s not removed: %s", directory, exc.strerror or type(exc).__name__)
    if removed:
        log.warning("removed %d temporary files of interrupted writes (power cut or kill)", len(removed))


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
    _remove_stale_temps(cfg)  # the trail's lock says no other kiosk writes here
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
