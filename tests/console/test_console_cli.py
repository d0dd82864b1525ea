"""The reference staff console: command parsing, plain lines, and the real CLI over socket:// and ptys."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from kiosk import frames
from kiosk.commands.console import ALERT_PREFIX, describe, parse_command
from kiosk.protocol import Command, Greeted, Link, Role
from support_pty import NullModem, pin_leaks, stop_process, wait_for
from support_repo import ROOT

SUPPORT = ROOT / "tests" / "support" / "support_pty.py"


@pytest.mark.parametrize("line,expected", [
    ("begin user_auth", ("begin", {"pin_type": "user_auth", "action": "verify"})),
    ("begin signature change", ("begin", {"pin_type": "signature", "action": "change"})),
    ("begin signature change clerk-7", ("begin", {"pin_type": "signature", "action": "change", "operator": "clerk-7"})),
    ("begin resident_registry clerk-7", ("begin", {"pin_type": "resident_registry", "action": "verify",
                                                   "operator": "clerk-7"})),
    ("cancel", ("cancel", {})),
    ("logout", ("logout", {})),
    ("status", ("status_request", {})),
    ("drift-check T01", ("drift_check", {"technician": "T01"})),
    ("drift_check T01", ("drift_check", {"technician": "T01"})),
    ("calibrate T01", ("calibrate", {"technician": "T01"})),
    ("   ", None),
])
def test_parse_command(line, expected):
    assert parse_command(line) == expected


@pytest.mark.parametrize("line", ["begin", "begin bank", "begin signature change a b", "calibrate",
                                  "drift-check a b", "reboot", "cancel now"])
def test_parse_command_errors_are_one_line(line):
    with pytest.raises(ValueError) as exc:
        parse_command(line)
    assert "\n" not in str(exc.value)


def test_plain_lines_in_japanese_and_english_and_alerts_flagged():
    text, alert = describe({"type": "pin.result", "terminal": "c-1", "pin_type": "user_auth", "action": "verify",
                            "result": "wrong", "tries_left": 2})
    assert "利用者証明用" in text and "user authentication" in text and "2" in text and not alert
    assert describe({"type": "pin.result", "pin_type": "signature", "action": "verify", "result": "locked",
                     "tries_left": 0})[1]
    assert describe({"type": "drift", "level": "warn", "shift_mm": 1.8, "taps": 90})[1]
    assert not describe({"type": "drift", "level": "ok", "shift_mm": 0.2, "taps": 90})[1]
    assert describe({"type": "alert", "code": "reader_gone", "message": "no reader"})[1]
    assert describe({"type": "calibration.result", "kind": "drift_check", "ok": False})[1]
    text, alert = describe({"type": "session.ended", "reason": "timeout", "cleared": True})
    assert "消去済み" in text and "cleared" in text and not alert
    assert describe({"type": "status", "state": "idle", "drift": {"level": "alert", "shift_mm": 4}})[1]
    assert describe({"type": "mystery"})[0].startswith("[?] ?")


def pin_kiosk(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "kiosk", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


class FakeKiosk:
    """The kiosk role of the pure Link over an accepted TCP connection (the console under test is real)."""

    def __init__(self, conn):
        self.conn = conn
        conn.setblocking(False)
        self.link = Link(Role.KIOSK, "feedfacecafebeef", retransmit_s=0.2, heartbeat_s=60, terminal="tcp-1")
        self.link.opened(time.monotonic(), self.link.build("hello", {"version": 1}, "ts")[0])
        self.dec = frames.FrameDecoder()
        self.events = []
        self.raw = bytearray()
        self.deaf = False  # True: read and discard (the console's frames are lost on the way)

    def send(self, type_, **fields):
        self.link.submit(self.link.build(type_, fields, "2026-11-26T00:00:00Z")[0])

    def pump(self, seconds=0.05):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.conn.recv(65536)
            except BlockingIOError:
                data = b""
            self.raw += data
            if self.deaf:
                data = b""
            for f in self.dec.feed(data):
                self.events += self.link.receive(f, time.monotonic())
            for line in self.link.poll(time.monotonic()):
                self.conn.sendall(line)
            time.sleep(0.01)


@pytest.mark.stack
def test_cli_over_socket_url_shows_lines_sends_commands_and_exits_after_acks():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    p = pin_kiosk("console", "--port", f"socket://127.0.0.1:{port}")
    try:
        server.settimeout(10)
        conn, _ = server.accept()
        kiosk = FakeKiosk(conn)
        assert wait_for(lambda: any(isinstance(e, Greeted) for e in kiosk.events), 5, kiosk.pump)
        kiosk.send("entry.started", pin_type="signature", action="change", tries_left=5)
        kiosk.send("drift", level="warn", shift_mm=1.9, taps=120)
        kiosk.send("pin.result", pin_type="signature", action="change", result="ok", tries_left=5)
        kiosk.pump(0.3)
        assert kiosk.link.pending == 0
        p.stdin.write("begin signature change clerk-3\nbogus\nlogout\n")
        p.stdin.close()  # end of input: the console leaves once both commands are acked
        assert wait_for(lambda: p.poll() is not None, 10, kiosk.pump)
        out, err = p.stdout.read(), p.stderr.read()
    finally:
        stop_process(p)
        server.close()
    assert p.returncode == 0, err
    cmds = [(e.type, e.fields) for e in kiosk.events if isinstance(e, Command)]
    assert cmds == [("begin", {"pin_type": "signature", "action": "change", "operator": "clerk-3"}),
                    ("logout", {})]
    lines = out.splitlines()
    assert any("端末と接続しました" in ln and "terminal connected" in ln for ln in lines)
    assert any("署名用電子証明書" in ln and "signature certificate" in ln and "残り5回" in ln for ln in lines)
    assert any(ln.startswith(ALERT_PREFIX) and "drift" in ln for ln in lines)
    assert any("? unknown command 'bogus'" in ln for ln in lines)
    assert "Traceback" not in err


@pytest.mark.stack
def test_cli_usage_errors_exit_2():
    r = subprocess.run([sys.executable, "-m", "kiosk", "console"], capture_output=True, text=True)
    assert r.returncode == 2 and "--port" in r.stderr


@pytest.mark.stack
def test_done_when_1000_events_three_cuts_one_kill_none_lost_none_doubled_no_pin(tmp_path):
    """The issue's acceptance scenario, end to end over two real ptys and the real CLI console."""
    modem = NullModem(tmp_path)
    state = tmp_path / "state"

    def start_kiosk():
        k = subprocess.Popen([sys.executable, str(SUPPORT), "kiosk", "--port", str(modem.kiosk_path),
                              "--state-dir", str(state), "--progress", str(tmp_path / "progress"),
                              "--events", "1000", "--per-tick", "4"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert k.stdout.readline().startswith("ready"), k.stderr.read()
        return k

    console = pin_kiosk("console", "--port", str(modem.console_path), "--json",
                        "--config", str(ROOT / "config" / "demo.toml"))
    os.set_blocking(console.stdout.fileno(), False)
    received = []
    buf = [""]

    def read_console():
        try:
            chunk = console.stdout.read()
        except (BlockingIOError, TypeError):
            chunk = None
        if chunk:
            buf[0] += chunk
            *done, buf[0] = buf[0].split("\n")
            received.extend(json.loads(ln) for ln in done if ln)
        time.sleep(0.01)

    def drift_count():
        return sum(f["type"] == "drift" for f in received)

    kiosk = start_kiosk()
    try:
        for cut_at in (150, 300, 450):
            assert wait_for(lambda: drift_count() >= cut_at, 20, read_console), drift_count()
            modem.cut(0.3)
        assert wait_for(lambda: drift_count() >= 600, 20, read_console), drift_count()
        os.kill(kiosk.pid, signal.SIGKILL)
        kiosk.wait()
        sent_before_kill = int((tmp_path / "progress").read_text().split()[-1])
        assert sent_before_kill < 1000, "the kill must fall in the middle of the burst"
        kiosk = start_kiosk()
        console.stdin.write("begin user_auth clerk-9\n")
        console.stdin.flush()
        assert wait_for(lambda: drift_count() >= 1000, 30, read_console), drift_count()
        os.set_blocking(kiosk.stdout.fileno(), False)
        kiosk_out = []

        def read_both():
            read_console()
            try:
                kiosk_out.append(kiosk.stdout.read() or "")
            except (BlockingIOError, TypeError):
                pass

        # the console drives the restarted kiosk (its command is retransmitted until acked)
        assert wait_for(lambda: "command begin" in "".join(kiosk_out), 10, read_both)
        assert wait_for(lambda: False, 0.5, read_console) is False  # let stragglers (duplicates?) arrive
    finally:
        stop_process(kiosk)
        stop_process(console)
        modem.close()
    taps = [f["taps"] for f in received if f["type"] == "drift"]
    assert len(taps) == 1000 and sorted(taps) == list(range(1, 1001))  # none lost, none doubled
    assert modem.cuts == 3
    hellos = [f for f in received if f["type"] == "hello"]
    assert len(hellos) >= 5  # start, three returns, restart
    results = [f for f in received if f["type"] == "pin.result"]
    assert results and all(set(r) <= {"v", "type", "seq", "boot", "ts", "terminal", "pin_type", "action",
                                      "result", "tries_left"} for r in results)
    transcript = bytes(modem.transcript)
    assert len(transcript) > 100_000 and transcript.count(b"\n") > 2000
    assert pin_leaks(transcript) == []


def test_the_pin_scan_finds_a_planted_leak():
    """The transcript scan used above is not vacuous: it sees a PIN in a field, a stray line, raw bytes."""
    clean = frames.encode({"v": 1, "type": "status", "seq": 4821, "boot": "ab4821cd", "ts": "20:00:04.821Z"})
    assert pin_leaks(clean) == []
    leak = frames.encode({"v": 1, "type": "alert", "seq": 1, "boot": "b", "message": "typed 4821"})
    assert pin_leaks(clean + leak) == ["PIN in field message of alert"]
    assert pin_leaks(b"debug 4821\n") and pin_leaks(b"xxK7QX2P9Mxx")


@pytest.mark.stack
def test_cli_console_retransmits_its_command_until_the_kiosk_acks_it(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    (tmp_path / "fast.toml").write_text("[console]\nretransmit_s = 0.2\n")
    p = pin_kiosk("console", "--port", f"socket://127.0.0.1:{server.getsockname()[1]}", "--json",
                  "--config", str(tmp_path / "fast.toml"))
    try:
        server.settimeout(10)
        conn, _ = server.accept()
        kiosk = FakeKiosk(conn)
        assert wait_for(lambda: any(isinstance(e, Greeted) for e in kiosk.events), 5, kiosk.pump)
        kiosk.deaf = True
        p.stdin.write("calibrate T07\n")
        p.stdin.flush()
        assert wait_for(lambda: kiosk.raw.count(b'"type":"calibrate"') >= 2, 5, kiosk.pump)
        kiosk.deaf = False
        assert wait_for(lambda: any(isinstance(e, Command) for e in kiosk.events), 5, kiosk.pump)
        kiosk.pump(0.3)  # acked now: no more copies
        copies = kiosk.raw.count(b'"type":"calibrate"')
        kiosk.pump(0.6)
        assert kiosk.raw.count(b'"type":"calibrate"') == copies
    finally:
        stop_process(p)
        server.close()
    assert p.returncode == 0
    assert [(e.type, e.fields) for e in kiosk.events if isinstance(e, Command)] == [("calibrate", {"technician": "T07"})]


@pytest.mark.stack
def test_cli_raises_an_alert_when_the_kiosk_falls_silent_and_clears_it(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    (tmp_path / "fast.toml").write_text("[console]\nheartbeat_s = 0.5\nretransmit_s = 0.2\n")
    p = pin_kiosk("console", "--port", f"socket://127.0.0.1:{server.getsockname()[1]}",
                  "--config", str(tmp_path / "fast.toml"))
    try:
        server.settimeout(10)
        conn, _ = server.accept()
        kiosk = FakeKiosk(conn)
        assert wait_for(lambda: any(isinstance(e, Greeted) for e in kiosk.events), 5, kiosk.pump)
        time.sleep(2.0)  # the kiosk says nothing for 4 heartbeats
        kiosk.send("session.started")
        kiosk.pump(0.5)
    finally:
        out, err = stop_process(p)
        server.close()
    lines = out.splitlines()
    silent = [i for i, ln in enumerate(lines) if ln.startswith(ALERT_PREFIX) and "no word from the terminal" in ln]
    back = [i for i, ln in enumerate(lines) if "answers again" in ln]
    assert len(silent) == 1 and back and back[0] > silent[0], out
