"""The kiosk's end of the staff console link: what the app loop holds.

Theory of operation
-------------------
``ConsoleLink`` ties four things together and adds nothing of its own but the
wiring: ``kiosk.frames`` (bytes <-> frames), ``kiosk.protocol.Link`` (seq,
acks, retransmission, dedup, command validation, link states),
``kiosk.journal.Journal`` (durable until acked) and
``drivers.serial_link.SerialPort`` (the non-blocking port that comes and goes).

The app loop registers ``fileno()`` with its selector (re-reading it after
every call: it changes when the port is reopened, and is None while down),
calls ``on_readable(now_s)`` when it is readable and ``tick(now_s)`` when
``next_deadline_s()`` has passed, and calls ``send``/``send_status`` for its
events (``status_provider``, if set, refreshes the heartbeat's fields).  Both
``on_readable`` and ``tick`` return the console's commands to act on (``tick``
only for a port without a descriptor, such as ``loop://``, which it polls).  Nothing here blocks: writes that the port does not take at once wait
in a buffer flushed on the next call.  Errors of the port are a state
(``up`` is False), never an exception into the loop.

Exactly once, both ways: kiosk frames survive restarts in the journal and
the console deduplicates them; console commands the kiosk acted on are kept
(``SEEN_COMMANDS_NAME``, the last 256, rewritten at most once a second: a
flood of commands costs the SD card one write a second, and a command acted on
in the last second before a power cut may be acted on again if retransmitted
over a version-1 link; in version 2 it is addressed to the old boot and refused)
so a command retransmitted across a kiosk restart is acked but not acted on twice.

Only ``now_s`` (the loop's monotonic clock) drives timing; the wall clock is
read once per frame for its ``ts`` field.
"""
from __future__ import annotations

import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from drivers.serial_link import PortLost, SerialPort
from kiosk import __version__, frames, state_files
from kiosk.config import Config
from kiosk.console_key import fingerprint, load_key
from kiosk.durable import write_atomic
from kiosk.journal import JOURNAL_NAME, OVERFLOW_CODE, Journal
from kiosk.protocol import SILENT_HEARTBEATS, Acked, Command, Event, Greeted, Link, LinkState, Rejected, Role

log = logging.getLogger("pin_kiosk.console")

#: Console commands acted on, kept across restarts (state dir), so a retransmission
#: arriving after a kiosk restart is acked but not acted on again.
SEEN_COMMANDS_NAME = "console-commands-seen.json"
SEEN_COMMANDS_KEPT = 256
#: 256 pairs of a 64-character boot and a seq: about 20 KB at most.
SEEN_COMMANDS_MAX_BYTES = 64 << 10
#: The commands-seen file is rewritten at most this often (an SD card wears with every write).
SEEN_WRITE_INTERVAL_S = 1.0
#: At most one ``bad_command`` alert this often; the others are counted into the next one.
BAD_COMMAND_ALERT_INTERVAL_S = 1.0
#: Stop adding retransmissions while this much is still waiting for the port.
WRITE_BACKLOG_BYTES = 8192
#: A port without a descriptor (loop://) is polled this often.
POLL_S = 0.02


def new_boot() -> str:
    """A fresh random sender id for this process (16 hex digits)."""
    return secrets.token_hex(8)


