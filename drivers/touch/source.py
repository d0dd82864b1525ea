"""What every touch source is to the app, and the shared file-descriptor shell.

A ``TouchSource`` is read by the app's one loop: it registers ``fileno()``
(when not None) with its selector, calls ``read(now_s)`` when the fd is
readable or when ``wakeup_s(now_s)`` comes due, and shows ``present``.
``read`` never blocks and never raises for a vanished device: a source that
loses its device cancels the touch in progress, becomes absent (``absent_reason``
says why, for the "touch: absent" state) and tries to come back by itself,
with a backoff, from later ``read`` calls.  ``fileno()`` may change when a
source reopens: the app re-registers when it does.

``FdSource`` is the shell shared by ``events:`` and ``evdev:``: drain a
non-blocking fd, decode ``struct input_event`` records, feed the pipeline,
and treat end-of-file or ENODEV as the device going away.  Because both use
this same path, feeding it a FIFO whose writer closes exercises the same
code as unplugging an evdev device (this machine has no /dev/uinput).
"""
from __future__ import annotations

import errno
import logging
import os

from drivers.touch.events import Axes, decode_events
from drivers.touch.taps import Contact, TouchPipeline
from kiosk.config import TouchConfig

log = logging.getLogger("pin_kiosk.touch")

#: First and longest wait between attempts to reopen an absent device.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0
#: Bytes read per call, and calls per read(): a bounded slice of work per loop turn.
CHUNK_BYTES = 64 * 1024
MAX_CHUNKS_PER_READ = 16

#: errno values that mean "the device is gone", not "a bug".
GONE_ERRNOS = {errno.ENODEV, errno.ENXIO, errno.EIO, errno.ENOENT, errno.EBADF}


class TouchSpecError(ValueError):
    """A touch spec that names no source: one line, for a usage or config error."""


class TouchSource:
    """The interface the app uses; see the module docstring."""

    spec: str = ""
    #: How this source is written in a spec (help and error messages), e.g. ``("evdev:PATH", "evdev:auto")``.
    SPEC_FORMS: tuple[str, ...] = ()
    #: The spec is ``scheme:PATH``; False for a source that takes nothing after its scheme (``mouse``).
    TAKES_PATH = True

    @classmethod
    def open_spec(cls, rest: str, cfg: TouchConfig, *, fast: bool = False) -> "TouchSource":
        """The source for a spec's part after the scheme (``TouchSpecError`` when it cannot be one)."""
        raise NotImplementedError

    def __init__(self, spec: str, cfg: TouchConfig, axes: Axes) -> None:
        self.spec = spec
        self.cfg = cfg
        self.axes = axes
        self.pipeline = TouchPipeline(cfg, axes)
        self.present = False
        self.absent_reason = "not opened yet"
        self.finished = False  # a recording or capture that has been read to its end
        self.losses = 0        # times the device went away after being read (for metrics and tools)

    def fileno(self) -> int | None:
        return None

    def read(self, now_s: float) -> list[Contact]:
        return []

    def wakeup_s(self, now_s: float) -> float | None:
        """When ``read`` should be called even without fd activity (None: only on activity)."""
        return None

    def reopen(self, now_s: float = 0.0) -> bool:
        return self.present

    def close(self) -> None:
        self.present = False
        self.absent_reason = "closed"

    def _set_pipeline_axes(self, axes: Axes) -> None:
        """New device, new ranges: a fresh pipeline (nothing carries over from the old one)."""
        self.axes = axes
        self.pipeline = TouchPipeline(self.cfg, axes)


