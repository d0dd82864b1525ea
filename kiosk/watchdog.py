"""Telling systemd we are alive: sd_notify without libsystemd.

Theory of operation
-------------------
``pin-kiosk.service`` is ``Type=notify`` with ``WatchdogSec=``.  systemd
passes two things in the environment: ``NOTIFY_SOCKET`` (a path, or an
abstract socket name written with a leading ``@``) and ``WATCHDOG_USEC``
(with ``WATCHDOG_PID``, the process it is meant for).  The protocol is one
``AF_UNIX`` datagram per message of ``KEY=VALUE`` lines, so a plain socket
does it and no dependency is needed.

The point of a watchdog is to notice a stuck terminal, so ``WATCHDOG=1`` is
sent only from the main loop and only when every liveness check passes (the
loop itself, the serial link worker, the card worker).  A thread that pings
unconditionally would keep a frozen kiosk "alive" forever; that is exactly
what this module refuses to do.  Workers prove they are alive by calling
``Heartbeat.beat(now_s)``; the main loop's checks ask ``Heartbeat.fresh``.

Outside systemd (``NOTIFY_SOCKET`` unset: tests, the demo, a developer's
shell) every method is a no-op that returns False.  A failed send is logged
and returned as False, never raised: the kiosk keeps serving citizens, and
systemd's watchdog notices the silence if the failure persists.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping

log = logging.getLogger("pin_kiosk.watchdog")


def socket_address(notify_socket: str) -> str | bytes:
    """The ``sendto`` address for a ``NOTIFY_SOCKET`` value (``@name`` is abstract)."""
    if notify_socket.startswith("@"):
        return b"\0" + notify_socket[1:].encode()
    return notify_socket


def watchdog_interval_s(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled advises.

    None when there is no watchdog for this process (unset, zero, malformed,
    or ``WATCHDOG_PID`` names another process, e.g. a parent that exec'd us).
    """
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    wanted_pid = env.get("WATCHDOG_PID")
    if wanted_pid:
        try:
            if int(wanted_pid) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return usec / 2_000_000


def _one_line(text: str) -> str:
    """A STATUS value must not smuggle extra KEY=VALUE lines into the datagram."""
    return " ".join(str(text).split())


class Heartbeat:
    """Proof that a worker thread is still turning: it beats, the main loop checks.

    Time is an argument (monotonic seconds from the caller), so this is pure.
    """

    def __init__(self, name: str, max_age_s: float) -> None:
        self.name = name
        self.max_age_s = max_age_s
        self.last_beat_s: float | None = None

    def beat(self, now_s: float) -> None:
        self.last_beat_s = now_s

    def fresh(self, now_s: float) -> bool:
        """True when the worker beat within ``max_age_s`` (never beating is not fresh)."""
        return self.last_beat_s is not None and now_s - self.last_beat_s <= self.max_age_s

    def check(self, clock: Callable[[], float]) -> Callable[[], bool]:
        """A liveness check for ``Notifier.watchdog``, named after the worker for the log."""
        def alive() -> bool:
            return self.fresh(clock())
        alive.__name__ = self.name
        return alive


class Notifier:
    """sd_notify messages to the service manager; silent when not under systemd."""

    def __init__(self, notify_socket: str | None, watchdog_interval_s: float | None = None) -> None:
        self.notify_socket = notify_socket or None
        self._interval_s = watchdog_interval_s
        self._sock: socket.socket | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Notifier":
        """The notifier systemd set up for this process (a no-op one outside systemd)."""
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"), watchdog_interval_s(env))

    @property
    def enabled(self) -> bool:
        return self.notify_socket is not None

    def watchdog_interval_s(self) -> float | None:
        """Seconds between ``watchdog()`` calls (half of WatchdogSec), None when no watchdog."""
        return self._interval_s

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; True when it left this process."""
        if self.notify_socket is None:
            return False
        payload = "\n".join(assignments).encode("utf-8")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(payload, socket_address(self.notify_socket))
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.notify_socket, exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Start-up finished: systemd moves the unit to active (Type=notify)."""
        return self.send("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        """A one-line status shown by ``systemctl status pin-kiosk``."""
        return self.send(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        """Shutdown begun: systemd will not count the exit as a crash in progress."""
        return self.send("STOPPING=1")

    def watchdog(self, checks: Iterable[Callable[[], bool]]) -> bool:
        """Send ``WATCHDOG=1`` only if every check passes; True when it was sent.

        Call this from the main loop.  A check that raises counts as failed.
        When a check fails nothing is sent, so systemd restarts the service
        after ``WatchdogSec`` if the fault persists.
        """
        for check in checks:
            name = getattr(check, "__name__", repr(check))
            try:
                alive = bool(check())
            except Exception as exc:  # a broken check is a failed check, not a crash
                log.error("liveness check %s raised %s: %s", name, type(exc).__name__, exc)
                alive = False
            if not alive:
                log.warning("liveness check %s failed: watchdog not fed", name)
                return False
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