def utc_timestamp(wall_s: float) -> str:
    """UTC ISO 8601 with milliseconds, e.g. 2026-11-26T20:25:13.123Z."""
    return datetime.fromtimestamp(wall_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LinkEnd:
    """One end of the link over one port: bytes <-> frames <-> ``Link``, non-blocking.

    Shared by the kiosk (``ConsoleLink``) and the reference staff console so
    both ends read, write, buffer and recover from a lost port the same way.
    """

    def __init__(self, link: Link, port: SerialPort) -> None:
        self.link = link
        self.port = port
        self.decoder = frames.FrameDecoder(link.key)
        self.out = bytearray()

    def fileno(self) -> int | None:
        return self.port.fileno()

    def open_if_due(self, now_s: float, hello: Callable[[], dict[str, Any]] | None = None) -> bool:
        """Try to (re)open a closed port; True when it is open now."""
        if self.port.is_open:
            return True
        if not self.port.try_open(now_s):
            return False
        self.decoder.reset()
        self.out.clear()
        self.link.opened(now_s, hello() if hello is not None else None)
        return True

    def receive(self, now_s: float) -> list[Event]:
        """Read what arrived and hand every frame to the Link; its events, in order."""
        if not self.port.is_open:
            return []
        try:
            data = self.port.read()
        except PortLost as exc:
            self.lose(now_s, str(exc))
            return []
        events: list[Event] = []
        for frame in self.decoder.feed(data):
            events.extend(self.link.receive(frame, now_s))
        return events

    def flush(self, now_s: float) -> None:
        """Queue what the Link has due and write what the port takes now."""
        if not self.port.is_open:
            return
        room = max(0, WRITE_BACKLOG_BYTES - len(self.out))
        for line in self.link.poll(now_s, room):
            self.out += line
        try:
            while self.out:
                with memoryview(self.out) as view:  # released before the buffer is resized
                    n = self.port.write(view)
                if n <= 0:
                    break
                del self.out[:n]
        except PortLost as exc:
            self.lose(now_s, str(exc))

    def lose(self, now_s: float, why: str) -> None:
        if self.link.state is not LinkState.DOWN:
            log.warning("console link down: %s", why)
        self.port.lost(now_s, why)
        self.link.lost(now_s)
        self.out.clear()
        self.decoder.reset()

    def next_deadline_s(self, now_s: float) -> float | None:
        if not self.port.is_open:
            return self.port.reopen_due_s()
        if self.out or self.port.needs_polling:
            return now_s + POLL_S
        return self.link.next_deadline_s(now_s)

    def close(self) -> None:
        """Write what the port takes now and close it."""
        if self.port.is_open and self.out:
            try:
                self.port.write(bytes(self.out))
            except PortLost:
                pass
        self.port.close()


class ConsoleLink:
    """The kiosk side of the console link: frames out (journaled), commands in."""

    def __init__(self, cfg: Config, state_dir: Path, boot: str | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        c = cfg.console
        self.boot = boot or new_boot()
        self._wall = wall_clock
        key = load_key(c.key_file)  # KeyFileError for a present but unusable file
        if key is None:
            log.warning("console link unauthenticated: no key file %s (pin-kiosk key create): "
                        "anyone on the serial line is the console", c.key_file)
        else:
            log.info("console link authenticated (protocol 2), key fingerprint %s", fingerprint(key))
        self._link = Link(Role.KIOSK, self.boot, retransmit_s=c.retransmit_s,
                          heartbeat_s=c.heartbeat_s, terminal=cfg.terminal.id, key=key)
        self._journal = Journal(Path(state_dir) / JOURNAL_NAME, c.journal_max_frames)
        self._journal_ok = True
        self._state_dir = Path(state_dir)
        #: State files that could not be used at start (the app reports them).
        self.set_aside: list[state_files.SetAside] = []
        try:
            replay = self._journal.load()
        except OSError as exc:  # unreadable (EIO, EACCES, a directory): moved away, so appends work again
            notice = state_files.set_aside(self._journal.path, self._state_dir, exc.strerror or type(exc).__name__,
                                           "starting with an empty journal: console events may be lost")
            self.set_aside.append(notice)
            self._journal_ok = bool(notice.kept_as)  # not movable (no state directory): the watchdog hears it
            replay = []
        if self._journal.set_aside is not None:
            self.set_aside.append(self._journal.set_aside)
        version = frames.version_for(self._link.key)
        for frame in replay:
            if frame["v"] != version:  # journaled before the console key was provisioned, or removed
                frame = {**frame, "v": version}
            self._link.submit(frame)
        if replay:
            log.info("console journal: replaying %d unacknowledged frames", len(replay))
        self._seen_path = Path(state_dir) / SEEN_COMMANDS_NAME
        self._seen_commands: deque[tuple[str, int]] = deque(self._load_seen(), maxlen=SEEN_COMMANDS_KEPT)
        self._link.remember(self._seen_commands)
        self._seen_dirty = False
        self._seen_written_s: float | None = None
        self._bad_alert_s: float | None = None
        self._bad_suppressed = 0
        self._end = LinkEnd(self._link, SerialPort(c.port, c.baudrate, c.reopen_max_s))
        self._status: dict[str, Any] = {}
        #: Optional: called at each heartbeat for fresh status fields.
        self.status_provider: Callable[[], dict[str, Any]] | None = None
        self._reporting = False
        self.rejected = 0

    def _load_seen(self) -> list[tuple[str, int]]:
        """The kept (boot, seq) of commands acted on; a file that fails is set aside, and forgotten."""
        try:
            doc = state_files.parse_json(self._seen_path.read_bytes(), max_bytes=SEEN_COMMANDS_MAX_BYTES)
            pairs = state_files.array(doc, "commands seen", SEEN_COMMANDS_KEPT)
            seen = []
            for pair in pairs:
                boot, seq = state_files.array(pair, "command", 2, length=2)
                seen.append((state_files.text(boot, "command boot", frames.MAX_BOOT_CHARS),
                             state_files.integer(seq, "command seq", 0, frames.MAX_SEQ)))
            return seen
        except FileNotFoundError:
            return []
        except (OSError, state_files.StateFileError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self.set_aside.append(state_files.set_aside(
                self._seen_path, self._state_dir, why,
                "a command the console resends after this restart may be carried out twice"))
            return []

    def _acted_on(self, cmd: Command, now_s: float) -> None:
        """Keep the command's (boot, seq) across a restart: a retransmission must not act twice."""
        self._seen_commands.append((cmd.boot, cmd.seq))
        self._seen_dirty = True
        self._save_seen(now_s)

    def _save_seen(self, now_s: float | None) -> None:
        """Write the commands-seen file if it changed and the last write is a second old (None: now)."""
        if not self._seen_dirty:
            return
        if now_s is not None and self._seen_written_s is not None \
                and now_s - self._seen_written_s < SEEN_WRITE_INTERVAL_S:
            return
        self._seen_dirty = False
        self._seen_written_s = now_s
        try:
            write_atomic(self._seen_path, json.dumps([list(k) for k in self._seen_commands]).encode("ascii"))
        except OSError as exc:
            log.error("console: commands-seen file not written: %s", exc)

    def _refused(self, reason: str, now_s: float) -> None:
        """A bad command: one alert a second at most, carrying how many more were refused."""
        self.rejected += 1
        if self._bad_alert_s is not None and now_s - self._bad_alert_s < BAD_COMMAND_ALERT_INTERVAL_S:
            self._bad_suppressed += 1
            return
        log.warning("console command refused: %s", reason)
        more = f" (+{self._bad_suppressed} more refused)" if self._bad_suppressed else ""
        self._bad_alert_s, self._bad_suppressed = now_s, 0
        self.send("alert", now_s, code="bad_command", level="warning", message=(reason + more)[:200])

    # -- what the loop reads ---------------------------------------------------

    def fileno(self) -> int | None:
        """The port's descriptor for the loop's selector; None while down (or for loop://)."""
        return self._end.fileno()

    @property
    def up(self) -> bool:
        """The port is open and the console acked our hello."""
        return self._link.state is LinkState.UP

    @property
    def state(self) -> LinkState:
        return self._link.state

    @property
    def rx_errors(self) -> int:
        """Received lines dropped (bad CRC, not JSON, over-long, bad envelope)."""
        return self._end.decoder.dropped_total

    @property
    def authenticated(self) -> bool:
        """The link speaks version 2: only a holder of the terminal's key is the console."""
        return self._link.key is not None

    @property
    def rx_unauthenticated(self) -> int:
        """Frames refused as not from the key holder: bad or missing MAC, addressed to an
        earlier kiosk process, or replays too old to be retransmissions."""
        return self._end.decoder.unauthenticated + self._link.stale + self._link.replays

    @property
    def retransmissions(self) -> int:
        return self._link.retransmissions

    @property
    def pending(self) -> int:
        """Reliable frames not yet acked (what the journal holds)."""
        return self._link.pending

    def alive(self) -> bool:
        """For the watchdog: False when the journal cannot be written (a down link is still alive)."""
        return self._journal_ok

    def next_deadline_s(self, now_s: float | None = None) -> float | None:
        """When ``tick`` next has work: a retransmission, heartbeat, reopen, or a pending write."""
        now_s = time.monotonic() if now_s is None else now_s
        due = self._end.next_deadline_s(now_s)
        if self._seen_dirty and self._seen_written_s is not None:
            seen_due = self._seen_written_s + SEEN_WRITE_INTERVAL_S
            due = seen_due if due is None else min(due, seen_due)
        return due

    # -- what the loop does ----------------------------------------------------

    def send(self, type: str, now_s: float, **fields: Any) -> dict[str, Any] | None:
        """Journal and send one kiosk event; returns the frame, or None if it was refused.

        Fields outside the schema of ``type`` (kiosk.protocol.KIOSK_FRAMES) are
        left out and their names logged; a missing required field refuses the frame.
        """
        try:
            frame, refused = self._link.build(type, fields, utc_timestamp(self._wall()))
        except (ValueError, frames.FrameError) as exc:
            log.error("console frame %s not sent: %s (fields: %s)", type, exc, ", ".join(sorted(fields)))
            return None
        if refused:
            log.error("console frame %s: fields not in the schema were left out: %s", type, ", ".join(refused))
        if type == "status":
            self._link.send_unreliable(frame)
        else:
            self._journal_frame(frame)
            self._link.submit(frame)
            self._report_overflow(now_s)  # journaled right behind the frame that overflowed
        self._end.flush(now_s)
        return frame

    def send_status(self, now_s: float, **fields: Any) -> None:
        """Remember the terminal's state and send a heartbeat now (also sent every heartbeat_s)."""
        self._status.update(fields)
        self._heartbeat(now_s)

    def _heartbeat(self, now_s: float) -> None:
        if self.status_provider is not None:
            try:
                self._status.update(self.status_provider())
            except Exception:  # a broken provider must not stop the link
                log.exception("status provider failed")
        fields = dict(self._status, rx_errors=self.rx_errors, link=self._link.state.value,
                      journal_frames=self.pending, authenticated=self.authenticated,
                      rx_unauthenticated=self.rx_unauthenticated, rx_rate_limited=self._link.rate_limited)
        self._link.heartbeat_sent(now_s)
        self.send("status", now_s, **fields)

    def _journal_frame(self, frame: dict[str, Any]) -> None:
        try:
            dropped = self._journal.append(frame)
            self._journal_ok = True
        except OSError as exc:
            self._journal_ok = False
            log.error("console journal write failed, frame %d kept in memory only: %s", frame["seq"], exc)
            return
        for key in dropped:
            self._link.forget(key)
        if dropped:
            log.warning("console journal full: dropped %d oldest frames", len(dropped))

    def _report_overflow(self, now_s: float) -> None:
        """One overflow alert in flight at a time, carrying every frame lost since the last.

        The journal counts the loss durably, so the count survives a restart.
        """
        j = self._journal
        if j.lost and not j.overflow_alert_pending and not self._reporting:
            self._reporting = True  # the alert's own append may drop another frame: no recursion
            try:
                self.send("alert", now_s, code=OVERFLOW_CODE, level="fault", lost=j.lost,
                          message=f"console journal full: {j.lost} oldest events lost")
            finally:
                self._reporting = False

    def on_readable(self, now_s: float) -> list[Command]:
        """Read what arrived; ack, deduplicate and validate; return the commands to act on."""
        commands: list[Command] = []
        acked = []
        for ev in self._end.receive(now_s):
            if isinstance(ev, Command):
                self._acted_on(ev, now_s)
                commands.append(ev)
            elif isinstance(ev, Acked):
                acked.append((ev.boot, ev.seq))
            elif isinstance(ev, Rejected):
                self._refused(ev.reason, now_s)
            elif isinstance(ev, Greeted):
                log.info("console link up")
        if acked:
            try:
                self._journal.remove(acked)
            except OSError as exc:
                self._journal_ok = False
                log.error("console journal: could not record acks: %s", exc)
        self._report_overflow(now_s)
        self._end.flush(now_s)
        return commands

    def tick(self, now_s: float) -> list[Command]:
        """Reopen a lost port, regreet a silent console, heartbeat, retransmit, flush.

        Returns commands only for a port without a descriptor (loop://), which
        is read here because the loop cannot select on it; otherwise [].
        """
        self._save_seen(now_s)
        if not self._end.open_if_due(now_s, self._hello):
            return []
        commands = self.on_readable(now_s) if self._end.port.needs_polling else []
        if self._link.peer_silent(now_s):
            log.warning("console silent for %d heartbeats: greeting again", SILENT_HEARTBEATS)
            self._link.regreet(self._hello())
        if self._link.heartbeat_due(now_s):
            self._heartbeat(now_s)
        self._report_overflow(now_s)
        self._end.flush(now_s)
        return commands

    def _hello(self) -> dict[str, Any]:
        frame, _ = self._link.build("hello", {"version": self._link.version, "software": __version__},
                                    utc_timestamp(self._wall()))
        return frame

    def close(self) -> None:
        """Write what the port takes now and close it; the journal keeps the unacked rest."""
        self._save_seen(None)
        self._end.close()
