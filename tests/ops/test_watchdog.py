"""sd_notify against real AF_UNIX datagram sockets (path and abstract), and the watchdog rule:
no WATCHDOG=1 unless every liveness check passes.

systemd is not PID 1 here, so the restart after a missed watchdog cannot be shown with
systemd itself (docs/operations.md has the manual test on a Pi).  What is shown instead:
a kiosk-like child process feeding a socket we bind goes silent when it is stopped
(kill -STOP) or when a worker's heartbeat goes stale: the silence systemd acts on.
"""
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import pytest

from kiosk.watchdog import Heartbeat, Notifier, socket_address, watchdog_interval_s
from support_ops import REPO, NotifySocket


@pytest.fixture(params=["path", "abstract"])
def manager(request, tmp_path):
    address = str(tmp_path / "notify") if request.param == "path" else f"@pin-kiosk-test-{uuid.uuid4().hex}"
    sock = NotifySocket(address)
    yield sock
    sock.close()


def test_ready_status_stopping_reach_the_socket(manager):
    n = Notifier.from_env({"NOTIFY_SOCKET": manager.address})
    assert n.enabled
    assert n.ready("serving")
    assert manager.recv() == "READY=1\nSTATUS=serving"
    assert n.status("link down\nWATCHDOG=1")  # a status cannot smuggle a second assignment
    assert manager.recv() == "STATUS=link down WATCHDOG=1"
    assert n.stopping()
    assert manager.recv() == "STOPPING=1"
    n.close()


def test_watchdog_is_sent_only_when_every_check_passes(manager):
    n = Notifier.from_env({"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "15000000"})
    calls = []

    def loop_alive():
        calls.append("loop")
        return True

    def card_worker_alive():
        calls.append("card")
        return False

    def broken_check():
        raise OSError("cannot tell")

    assert n.watchdog([loop_alive, lambda: True])
    assert manager.recv() == "WATCHDOG=1"
    assert not n.watchdog([loop_alive, card_worker_alive])
    assert not n.watchdog([broken_check])
    assert not n.watchdog([lambda: 0])
    n.status("marker")  # the next datagram is this one: no WATCHDOG=1 slipped out in between
    assert manager.recv() == "STATUS=marker"
    assert calls == ["loop", "loop", "card"]
    n.close()


def test_heartbeat_checks_follow_the_workers():
    now = [100.0]
    serial = Heartbeat("serial_worker", max_age_s=2.0)
    check = serial.check(lambda: now[0])
    assert check.__name__ == "serial_worker"
    assert not check()  # a worker that never beat is not alive
    serial.beat(100.0)
    assert check()
    now[0] = 102.0
    assert check()
    now[0] = 102.5
    assert not check()


def test_interval_is_half_of_watchdog_usec_for_this_process_only():
    pid = os.getpid()
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000"}) == 7.5
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": str(pid)}) == 7.5
    assert watchdog_interval_s({"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": str(pid + 1)}) is None
    for bad in ({}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "abc"}, {"WATCHDOG_USEC": "-5"},
                {"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "x"}):
        assert watchdog_interval_s(bad) is None
    assert Notifier.from_env({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000"}).watchdog_interval_s() == 2.0


def test_outside_systemd_everything_is_a_quiet_no_op():
    n = Notifier.from_env({})
    assert not n.enabled and n.watchdog_interval_s() is None
    assert (n.ready(), n.status("x"), n.stopping(), n.watchdog([lambda: True])) == (False,) * 4


def test_a_vanished_manager_socket_is_a_false_not_a_crash(tmp_path):
    n = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    assert not n.ready()
    assert not n.watchdog([lambda: True])


def test_abstract_names_start_with_a_nul():
    assert socket_address("@abc") == b"\0abc"
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"


CHILD = textwrap.dedent("""
    import sys, time
    from kiosk.watchdog import Heartbeat, Notifier
    n = Notifier.from_env()
    card = Heartbeat("card_worker", max_age_s=0.3)
    stale_after_s = float(sys.argv[1])
    start = time.monotonic()
    n.ready()
    while True:
        now = time.monotonic()
        if now - start < stale_after_s:
            card.beat(now)  # the card worker stops beating after stale_after_s
        n.watchdog([lambda: True, card.check(time.monotonic)])
        time.sleep(n.watchdog_interval_s())
""")


def _start_child(manager, stale_after_s):
    env = dict(os.environ, NOTIFY_SOCKET=manager.address, WATCHDOG_USEC="100000", PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(stale_after_s)], env=env)
    assert manager.recv(10) == "READY=1"
    return proc


def _silent_for(manager, quiet_s, within_s):
    """True when, within ``within_s``, a gap of ``quiet_s`` without datagrams occurs."""
    import time
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if manager.recv(quiet_s) is None:
            return True
    return False


@pytest.mark.stack
def test_a_stopped_kiosk_stops_feeding_the_watchdog(manager):
    proc = _start_child(manager, stale_after_s=1e9)
    try:
        assert [manager.recv(2) for _ in range(3)] == ["WATCHDOG=1"] * 3
        os.kill(proc.pid, signal.SIGSTOP)  # what systemd's WatchdogSec would then catch
        assert _silent_for(manager, quiet_s=0.5, within_s=2)
        os.kill(proc.pid, signal.SIGCONT)
        assert manager.recv(2) == "WATCHDOG=1"
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.stack
def test_a_stale_worker_stops_the_pings_while_the_loop_still_runs(manager):
    proc = _start_child(manager, stale_after_s=0.3)
    try:
        assert manager.recv(2) == "WATCHDOG=1"
        assert _silent_for(manager, quiet_s=0.5, within_s=3)
        assert proc.poll() is None  # the process is alive; only the liveness check failed
    finally:
        proc.kill()
        proc.wait()
