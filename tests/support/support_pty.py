"""Test support for the console link: real ptys, a null-modem cable, a kiosk-side driver process.

* ``open_pty()``: an ``os.openpty`` pair with the slave set raw (as pyserial
  would) and closed, so the far end can open it by name.
* ``NullModem``: two ptys joined master-to-master by a pump thread, each
  behind a symlink, like two USB-serial adapters and a crossover cable.  The
  kiosk opens one symlink, the console the other; the thread records every
  byte each way (the transcript) and can ``cut()`` the kiosk's side: its pty
  vanishes (the kiosk gets EIO) and a new one appears behind the same symlink.
* ``TestConsole``: the console end run in-process over a raw master fd with
  the real ``kiosk.protocol.Link`` and ``kiosk.frames`` (for tests that need
  to watch the console side closely or make it go silent).
* ``python tests/support/support_pty.py kiosk ...``: a kiosk-side process that sends
  numbered events through a real ``ConsoleLink`` (so it can be killed with
  SIGKILL mid-burst).
"""
from __future__ import annotations

import argparse
import errno
import os
import select
import signal
import subprocess
import sys
import threading
import time
import tty
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kiosk import frames  # noqa: E402
from support_scan import pin_in_logs  # noqa: E402
from kiosk.protocol import COMMAND_WINDOW_FRAMES, Acked, Link, Received, Role  # noqa: E402

#: PINs that exist in the kiosk-side process; they must never appear on the wire.
KNOWN_PIN = "4821"  # a 4-digit PIN: may occur by chance inside hex ids, CRCs and times
KNOWN_SIGNATURE_PIN = "K7QX2P9M"  # cannot occur by chance: letters outside hex, uppercase
#: Envelope fields made of random hex, counters and clock digits.
_NUMERIC_ENVELOPE = ("boot", "seq", "ts", "ack", "ack_boot")


def pin_leaks(transcript: bytes, key: bytes | None = None) -> list[str]:
    """Every place in a link transcript where a known PIN shows up.

    The signature PIN is searched in the raw bytes.  The 4-digit PIN is
    searched as a whole token (``support_scan.pin_in_logs``) in every field of
    every frame except the envelope's random and clock digits, and in every
    line that is not a frame at all: a hash such as ``audit_head`` holds four
    given digits by chance about once in a thousand.
    """
    leaks = []
    if KNOWN_SIGNATURE_PIN.encode() in transcript:
        leaks.append("signature PIN in raw bytes")
    for line in transcript.split(b"\n"):
        try:
            frame = frames.decode_line(line, key)
        except frames.FrameError:
            if pin_in_logs(KNOWN_PIN, line):
                leaks.append(f"PIN in a non-frame line {line[:60]!r}")
            continue
        for name, value in frame.items():
            if name not in _NUMERIC_ENVELOPE and pin_in_logs(KNOWN_PIN, str(value).encode()):
                leaks.append(f"PIN in field {name} of {frame['type']}")
    return leaks


def open_pty() -> tuple[int, str]:
    """(master fd, slave path) of a fresh pty whose slave is raw and not held open here."""
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    os.close(slave)
    os.set_blocking(master, False)
    return master, name


def repoint(link: Path, target: str) -> None:
    """Atomically make ``link`` point at ``target`` (what udev does on replug)."""
    tmp = link.with_name(link.name + ".new")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(target)
    os.replace(tmp, link)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError as exc:  # EIO: nobody has the slave open (yet); EAGAIN: nothing
        if exc.errno in (errno.EIO, errno.EAGAIN):
            return b""
        raise


def _write_all(fd: int, data: bytes, give_up_s: float = 2.0) -> None:
    """Write to a master; bytes for a far end that is not there (EIO) are lost, as on a cable."""
    end = time.monotonic() + give_up_s
    while data and time.monotonic() < end:
        try:
            n = os.write(fd, data)
            data = data[n:]
        except OSError as exc:
            if exc.errno == errno.EIO:
                return
            if exc.errno != errno.EAGAIN:
                raise
            time.sleep(0.002)


