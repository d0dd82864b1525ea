"""The serial port under the console link: open, non-blocking bytes in and out, reopen with backoff.

Theory of operation
-------------------
``SerialPort`` wraps one pyserial port picked by ``serial.serial_for_url``
(a device path such as the udev symlink ``/dev/kiosk-console``, or a URL:
``socket://host:port``, ``loop://``).  It is opened with ``exclusive=True``
(an flock on POSIX devices, so a second kiosk or a stray terminal program
cannot share the line) and ``timeout=0`` / ``write_timeout=0``.

Reads and writes go straight to the file descriptor with ``os.read`` /
``os.write`` on a non-blocking fd: pyserial's own ``write`` with a zero
timeout spins on EAGAIN, and the UI loop must never wait on the line.  A
port without a descriptor (``loop://``) falls back to pyserial's calls,
which do not block for it; ``fileno()`` is then None and the owner polls.

Any error of the port (EIO when a USB adapter is pulled, EOF/hang-up, the
symlink gone) raises ``PortLost``; the owner calls ``lost(now_s)`` and the
port stays closed until ``reopen_due_s``.  The wait doubles from
``REOPEN_MIN_S`` up to ``reopen_max_s``; it starts again from the minimum
only when the port had stayed open longer than ``reopen_max_s`` (a port that
opens and dies at once is not hammered).  No clock is read here: time is an
argument.
"""
from __future__ import annotations

import errno
import logging
import os
import select

import serial

try:
    import termios
except ImportError:  # Windows (the staff console's PC): its ports have no descriptor and no termios
    termios = None  # type: ignore[assignment]

log = logging.getLogger("pin_kiosk.serial")

REOPEN_MIN_S = 0.1
READ_CHUNK = 65536
_AGAIN = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class PortLost(Exception):
    """The port failed or vanished; the owner marks the link down."""


class SerialPort:
    """One staff-console port, opened and reopened by path or URL."""

    def __init__(self, port: str, baudrate: int = 115200, reopen_max_s: float = 10.0) -> None:
        self.port = port
        self.baudrate = baudrate
        self.reopen_max_s = reopen_max_s
        self._ser: serial.SerialBase | None = None
        self._fd: int | None = None
        self._delay_s = REOPEN_MIN_S
        self._reopen_at_s = 0.0
        self._opened_at_s = 0.0
        self.opens = 0
        self.last_error = ""

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def fileno(self) -> int | None:
        """The descriptor to select on, or None while closed or for fd-less URLs."""
        return self._fd

    @property
    def needs_polling(self) -> bool:
        return self._ser is not None and self._fd is None

    def reopen_due_s(self) -> float | None:
        return None if self._ser is not None else self._reopen_at_s

    def try_open(self, now_s: float) -> bool:
        """Open if closed and the backoff has passed; True if the port is newly open."""
        if self._ser is not None or now_s < self._reopen_at_s:
            return False
        try:
            ser = serial.serial_for_url(self.port, do_not_open=True, baudrate=self.baudrate,
                                        timeout=0, write_timeout=0, exclusive=True)
            ser.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            self._schedule_reopen(now_s, f"{type(exc).__name__}: {exc}")
            return False
        self._ser = ser
        try:
            fd = ser.fileno()
            os.set_blocking(fd, False)
            self._fd = fd
        except (AttributeError, NotImplementedError, serial.SerialException, OSError, TypeError):
            # loop:// and friends: pyserial calls, polled.  Their writes never block, and
            # loop:// refuses every write under a zero write_timeout, so it has none.
            self._fd = None
            ser.write_timeout = None
        self._opened_at_s = now_s
        self.opens += 1
        self.last_error = ""
        log.info("console port %s open", self.port)
        return True

    def _schedule_reopen(self, now_s: float, why: str) -> None:
        if why != self.last_error:
            log.warning("console port %s unavailable: %s; retrying with backoff up to %gs",
                        self.port, why, self.reopen_max_s)
        self.last_error = why
        self._reopen_at_s = now_s + self._delay_s
        self._delay_s = min(self._delay_s * 2, self.reopen_max_s)

    def lost(self, now_s: float, why: str = "lost") -> None:
        """Close after an error; schedule the next open."""
        if self._ser is None:
            return
        if now_s - self._opened_at_s > self.reopen_max_s:
            self._delay_s = REOPEN_MIN_S
        self._close()
        self._schedule_reopen(now_s, why)

    def close(self) -> None:
        """Close for good (shutdown)."""
        self._close()

    def _close(self) -> None:
        ser, fd, self._ser, self._fd = self._ser, self._fd, None, None
        if fd is not None and termios is not None:
            # A tty's close waits for unsent output to drain (up to closing_wait, 30 s on
            # USB-serial).  Unacked frames are in the journal: drop the output instead.
            try:
                termios.tcflush(fd, termios.TCOFLUSH)
            except (termios.error, OSError):
                pass  # not a tty (socket://), or the device is gone already
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass

    def read(self) -> bytes:
        """Whatever has arrived (possibly nothing); never blocks."""
        if self._ser is None:
            return b""
        if self._fd is None:
            try:
                return self._ser.read(READ_CHUNK)
            except (serial.SerialException, OSError) as exc:
                raise PortLost(str(exc)) from None
        chunks = []
        poller = select.poll()
        poller.register(self._fd, select.POLLIN | select.POLLPRI)
        while True:
            # A tty in raw mode with VMIN=0 returns b"" both for "nothing yet" and for a
            # hang-up: only poll tells them apart.
            if not poller.poll(0):
                break
            try:
                data = os.read(self._fd, READ_CHUNK)
            except OSError as exc:
                if exc.errno in _AGAIN:
                    break
                raise PortLost(f"read: {os.strerror(exc.errno or 0)}") from None
            if not data:  # readable yet empty: hang-up / EOF / device gone
                if chunks:
                    break
                raise PortLost("read: end of file (hang-up)")
            chunks.append(data)
            if len(data) < READ_CHUNK:
                break
        return b"".join(chunks)

    def write(self, data: bytes | memoryview) -> int:
        """Write what the port takes now; return how many bytes that was."""
        if self._ser is None or not data:
            return 0
        if self._fd is None:
            try:
                return self._ser.write(bytes(data)) or 0
            except serial.SerialTimeoutException:
                return 0
            except (serial.SerialException, OSError) as exc:
                raise PortLost(f"write: {exc}") from None
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            if exc.errno in _AGAIN:
                return 0
            raise PortLost(f"write: {os.strerror(exc.errno or 0)}") from None