class FdSource(TouchSource):
    """A source reading ``struct input_event`` bytes from a non-blocking fd."""

    @classmethod
    def open_spec(cls, rest: str, cfg: TouchConfig, *, fast: bool = False) -> "TouchSource":
        """Opened as far as it can be now: a device or FIFO that is not there yet is absent and retried."""
        src = cls(rest, cfg)  # type: ignore[call-arg]
        src.reopen(0.0)
        return src

    def __init__(self, spec: str, cfg: TouchConfig, axes: Axes) -> None:
        super().__init__(spec, cfg, axes)
        self._fd: int | None = None
        self._tail = b""
        self._clock_set = False
        self._retry_at_s: float | None = 0.0
        self._retry_wait_s = RETRY_MIN_S
        self._more = False  # a regular file has more bytes than one read() takes
        self._pending: list[Contact] = []  # a cancel made by reopen(), handed out by the next read()

    # -- subclass hooks -------------------------------------------------------
    def _open_fd(self, now_s: float) -> int:
        """Open the device; return a non-blocking fd or raise OSError."""
        raise NotImplementedError

    def _on_eof(self, now_s: float, out: list[Contact]) -> None:
        self._lost(now_s, "end of stream", out)

    def _after_feed(self, now_s: float, out: list[Contact]) -> None:
        """After decoded events went through the pipeline (evdev resyncs after a drop)."""

    # -- interface ------------------------------------------------------------
    def fileno(self) -> int | None:
        return self._fd

    def wakeup_s(self, now_s: float) -> float | None:
        if self._more:
            return now_s
        return self._retry_at_s if self._fd is None else None

    def reopen(self, now_s: float = 0.0) -> bool:
        """Close and open the device again now; a touch in progress is cancelled."""
        self._pending.extend(self.pipeline.cancel(now_s))
        self._close_fd()
        self._try_open(now_s, self._pending)
        return self._fd is not None

    def close(self) -> None:
        self._close_fd()
        self._retry_at_s = None
        super().close()

    def read(self, now_s: float) -> list[Contact]:
        out, self._pending = self._pending, []
        if self._fd is None:
            if self._retry_at_s is not None and now_s >= self._retry_at_s:
                self._try_open(now_s, out)
            if self._fd is None:
                return out
        self._drain(now_s, out)
        return out

    # -- the shared path ------------------------------------------------------
    def _try_open(self, now_s: float, out: list[Contact]) -> None:
        try:
            fd = self._open_fd(now_s)
        except OSError as exc:
            self._schedule_retry(now_s, f"cannot open: {exc.strerror or exc}")
            return
        self._fd, self._tail, self._clock_set = fd, b"", False
        self._retry_wait_s = RETRY_MIN_S
        self._retry_at_s = None
        if self.present:
            log.info("touch present: %s", self.spec)

    def _schedule_retry(self, now_s: float, reason: str) -> None:
        if self.present or self.absent_reason != reason:
            log.warning("touch absent: %s: %s", self.spec, reason)
        self.present = False
        self.absent_reason = reason
        self._retry_at_s = now_s + self._retry_wait_s
        self._retry_wait_s = min(self._retry_wait_s * 2, RETRY_MAX_S)

    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
        self._more = False

    def _lost(self, now_s: float, reason: str, out: list[Contact], retry: bool = True) -> None:
        """The device went away: cancel the touch in progress and become absent."""
        self.losses += 1
        out.extend(self.pipeline.cancel(now_s))
        self._close_fd()
        if retry:
            self._retry_wait_s = RETRY_MIN_S
            self._schedule_retry(now_s, reason)
        else:
            self.present = False
            self.absent_reason = reason
            self._retry_at_s = None

    def _drain(self, now_s: float, out: list[Contact]) -> None:
        fd = self._fd
        self._more = False
        for _ in range(MAX_CHUNKS_PER_READ):
            try:
                data = os.read(fd, CHUNK_BYTES)
            except BlockingIOError:
                if not self.present:  # a connected writer that has not written yet
                    self._became_present()
                return
            except OSError as exc:
                # gone (ENODEV on unplug) or any other read failure: a state, never a crash
                what = "device gone" if exc.errno in GONE_ERRNOS else "read failed"
                self._lost(now_s, f"{what}: {exc.strerror or exc}", out)
                return
            if not data:
                self._on_eof(now_s, out)
                return
            if not self.present:
                self._became_present()
            if self._tail:
                data = self._tail + data
            events, self._tail = decode_events(data)
            if events:
                if not self._clock_set:
                    sec, usec = events[0][0], events[0][1]
                    self.pipeline.time_offset_s = now_s - (sec + usec * 1e-6)
                    self._clock_set = True
                out.extend(self.pipeline.feed(events))
                self._after_feed(now_s, out)
        self._more = True

    def _became_present(self) -> None:
        if not self.present:
            log.info("touch present: %s", self.spec)
        self.present = True
        self.absent_reason = ""