class NullModem:
    """Two ptys joined by a thread: kiosk_path <-> console_path, with a transcript."""

    def __init__(self, directory: Path) -> None:
        self.kiosk_path = Path(directory) / "kiosk-console"
        self.console_path = Path(directory) / "staff-pc"
        self._lock = threading.Lock()
        self._k_master, k_name = open_pty()
        self._c_master, c_name = open_pty()
        repoint(self.kiosk_path, k_name)
        repoint(self.console_path, c_name)
        self.transcript = bytearray()  # everything either way, in order
        self.cuts = 0
        self._stop = False
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop:
            with self._lock:
                k, c = self._k_master, self._c_master
            try:
                ready, _, _ = select.select([fd for fd in (k, c) if fd >= 0], [], [], 0.01)
            except (OSError, ValueError):
                continue
            with self._lock:
                if k != self._k_master or c != self._c_master:
                    continue
                for src, dst in ((k, c), (c, k)):
                    if src in ready:
                        data = _read(src)
                        if not data:
                            time.sleep(0.002)  # a master without slave polls readable (EIO)
                            continue
                        self.transcript += data
                        if dst >= 0:
                            _write_all(dst, data)

    def cut(self, down_s: float = 0.3) -> None:
        """Pull the kiosk's adapter: its pty vanishes; after ``down_s`` a new one is plugged in."""
        with self._lock:
            os.close(self._k_master)
            self._k_master = -1
            self.kiosk_path.unlink()
        time.sleep(down_s)
        master, name = open_pty()
        with self._lock:
            self._k_master = master
            repoint(self.kiosk_path, name)
        self.cuts += 1

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for fd in (self._k_master, self._c_master):
            if fd >= 0:
                os.close(fd)


class TestConsole:
    """The console role over a raw pty master, driven by the test."""

    __test__ = False  # not a pytest class

    def __init__(self, master_fd: int, retransmit_s: float = 0.2, ack: bool = True,
                 key: bytes | None = None, boot: str = "7e57c0de") -> None:
        self.fd = master_fd
        self.link = Link(Role.CONSOLE, boot, retransmit_s=retransmit_s, window=COMMAND_WINDOW_FRAMES, key=key)
        self.link.opened(time.monotonic())
        self.decoder = frames.FrameDecoder(key)
        self.ack = ack  # False: a console that reads but never answers
        self.received: list[dict[str, Any]] = []  # new frames, in order
        self.raw = bytearray()  # every byte the kiosk wrote
        self.acked: list[int] = []

    def pump(self, duration_s: float = 0.05) -> None:
        end = time.monotonic() + duration_s
        while True:
            now = time.monotonic()
            data = _read(self.fd)
            self.raw += data
            for frame in self.decoder.feed(data):
                for ev in self.link.receive(frame, now):
                    if isinstance(ev, Received):
                        self.received.append(ev.frame)
                    elif isinstance(ev, Acked):
                        self.acked.append(ev.seq)
            lines = self.link.poll(now)
            if self.ack:
                for line in lines:
                    _write_all(self.fd, line)
            if now >= end:
                return
            select.select([self.fd], [], [], 0.005)

    def command(self, type_: str, **fields: Any) -> dict[str, Any]:
        frame, refused = self.link.build(type_, fields)
        assert not refused
        self.link.submit(frame)
        return frame

    def write_raw(self, data: bytes) -> None:
        _write_all(self.fd, data)

    def types(self) -> list[str]:
        return [f["type"] for f in self.received]


def stop_process(p: "subprocess.Popen") -> tuple[str, str]:
    """Stop a process this test started, by its PID: SIGTERM, then SIGKILL after 5 s.

    Returns what was left unread of its stdout and stderr, then closes its pipes.
    """
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    left = []
    for stream in (p.stdout, p.stderr):
        data = ""
        if stream is not None and not stream.closed:
            try:
                os.set_blocking(stream.fileno(), True)
                data = stream.read() or ""
            except (OSError, ValueError, TypeError):
                pass
        left.append(data)
    for stream in (p.stdin, p.stdout, p.stderr):
        if stream is not None:
            try:
                stream.close()
            except (OSError, ValueError):
                pass
    return left[0], left[1]


