"""``events:PATH``: raw ``struct input_event`` records from a capture file or a FIFO.

The bytes are those ``/dev/input/eventN`` yields (``cat /dev/input/event3 >
capture`` makes one); axis ranges come from the ``[touch]`` table since a
byte stream carries none.  A regular file is a capture: read to its end, then
the source is finished.  A FIFO is a live feed: present while a writer is
connected; when the writer closes, the touch in progress is cancelled, the
source is absent, and a fresh read end is opened at once so the next writer
is seen (a fresh FIFO read end does not poll readable until a writer comes,
so the app does not spin).
"""
from __future__ import annotations

import os
import stat

from drivers.touch.events import AxisRange, Axes
from drivers.touch.source import FdSource
from drivers.touch.taps import Contact
from kiosk.config import TouchConfig


def config_axes(cfg: TouchConfig) -> Axes:
    """Axes for sources that carry no absinfo: the ranges of the [touch] table."""
    return Axes(AxisRange(cfg.x_min, cfg.x_max), AxisRange(cfg.y_min, cfg.y_max))


class EventStreamSource(FdSource):
    SPEC_FORMS = ("events:PATH",)

    def __init__(self, path: str, cfg: TouchConfig) -> None:
        super().__init__(f"events:{path}", cfg, config_axes(cfg))
        self.path = path
        self._fifo = False

    def _open_fd(self, now_s: float) -> int:
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        mode = os.fstat(fd).st_mode
        self._fifo = stat.S_ISFIFO(mode)
        if not self._fifo:
            self.present, self.absent_reason = True, ""  # a file is there as soon as it opens
        else:
            self.absent_reason = "waiting for a writer"
        return fd

    def _on_eof(self, now_s: float, out: list[Contact]) -> None:
        if not self._fifo:
            self._lost(now_s, "end of capture", out, retry=False)
            self.finished = True
            return
        if not self.present:
            return  # fresh read end, no writer yet: keep waiting on this fd
        # A fresh read end right away, for the next writer.  It is opened before the
        # old one is closed so its number differs: the app sees fileno() change and
        # re-registers (epoll forgets a closed fd even if the number comes back).
        try:
            fresh = self._open_fd(now_s)
        except OSError:
            fresh = None
        self._lost(now_s, "writer closed the FIFO", out)
        if fresh is not None:
            self._fd, self._tail, self._clock_set, self._retry_at_s = fresh, b"", False, None
            self.absent_reason = "writer closed the FIFO; waiting for a writer"
