"""``evemu:PATH``: replay an evemu recording, in real time or as fast as possible.

The recording's own ``A:`` lines give the axis ranges (from ``NAME.desc``
beside old two-file recordings).  Real-time replay releases each event when
its recorded offset from the first event has elapsed since the first
``read``; there is no fd, so ``wakeup_s`` tells the loop when the next event
is due.  ``fast`` releases events as fast as the loop reads, at most
``FAST_BATCH_EVENTS`` per ``read`` (``wakeup_s`` is then "now" until the end).
Event times are mapped so the first event happens at the first ``read``'s
``now_s``.  When the last event has been released the source is finished
and absent.

Events are streamed from the file with one event of look-ahead, never held
in memory: a recording of a million events replays in the memory of a few.
"""
from __future__ import annotations

from collections.abc import Generator

import logging

from drivers.touch.events import EvemuError, Event, read_evemu_header, stream_evemu_events
from drivers.touch.source import TouchSource, TouchSpecError
from drivers.touch.taps import Contact
from kiosk.config import TouchConfig

#: Events released per ``read`` in fast mode: a bounded slice of work per loop turn.
FAST_BATCH_EVENTS = 4096

log = logging.getLogger("pin_kiosk.touch")


def _time_s(event: Event) -> float:
    return event[0] + event[1] * 1e-6


class EvemuSource(TouchSource):
    SPEC_FORMS = ("evemu:PATH",)

    @classmethod
    def open_spec(cls, rest: str, cfg: TouchConfig, *, fast: bool = False) -> "EvemuSource":
        """A recording that cannot be read is a spec error now (it will not appear later)."""
        try:
            return cls(rest, cfg, fast=fast)
        except OSError as exc:
            raise TouchSpecError(f"touch source {'evemu:' + rest!r}: {exc.strerror or exc}") from None
        except EvemuError as exc:
            raise TouchSpecError(f"touch source {'evemu:' + rest!r}: {exc}") from None

    def __init__(self, path: str, cfg: TouchConfig, fast: bool = False) -> None:
        self.recording = read_evemu_header(path)  # EvemuError (a ValueError) for a bad file
        super().__init__(f"evemu:{path}", cfg, self.recording.axes())
        self.path = path
        self.fast = fast
        self._rewind()

    def _rewind(self) -> None:
        self._close_stream()
        self._events: Generator[Event, None, None] = stream_evemu_events(self.path)
        self._peek: Event | None = None
        self._bad = ""
        self._peek = self._next_event()
        self._t0_s = _time_s(self._peek) if self._peek is not None else 0.0
        self._start_s: float | None = None
        self.finished = False
        self.present, self.absent_reason = True, ""
        if self._peek is None:
            self._finish()

    def _next_event(self) -> Event | None:
        """The next event, or None at the end or at a malformed line (which ends the replay)."""
        try:
            return next(self._events, None)
        except EvemuError as exc:
            self._bad = str(exc)
            log.warning("touch replay stopped: %s", exc)
            return None

    def _finish(self) -> None:
        self.present, self.finished = False, True
        self.absent_reason = f"recording unreadable: {self._bad}" if self._bad else "end of recording"

    def wakeup_s(self, now_s: float) -> float | None:
        if self.finished:
            return None
        if self._start_s is None or self.fast:
            return now_s
        return self._start_s + (_time_s(self._peek) - self._t0_s)

    def read(self, now_s: float) -> list[Contact]:
        if self.finished:
            return []
        if self._start_s is None:
            self._start_s = now_s
            self.pipeline.time_offset_s = now_s - self._t0_s
        due_s = float("inf") if self.fast else self._t0_s + (now_s - self._start_s)
        batch: list[Event] = []
        peek = self._peek
        while peek is not None and _time_s(peek) <= due_s and len(batch) < FAST_BATCH_EVENTS:
            batch.append(peek)
            peek = self._next_event()
        self._peek = peek
        out = self.pipeline.feed(batch) if batch else []
        if peek is None:
            self._finish()
        return out

    def reopen(self, now_s: float = 0.0) -> bool:
        """Replay from the start again."""
        self.pipeline.cancel(now_s)
        self._set_pipeline_axes(self.axes)
        self._rewind()
        return self.present

    def _close_stream(self) -> None:
        events = getattr(self, "_events", None)
        if events is not None:
            events.close()  # closes the file the generator holds open

    def close(self) -> None:
        self.finished = True
        self._close_stream()
        super().close()