def wait_for(predicate, timeout_s: float, step=None) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if step is not None:
            step()
        if predicate():
            return True
        if step is None:
            time.sleep(0.01)
    return predicate()


# ---------------------------------------------------------------------------
# The kiosk-side driver process.

def _kiosk_main(argv: list[str]) -> int:
    """Send events 1..N as ``drift`` frames (``taps`` = event number) through a real ConsoleLink.

    The next event number survives a SIGKILL: it is the larger of the last
    number written to --progress and one past the last event still in the
    journal (the crash may fall between the journal append and the progress
    write).  It runs until stopped with SIGTERM, serving acks and retransmissions.
    """
    from kiosk.config import config_from_dict
    from kiosk.console_link import ConsoleLink
    from kiosk.journal import JOURNAL_NAME, Journal
    from kiosk.log import setup_logging
    from kiosk.pin import Pin

    p = argparse.ArgumentParser()
    p.add_argument("--port", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--events", type=int, default=0)
    p.add_argument("--progress", required=True)
    p.add_argument("--per-tick", type=int, default=10, help="events sent per loop turn")
    p.add_argument("--retransmit-s", type=float, default=0.2)
    p.add_argument("--heartbeat-s", type=float, default=1.0)
    p.add_argument("--journal-max", type=int, default=10000)
    a = p.parse_args(argv)
    setup_logging("warning")
    state = Path(a.state_dir)
    cfg = config_from_dict({"terminal": {"id": "test-kiosk"},
                            "console": {"port": a.port, "retransmit_s": a.retransmit_s,
                                        "heartbeat_s": a.heartbeat_s, "reopen_max_s": 0.4,
                                        "journal_max_frames": a.journal_max}})
    progress = Path(a.progress)
    done = int(progress.read_text().split()[-1]) if progress.exists() and progress.read_text().split() else 0
    in_journal = [f.get("taps", 0) for f in Journal(state / JOURNAL_NAME, a.journal_max).load()
                  if f["type"] == "drift"]
    nxt = max([done] + in_journal) + 1
    link = ConsoleLink(cfg, state)
    # A PIN exists in this process, as in the real kiosk; a careless caller tries to send it.
    pin = Pin.from_text(KNOWN_PIN)
    sig = Pin.from_text(KNOWN_SIGNATURE_PIN)
    link.send("pin.result", time.monotonic(), pin_type="user_auth", action="verify", result="ok",
              tries_left=3, pin=str(pin), keys=KNOWN_PIN, key_id=7)
    link.send("pin.result", time.monotonic(), pin_type="signature", action="verify", result="wrong",
              tries_left=4, typed=KNOWN_SIGNATURE_PIN, pin=repr(sig))
    link.send("session.ended", time.monotonic(), reason="logout", cleared=True, last_pin=KNOWN_PIN)
    link.send_status(time.monotonic(), state="idle", reader=True, card=False, touch=True)
    print(f"ready {link.boot} next={nxt}", flush=True)
    fd_progress = os.open(progress, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    while True:
        now = time.monotonic()
        for _ in range(a.per_tick):
            if nxt > a.events:
                break
            link.send("drift", now, level="ok", taps=nxt, shift_mm=0.1)
            os.write(fd_progress, f"{nxt}\n".encode())  # no fsync needed: SIGKILL keeps the page cache
            nxt += 1
        link.tick(now)
        fd = link.fileno()
        deadline = link.next_deadline_s(now)
        timeout = 0.05 if deadline is None else max(0.0, min(0.05, deadline - now))
        if fd is not None:
            ready, _, _ = select.select([fd], [], [], timeout)
            if ready:
                for cmd in link.on_readable(time.monotonic()):
                    if cmd.type == "status_request":
                        link.send_status(time.monotonic())
                    print(f"command {cmd.type} {sorted(cmd.fields.items())}", flush=True)
        else:
            time.sleep(timeout)


if __name__ == "__main__":
    if sys.argv[1:2] == ["kiosk"]:
        sys.exit(_kiosk_main(sys.argv[2:]))
    sys.exit("usage: support_pty.py kiosk --port P --state-dir D --progress F [--events N]")
