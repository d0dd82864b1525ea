"""ConsoleLink over real ptys: CRCs, retransmission, dedup, garbage, vanishing port, journal replay."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kiosk import frames
from kiosk.config import config_from_dict
from kiosk.console_link import ConsoleLink
from kiosk.journal import JOURNAL_NAME
from kiosk.protocol import LinkState
from support_pty import TestConsole, open_pty, pin_leaks, repoint, stop_process, wait_for
from support_repo import ROOT

pytestmark = pytest.mark.stack
SUPPORT = ROOT / "tests" / "support" / "support_pty.py"


def make_link(tmp_path, port, **console):
    cfg = config_from_dict({"terminal": {"id": "t-1"},
                            "console": {"port": str(port), "retransmit_s": 0.2, "heartbeat_s": 1.0,
                                        "reopen_max_s": 0.4, **console}})
    return ConsoleLink(cfg, tmp_path / "state")


@pytest.fixture
def pty_pair(tmp_path):
    master, name = open_pty()
    path = tmp_path / "kiosk-console"
    repoint(path, name)
    yield master, path
    try:
        os.close(master)
    except OSError:
        pass


def run(link, console, duration_s, commands=None, until=None):
    """Drive both ends for ``duration_s`` (or until ``until()`` holds, ``duration_s`` being the limit):
    the kiosk as the app loop would, the console in-test."""
    end = time.monotonic() + duration_s
    while time.monotonic() < end and not (until is not None and until()):
        now = time.monotonic()
        link.tick(now)
        if link.fileno() is not None:
            got = link.on_readable(time.monotonic())
            if commands is not None:
                commands.extend(got)
        if console is not None:
            console.pump(0.005)
        else:
            time.sleep(0.005)


def test_hello_first_then_frames_with_valid_crcs(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    link.send("session.started", time.monotonic(), operator="clerk-1")  # before the link is up: journaled
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up and "status" in con.types() and link.pending == 0)
    assert link.up and link.state is LinkState.UP
    assert con.types()[:3] == ["hello", "session.started", "status"]
    hello = con.received[0]
    assert hello["version"] == 1 and hello["terminal"] == "t-1" and hello["boot"] == link.boot
    lines = [ln for ln in bytes(con.raw).split(b"\n") if ln]
    assert lines and all(frames.decode_line(ln) for ln in lines)
    assert con.decoder.dropped_total == 0
    assert link.pending == 0
    link.close()


def test_retransmission_while_the_console_is_silent(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    con.ack = False
    f = link.send("alert", time.monotonic(), code="test", message="hello?")
    run(link, con, 5, until=lambda: bytes(con.raw).count(frames.encode(f)) >= 3)
    line = frames.encode(f)
    assert bytes(con.raw).count(line) >= 3  # first send + retransmissions every 0.2 s, same bytes
    assert link.retransmissions >= 2 and link.pending == 1
    assert con.types().count("alert") == 1  # shown once
    con.ack = True
    run(link, con, 5, until=lambda: link.pending == 0)
    assert link.pending == 0
    link.close()


def test_duplicate_command_acted_on_once_and_acked_twice(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    frame = con.command("begin", pin_type="signature", action="change", operator="clerk-2")
    line = frames.encode(frame)
    con.write_raw(line + line)
    cmds = []
    run(link, con, 5, cmds, until=lambda: cmds and link._link.duplicates and not con.link.pending)
    assert [(c.type, c.fields) for c in cmds] == [
        ("begin", {"pin_type": "signature", "action": "change", "operator": "clerk-2"})]
    assert link._link.duplicates >= 1
    assert con.link.pending == 0
    link.close()


def test_garbage_overlong_and_binary_lines_are_counted_never_acted_on(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    bad_crc = frames.encode({"v": 1, "type": "logout", "seq": 99, "boot": "x"})[:-10] + b"00000000\n"
    con.write_raw(b"hello kiosk\r\n" + b"\x00\xff\xfe binary \x80\n" + b"A" * 9000 + b"\n" + bad_crc)
    cmds = []
    run(link, con, 5, cmds, until=lambda: link.rx_errors >= 4)
    assert cmds == [] and link.rx_errors == 4
    # the link still works afterwards, and an intact but invalid command gets an alert back
    con.command("begin", pin_type="user_auth")
    bad = {"v": 1, "type": "format_disk", "seq": 50, "boot": con.link.boot}
    con.write_raw(frames.encode(bad))
    run(link, con, 5, cmds, until=lambda: cmds and "alert" in con.types())
    link.send_status(time.monotonic())
    run(link, con, 5, until=lambda: any(f["type"] == "status" and f.get("rx_errors") for f in con.received))
    assert [c.type for c in cmds] == ["begin"]
    alerts = [f for f in con.received if f["type"] == "alert"]
    assert alerts and alerts[0]["code"] == "bad_command" and "format_disk" in alerts[0]["message"]
    status = [f for f in con.received if f["type"] == "status"]
    assert status[-1]["rx_errors"] == 4
    link.close()


def test_port_vanishes_and_a_new_pty_appears_behind_the_same_path(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    assert link.up
    os.close(master)  # the adapter is pulled: the kiosk's side gets EIO / hang-up
    path.unlink()
    link.send("pin.result", time.monotonic(), pin_type="user_auth", action="verify", result="ok", tries_left=3)
    run(link, None, 5, until=lambda: not link.up)
    assert not link.up and link.fileno() is None and link.pending == 1
    d = link.next_deadline_s(time.monotonic())
    assert d is not None and d - time.monotonic() <= 0.4 + 0.05  # reopen backoff bounded by reopen_max_s
    master2, name2 = open_pty()
    repoint(path, name2)
    con2 = TestConsole(master2)
    run(link, con2, 10, until=lambda: link.up and "pin.result" in con2.types() and link.pending == 0)
    assert link.up and con2.types()[0] == "hello"  # first frame after the link returns
    assert "pin.result" in con2.types() and link.pending == 0
    os.close(master2)
    link.close()


def test_exclusive_open(tmp_path, pty_pair):
    master, path = pty_pair
    a = make_link(tmp_path / "a", path)
    b = make_link(tmp_path / "b", path)
    a.tick(time.monotonic())
    b.tick(time.monotonic())
    assert a.fileno() is not None and b.fileno() is None  # the second opener is locked out
    a.close()
    b.close()


def test_status_heartbeat_and_non_blocking_when_nobody_reads(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    link.send_status(time.monotonic(), state="entry", reader=True, card=True, touch=True,
                     drift={"level": "ok", "shift_mm": 0.3, "taps": 12})
    run(link, con, 5, until=lambda: sum(f["type"] == "status" and f.get("state") == "entry" for f in con.received) >= 2)
    statuses = [f for f in con.received if f["type"] == "status"]
    assert len(statuses) >= 2 and statuses[-1]["state"] == "entry" and statuses[-1]["drift"]["taps"] == 12
    # nobody reads the master now: 500 sends must still return at once, the rest waits in the journal
    t0 = time.monotonic()
    for i in range(500):
        link.send("drift", time.monotonic(), level="ok", taps=i, shift_mm=0.1, message="x" * 150)
        link.tick(time.monotonic())
    per_send_ms = (time.monotonic() - t0) / 500 * 1000
    assert per_send_ms < 20  # an fsync each, never a wait on the port
    assert link.pending == 500 and link.alive()
    link.close()


@pytest.mark.parametrize("events", [25, 137])
def test_journal_overflow_drops_oldest_and_alerts_how_many(tmp_path, events):
    path = tmp_path / "kiosk-console"  # no adapter at all while the events happen
    link = make_link(tmp_path, path, journal_max_frames=10)
    for i in range(events):
        link.send("drift", time.monotonic(), level="ok", taps=i)
        link.tick(time.monotonic())
    assert link.pending == 10
    master, name = open_pty()
    repoint(path, name)
    con = TestConsole(master)
    run(link, con, 10, until=lambda: link.pending == 0 and any(f.get("taps") == events - 1 for f in con.received))
    drifts = [f["taps"] for f in con.received if f["type"] == "drift"]
    alerts = [f for f in con.received if f["type"] == "alert"]
    assert alerts and all(a["code"] == "journal_overflow" for a in alerts)
    lost = sum(a["lost"] for a in alerts)
    # every event is either delivered or counted as lost; the newest survive, in order
    assert len(drifts) + lost == events and drifts == sorted(drifts) and drifts[-1] == events - 1
    assert len(alerts) <= 2  # no alert storm
    os.close(master)
    link.close()


def kiosk_process(tmp_path, port, events, **kw):
    args = [sys.executable, str(SUPPORT), "kiosk", "--port", str(port), "--state-dir", str(tmp_path / "state"),
            "--progress", str(tmp_path / "progress"), "--events", str(events)]
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("ready"), p.stderr.read()
    return p


def test_kill_9_mid_burst_then_replay_nothing_lost_nothing_doubled(tmp_path, pty_pair):
    master, path = pty_pair
    con = TestConsole(master)
    p = kiosk_process(tmp_path, path, 400, per_tick=5)
    try:
        assert wait_for(lambda: sum(f["type"] == "drift" for f in con.received) >= 60, 10, con.pump)
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        progress = [int(x) for x in (tmp_path / "progress").read_text().split()]
        assert 60 <= progress[-1] < 400, "killed in the middle of the burst"
        con.pump(0.2)
        assert (tmp_path / "state" / JOURNAL_NAME).exists()
        p = kiosk_process(tmp_path, path, 400, per_tick=5)
        assert wait_for(lambda: sum(f["type"] == "drift" for f in con.received) >= 400, 20, con.pump)
        con.pump(0.3)
    finally:
        stop_process(p)
    taps = [f["taps"] for f in con.received if f["type"] == "drift"]
    assert sorted(taps) == list(range(1, 401))  # none lost, none doubled
    boots = {f["boot"] for f in con.received if f["type"] == "drift"}
    assert len(boots) == 2
    assert pin_leaks(bytes(con.raw)) == []


def test_loop_url_has_no_descriptor_is_polled_and_its_echo_is_ignored(tmp_path):
    # loop:// is pyserial's own loop-back port: everything written comes back.
    link = make_link(tmp_path, "loop://")
    t0 = time.monotonic()
    for i in range(20):
        assert link.tick(t0 + i * 0.05) == []
    assert link.fileno() is None and link.state is LinkState.GREETING and not link.up
    assert link.next_deadline_s(t0 + 1.0) == pytest.approx(t0 + 1.0 + 0.02)
    assert link._link.echoes >= 2 and link.rx_errors == 0 and link.rejected == 0
    link.close()


def test_reopen_backoff_doubles_up_to_reopen_max_and_never_blocks(tmp_path):
    from drivers.serial_link import SerialPort

    port = SerialPort(str(tmp_path / "no-such-adapter"), reopen_max_s=1.0)
    due, now = [], 0.0
    for _ in range(6):
        t = time.monotonic()
        assert port.try_open(now) is False and time.monotonic() - t < 0.1
        now = port.reopen_due_s()
        due.append(round(now, 3))
    assert due == [0.1, 0.3, 0.7, 1.5, 2.5, 3.5]  # 0.1, 0.2, 0.4, 0.8, then capped at 1.0
    assert port.try_open(now - 0.01) is False and port.reopen_due_s() == due[-1]  # not due: no attempt
    assert "No such file" in port.last_error


def test_a_pin_handed_to_send_by_mistake_goes_nowhere(tmp_path, caplog):
    """Whitelisted names with a Pin, a PIN string in unknown names: left out; not in journal or log."""
    from kiosk.pin import Pin
    from support_pty import KNOWN_PIN, KNOWN_SIGNATURE_PIN
    from support_scan import pin_in_logs

    link = make_link(tmp_path, tmp_path / "no-adapter")
    pin = Pin.from_text(KNOWN_SIGNATURE_PIN)
    with caplog.at_level("DEBUG", logger="pin_kiosk"):
        f = link.send("alert", time.monotonic(), code="test", message=pin, pin=KNOWN_PIN, digits=[4, 8, 2, 1])
        assert f is None  # message is required and a Pin is not text: the frame is refused whole
        f = link.send("pin.result", time.monotonic(), pin_type="signature", action="verify", result="wrong",
                      tries_left=pin, entered=KNOWN_SIGNATURE_PIN, key_ids=["K", "7"])
        assert f is not None and set(f) == {"v", "type", "seq", "boot", "ts", "terminal",
                                            "pin_type", "action", "result"}
        link.send_status(time.monotonic(), state=KNOWN_PIN, drift={"level": "ok", "taps": pin})
    journal = (tmp_path / "state" / JOURNAL_NAME).read_bytes()
    journaled = b"".join(frames.encode(json.loads(r)["frame"]) for r in journal.splitlines())
    assert journaled.count(b"\n") == 1  # the pin.result only (the alert refused, status not journaled)
    assert pin_leaks(journaled) == [] and KNOWN_SIGNATURE_PIN.encode() not in journal
    assert not pin_in_logs(KNOWN_PIN, caplog.text.encode()) and KNOWN_SIGNATURE_PIN not in caplog.text
    assert "left out: tries_left, entered, key_ids" in caplog.text  # names only
    link.close()


def test_command_retransmitted_across_a_kiosk_restart_is_acked_not_acted_on_twice(tmp_path, pty_pair):
    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    frame = con.command("calibrate", technician="T02")
    cmds = []
    run(link, con, 5, cmds, until=lambda: cmds and not con.link.pending)
    assert [c.type for c in cmds] == ["calibrate"]
    link.close()  # the kiosk restarts; say the console never got that ack
    again = make_link(tmp_path, path)
    cmds2 = []
    run(again, con, 5, cmds2, until=lambda: again.up)
    assert again.up
    acks_before = bytes(con.raw).count(b'"type":"ack"')
    con.write_raw(frames.encode(frame))
    run(again, con, 5, cmds2, until=lambda: again._link.duplicates)
    assert cmds2 == []
    assert again._link.duplicates == 1 and bytes(con.raw).count(b'"type":"ack"') > acks_before
    again.close()


def test_unwritable_state_dir_keeps_the_link_working_from_memory_and_tells_the_watchdog(tmp_path, pty_pair):
    master, path = pty_pair
    (tmp_path / "state").write_text("a file where the state directory should be")
    link = make_link(tmp_path, path)
    assert not link.alive()
    con = TestConsole(master)
    link.send("session.started", time.monotonic(), operator="clerk-1")
    run(link, con, 5, until=lambda: "session.started" in con.types() and link.pending == 0)
    assert "session.started" in con.types() and link.pending == 0 and link.up
    assert not link.alive()
    link.close()


def test_line_noise_between_commands_costs_retransmissions_never_a_wrong_or_double_action(tmp_path, pty_pair):
    import random

    master, path = pty_pair
    link = make_link(tmp_path, path)
    con = TestConsole(master)
    run(link, con, 5, until=lambda: link.up)
    rng = random.Random(7)
    valid = frames.encode({"v": 1, "type": "logout", "seq": 999, "boot": "forged"})
    sent = []
    cmds = []
    for i in range(20):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        if i % 3 == 0:
            noise += valid[:rng.randrange(len(valid))]  # a frame cut short by noise
        if i % 4 == 0:
            noise = noise.replace(b"\n", b"") + b"*DEADBEEF\n"  # looks like a frame, is not
        con.write_raw(noise)
        sent.append(con.command("drift_check", technician=f"T{i:02d}"))
        run(link, con, 0.05, cmds)
    run(link, con, 10, cmds, until=lambda: len(cmds) >= 20 and not con.link.pending)
    run(link, con, 0.3, cmds)  # a late double would show here  # console retransmissions repair the frames the noise hit
    assert [c.fields["technician"] for c in cmds] == [f"T{i:02d}" for i in range(20)]
    assert all(c.type == "drift_check" for c in cmds)
    assert link.rx_errors > 0 and con.link.pending == 0
    link.close()


def test_loss_count_survives_a_kiosk_restart_during_the_outage(tmp_path):
    path = tmp_path / "kiosk-console"  # no adapter during the outage
    first = make_link(tmp_path, path, journal_max_frames=10)
    for i in range(30):
        first.send("drift", time.monotonic(), level="ok", taps=i)
    first.close()  # restart (the process ends; only the journal remains)
    second = make_link(tmp_path, path, journal_max_frames=10)
    for i in range(30, 40):
        second.send("drift", time.monotonic(), level="ok", taps=i)
    master, name = open_pty()
    repoint(path, name)
    con = TestConsole(master)
    run(second, con, 10, until=lambda: second.pending == 0 and any(f.get("taps") == 39 for f in con.received))
    drifts = [f["taps"] for f in con.received if f["type"] == "drift"]
    alerts = [f for f in con.received if f["type"] == "alert"]
    assert len(drifts) + sum(a["lost"] for a in alerts) == 40 and drifts[-1] == 39
    os.close(master)
    second.close()


def test_an_unreadable_journal_is_moved_away_so_the_link_stays_alive(tmp_path):
    """A journal the kiosk cannot read (here a directory in its place) would fail every append,
    the watchdog would stop, and systemd would restart the kiosk into the same state: a loop."""
    from kiosk.config import config_from_dict
    from kiosk.console_link import ConsoleLink
    from kiosk.journal import JOURNAL_NAME

    (tmp_path / JOURNAL_NAME).mkdir()
    cfg = config_from_dict({"console": {"port": "loop://"}, "state": {"dir": str(tmp_path)}})
    link = ConsoleLink(cfg, tmp_path)
    try:
        (notice,) = link.set_aside
        assert notice.file == JOURNAL_NAME and "events may be lost" in notice.consequence
        assert (tmp_path / notice.kept_as).is_dir()
        link.send("alert", 0.0, code="test", message="after the restart")
        assert link.alive() and (tmp_path / JOURNAL_NAME).is_file()
    finally:
        link.close()
