"""``evemu:PATH``: replay an evemu recording, in real time or as fast as possible.

The recording's own ``A:`` lines give the axis ranges (from ``NAME.desc``
beside old two-file recordings).  Real-time replay releases each event when
its recorded offset from the first event has elapsed since the first
``read``; there is no fd, so ``wakeup_s`` tells the loop when the next event
is due.  ``fast`` releases everything on the first ``read``.  Event times are
mapped so the first event happens at the first ``read``'s ``now_s``.  When
the last event has been released the source is finished and absent.
"""
from __future__ import annotations

from drivers.touch.events import load_evemu
from drivers.touch.source import TouchSource
from drivers.touch.taps import Contact
from kiosk.config import TouchConfig


class EvemuSource(TouchSource):
    def __init__(self, path: str, cfg: TouchConfig, fast: bool = False) -> None:
        self.recording = load_evemu(path)  # EvemuError (a ValueError) for a bad file
        super().__init__(f"evemu:{path}", cfg, self.recording.axes())
        self.path = path
        self.fast = fast
        events = self.recording.events
        self._t0_s = events[0][0] + events[0][1] * 1e-6 if events else 0.0
        self._offsets_s = [e[0] + e[1] * 1e-6 - self._t0_s for e in events]
        self._next = 0
        self._start_s: float | None = None
        self.present, self.absent_reason = True, ""
        if not events:
            self._finish()

    def _finish(self) -> None:
        self.present, self.absent_reason, self.finished = False, "end of recording", True

    def wakeup_s(self, now_s: float) -> float | None:
        if self.finished:
            return None
        if self._start_s is None or self.fast:
            return now_s
        return self._start_s + self._offsets_s[self._next]

    def read(self, now_s: float) -> list[Contact]:
        if self.finished:
            return []
        if self._start_s is None:
            self._start_s = now_s
            self.pipeline.time_offset_s = now_s - self._t0_s
        events = self.recording.events
        if self.fast:
            end = len(events)
        else:
            elapsed_s, end, offsets = now_s - self._start_s, self._next, self._offsets_s
            while end < len(events) and offsets[end] <= elapsed_s:
                end += 1
        out = self.pipeline.feed(events[self._next:end]) if end > self._next else []
        self._next = end
        if end >= len(events):
            self._finish()
        return out

    def reopen(self, now_s: float = 0.0) -> bool:
        """Replay from the start again."""
        self.pipeline.cancel(now_s)
        self._set_pipeline_axes(self.axes)
        self._next, self._start_s, self.finished = 0, None, False
        self.present, self.absent_reason = bool(self.recording.events), ""
        if not self.recording.events:
            self._finish()
        return self.present

    def close(self) -> None:
        self.finished = True
        super().close()
