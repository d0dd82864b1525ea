"""The one event loop: file descriptors, timers and signals over ``selectors``.

Theory of operation
-------------------
The kiosk has nothing to do most of the time, and then it must cost nothing:
``run()`` blocks in ``selector.select(timeout)`` where the timeout is the time
to the earliest timer, or *no timeout at all* when no timer is due.  It never
polls (``pygame.event.wait`` is a 1 ms poll loop inside SDL, so the screen's
own events are not a wake-up source here; the touch driver reads the kernel's
evdev fd instead).

Readers: ``add_reader(fd, callback)``; the callback gets ``now_s`` (from
``time.monotonic``) when the fd is readable and must read what is there.
Timers: ``call_at(deadline_s, callback) -> handle`` on the same monotonic
clock; ``cancel(handle)``.  A callback that raises is logged (one line) and
the loop goes on: errors are states of the app, and the loop only ends on
``stop()`` or a signal.

Signals: SIGTERM and SIGINT are caught in Python (SDL is told not to install
its own handlers, see ``kiosk.ui.display``) and routed through
``signal.set_wakeup_fd`` to a socket the selector watches, so a signal wakes
the blocked select at once and is handled in the loop, not inside whatever
callback happened to run.  ``on_signal(signum, now_s)`` runs first (the app
wipes the PIN and clears the screen there), then ``run()`` returns the
signal number.  Previous handlers and wakeup fd are restored on return.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("pin_kiosk.loop")

Callback = Callable[[float], None]
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass(order=True)
class TimerHandle:
    """A pending ``call_at``; pass it to ``EventLoop.cancel``."""

    deadline_s: float
    seq: int
    callback: Callback = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class EventLoop:
    """Readers, timers and stop signals; blocks without a timeout when idle."""

    def __init__(self, on_signal: Callable[[int, float], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.on_signal = on_signal
        self.clock = clock
        self._selector = selectors.DefaultSelector()
        self._timers: list[TimerHandle] = []
        self._seq = itertools.count()
        self._running = False
        self._stop_requested = False
        #: how many times select() returned (the idle benchmark and tests read it)
        self.wakeups = 0
        #: callbacks that raised (each one was logged)
        self.errors = 0

    # -- registration ------------------------------------------------------
    def add_reader(self, fd: int, callback: Callback) -> None:
        """Call ``callback(now_s)`` whenever ``fd`` is readable (replaces an earlier one)."""
        if fd in self._selector.get_map():
            self._selector.modify(fd, selectors.EVENT_READ, callback)
        else:
            self._selector.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd: int) -> bool:
        """Stop watching ``fd``; False when it was not watched."""
        try:
            self._selector.unregister(fd)
        except (KeyError, ValueError):
            return False
        return True

    def call_at(self, deadline_s: float, callback: Callback) -> TimerHandle:
        """Call ``callback(now_s)`` once the monotonic clock reaches ``deadline_s``."""
        handle = TimerHandle(deadline_s, next(self._seq), callback)
        heapq.heappush(self._timers, handle)
        return handle

    def call_later(self, delay_s: float, callback: Callback) -> TimerHandle:
        return self.call_at(self.clock() + delay_s, callback)

    def cancel(self, handle: TimerHandle | None) -> None:
        """Forget a timer (None and already-run handles are fine)."""
        if handle is not None:
            handle.cancelled = True

    def stop(self) -> None:
        """End ``run()`` after the callback now running returns."""
        self._stop_requested = True

    # -- running -----------------------------------------------------------
    def _timeout_s(self) -> float | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        if not self._timers:
            return None  # nothing due: block until an fd or a signal wakes us
        return max(0.0, self._timers[0].deadline_s - self.clock())

    def _call(self, callback: Callback, now_s: float) -> None:
        try:
            callback(now_s)
        except Exception as exc:  # an app error is a state, not the end of the loop
            self.errors += 1
            log.error("callback %s failed", getattr(callback, "__qualname__", callback), exc_info=exc)

    def _run_due_timers(self) -> None:
        now_s = self.clock()
        while self._timers and not self._stop_requested:
            head = self._timers[0]
            if head.cancelled:
                heapq.heappop(self._timers)
                continue
            if head.deadline_s > now_s:
                break
            heapq.heappop(self._timers)
            head.cancelled = True  # a handle fires once
            self._call(head.callback, now_s)

    def run(self) -> int | None:
        """Serve readers and timers until ``stop()`` (returns None) or SIGTERM/SIGINT (returns it)."""
        if self._running:
            raise RuntimeError("EventLoop.run is already running")
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        old_handlers = {s: signal.signal(s, lambda signum, frame: None) for s in STOP_SIGNALS}
        old_wakeup = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        self._selector.register(wake_r, selectors.EVENT_READ, None)
        self._running, self._stop_requested = True, False
        got_signal: int | None = None
        try:
            while not self._stop_requested:
                events = self._selector.select(self._timeout_s())
                self.wakeups += 1
                now_s = self.clock()
                for key, _ in events:
                    if key.data is None:  # the signal socket
                        got_signal = self._drain_signals(wake_r)
                        if got_signal is not None:
                            break
                    elif not self._stop_requested:
                        self._call(key.data, now_s)
                if got_signal is not None:
                    if self.on_signal is not None:
                        self._call(lambda t: self.on_signal(got_signal, t), self.clock())  # type: ignore[misc]
                    break
                self._run_due_timers()
        finally:
            self._running = False
            self._selector.unregister(wake_r)
            signal.set_wakeup_fd(old_wakeup)
            for s, h in old_handlers.items():
                signal.signal(s, h)
            wake_r.close()
            wake_w.close()
        return got_signal

    @staticmethod
    def _drain_signals(sock: socket.socket) -> int | None:
        got = None
        try:
            while True:
                data = sock.recv(64)
                if not data:
                    break
                for signum in data:
                    if signum in STOP_SIGNALS:
                        got = signum
        except BlockingIOError:
            pass
        return got

    def close(self) -> None:
        self._selector.close()
