"""The event loop against real fds (pipes), real timers and real signals."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from support_repo import ROOT
from kiosk.loop import EventLoop


@pytest.fixture
def pipe():
    r, w = os.pipe()
    yield r, w
    os.close(r)
    os.close(w)


def test_reader_gets_called_with_monotonic_time_when_readable(pipe):
    r, w = pipe
    loop = EventLoop()
    got = []

    def on_read(now_s):
        got.append((os.read(r, 100), now_s))
        loop.stop()

    loop.add_reader(r, on_read)
    threading.Timer(0.05, os.write, (w, b"x")).start()
    before = time.monotonic()
    assert loop.run() is None
    assert got[0][0] == b"x" and before <= got[0][1] <= time.monotonic()


def test_timers_fire_in_deadline_order_once_and_cancel_works():
    loop = EventLoop()
    t0 = time.monotonic()
    order = []
    loop.call_at(t0 + 0.06, lambda now: order.append("b"))
    loop.call_at(t0 + 0.03, lambda now: order.append("a"))
    dropped = loop.call_at(t0 + 0.04, lambda now: order.append("cancelled"))
    loop.call_at(t0 - 5, lambda now: order.append("past"))
    loop.call_at(t0 + 0.09, lambda now: loop.stop())
    loop.cancel(dropped)
    loop.cancel(None)
    loop.run()
    assert order == ["past", "a", "b"]
    assert time.monotonic() - t0 >= 0.09


def test_callback_time_is_never_before_the_deadline():
    loop = EventLoop()
    deadline = time.monotonic() + 0.05
    seen = []
    loop.call_at(deadline, lambda now: (seen.append(now), loop.stop()))
    loop.run()
    assert seen[0] >= deadline


def test_idle_loop_blocks_without_a_timeout_and_does_not_spin():
    """Nothing due, nothing readable: one select() that sleeps until a signal arrives."""
    loop = EventLoop()
    pid = os.getpid()
    threading.Timer(0.4, os.kill, (pid, signal.SIGTERM)).start()
    cpu0 = time.process_time()
    assert loop.run() == signal.SIGTERM
    assert loop.wakeups <= 2  # the signal wake-up itself (EINTR retry may add one)
    assert time.process_time() - cpu0 < 0.05


def test_sigint_and_sigterm_end_run_cleanly_after_on_signal(pipe):
    r, w = pipe
    calls = []
    loop = EventLoop(on_signal=lambda signum, now: calls.append(signum))
    loop.add_reader(r, lambda now: os.read(r, 10))
    loop.call_later(0.02, lambda now: os.kill(os.getpid(), signal.SIGINT))
    assert loop.run() == signal.SIGINT
    assert calls == [signal.SIGINT]
    # handlers are restored: SIGINT is Python's default again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.set_wakeup_fd(-1) == -1


def test_a_failing_callback_is_logged_and_the_loop_goes_on(caplog):
    loop = EventLoop()

    def boom(now):
        raise RuntimeError("card driver hiccup")

    loop.call_later(0.0, boom)
    loop.call_later(0.01, lambda now: loop.stop())
    with caplog.at_level("ERROR", logger="pin_kiosk.loop"):
        loop.run()
    assert loop.errors == 1 and "boom" in caplog.text


def test_remove_reader_stops_calls(pipe):
    r, w = pipe
    loop = EventLoop()
    hits = []
    loop.add_reader(r, lambda now: hits.append(os.read(r, 10)))
    assert loop.remove_reader(r) is True and loop.remove_reader(r) is False
    os.write(w, b"x")
    loop.call_later(0.05, lambda now: loop.stop())
    loop.run()
    assert hits == []


CHILD = textwrap.dedent("""
    import sys
    from kiosk.loop import EventLoop
    from kiosk.pin import Pin
    pin = Pin.from_text("1234")
    def on_signal(signum, now):
        pin.wipe()
        print("wiped" if pin.wiped else "NOT WIPED", signum, flush=True)
    loop = EventLoop(on_signal=on_signal)
    loop.call_later(0, lambda now: print("ready", flush=True))  # handlers are in place once run() runs
    sys.exit(0 if loop.run() else 3)
""")


@pytest.mark.stack
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_kiosk_process_stopped_by_signal_wipes_the_pin_and_exits_0(signum):
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == "ready"
        os.kill(proc.pid, signum)
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0
    assert out.strip() == f"wiped {int(signum)}"
