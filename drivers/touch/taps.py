"""From primary-contact frames to the events the app uses: ``Contact`` and ``Tap``.

Theory of operation
-------------------
``TouchPipeline`` is the whole pure path of one source: kernel events go
through ``PrimaryContactTracker`` (contacts.py), the configured filter chain
(filters.py), and ``TapBuilder``, which turns frames into ``Contact`` events
the keypad needs live (``down`` highlights a key, ``move`` follows the finger,
``up`` commits) and collects the contact's samples.  Before the filters,
``AxisGuard`` keeps contacts outside the device's declared axes from
becoming taps and remembers why, for one alert.  The ``up`` carries the
finished ``Tap``; a ``cancel`` (SYN_DROPPED, source lost) carries none: a
touch we did not see whole is never a tap.

A tap's position for hit-testing and drift is ``robust_position`` of its
samples: the per-axis median, leaving out the first and the last sample when
there are at least ``TRIM_MIN_SAMPLES``, because a panel is noisiest when
the finger lands and lifts.  The calibration fit uses the same estimator.
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Sequence

from drivers.touch.contacts import PrimaryContactTracker
from drivers.touch.events import Axes, Event
from drivers.touch.filters import build_chain
from kiosk.config import TouchConfig

#: With this many samples or more, the first and the last are left out of the estimate.
TRIM_MIN_SAMPLES = 3


@dataclass(frozen=True, slots=True)
class Tap:
    """One finished touch of the primary finger, in raw device units."""

    x_raw: float            # robust position (median, edges trimmed)
    y_raw: float
    down_raw: tuple[float, float]
    up_raw: tuple[float, float]
    samples: int
    duration_s: float
    t_up_s: float


@dataclass(frozen=True, slots=True)
class Contact:
    """A live event of the primary contact: down, move, up (with its Tap) or cancel."""

    kind: str               # "down" | "move" | "up" | "cancel"
    x_raw: float
    y_raw: float
    t_s: float
    tap: Tap | None = None


def robust_position(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Per-axis median of a touch's samples, first and last left out when there are enough."""
    if not xs or len(xs) != len(ys):
        raise ValueError("a position needs at least one sample, with as many x as y")
    if len(xs) >= TRIM_MIN_SAMPLES:
        xs, ys = xs[1:-1], ys[1:-1]
    return float(median(xs)), float(median(ys))


class TapBuilder:
    """Frames in, Contacts out; collects a contact's samples into its Tap."""

    def __init__(self) -> None:
        self._xs: list = []
        self._ys: list = []
        self._t_down_s = 0.0

    def __call__(self, f: tuple, out: list[Contact]) -> None:
        kind, t_s, x, y = f[0], f[1], f[2], f[3]
        if kind == "move":
            self._xs.append(x)
            self._ys.append(y)
            out.append(Contact("move", x, y, t_s))
        elif kind == "down":
            self._xs, self._ys, self._t_down_s = [x], [y], t_s
            out.append(Contact("down", x, y, t_s))
        elif kind == "up":
            xs, ys = self._xs, self._ys
            if not xs:  # an up without a down never reaches here through the tracker
                return
            rx, ry = robust_position(xs, ys)
            tap = Tap(rx, ry, (xs[0], ys[0]), (xs[-1], ys[-1]), len(xs), t_s - self._t_down_s, t_s)
            self._xs, self._ys = [], []
            out.append(Contact("up", x, y, t_s, tap))
        else:
            self._xs, self._ys = [], []
            out.append(Contact("cancel", x, y, t_s))


class AxisGuard:
    """Contacts outside the device's declared axis ranges are not taps, and are said so once.

    A device whose events do not match its absinfo (the eGalax resistive
    controller declares ABS_X/ABS_Y 42..1981 but reports its position on
    ABS_Z/ABS_RX, so X/Y stay at 0) would otherwise be mapped silently to a
    point off the screen.  Such a contact is swallowed whole, and
    ``mismatch`` keeps the first reason for the one alert the terminal raises.
    """

    def __init__(self, axes: Axes) -> None:
        self.axes = axes
        self.mismatch = ""
        self.swallowing = False  # inside a contact that began off the axes

    def __call__(self, f: tuple) -> tuple | None:
        kind = f[0]
        if kind == "down":
            ax = self.axes
            x, y = f[2], f[3]
            bad = [f"raw {name} {v:g} outside {r.minimum}..{r.maximum}"
                   for name, v, r in (("x", x, ax.x), ("y", y, ax.y)) if not r.minimum <= v <= r.maximum]
            self.swallowing = bool(bad)
            if bad and not self.mismatch:
                self.mismatch = "; ".join(bad)
        if self.swallowing:
            if kind == "up" or kind == "cancel":
                self.swallowing = False
            return None
        return f


class TouchPipeline:
    """Kernel events of one source -> Contacts, through tracker, filters and tap builder."""

    def __init__(self, cfg: TouchConfig, axes: Axes, time_offset_s: float = 0.0) -> None:
        self.axes = axes
        self.tracker = PrimaryContactTracker(axes.multitouch, time_offset_s)
        self.guard = AxisGuard(axes)
        self.filters = build_chain(cfg)
        self.builder = TapBuilder()

    @property
    def time_offset_s(self) -> float:
        return self.tracker.time_offset_s

    @time_offset_s.setter
    def time_offset_s(self, value: float) -> None:
        self.tracker.time_offset_s = value

    def feed(self, events: list[Event]) -> list[Contact]:
        """Contacts completed by ``events`` (kernel tuples)."""
        return self.frames(self.tracker.feed(events))

    def frames(self, frames: list[tuple]) -> list[Contact]:
        """Contacts from already-tracked frames (the mouse source enters here)."""
        out: list[Contact] = []
        guard, filters, builder = self.guard, self.filters, self.builder
        for f in frames:
            if f[0] == "down" or guard.swallowing:
                f = guard(f)
                if f is None:
                    continue
            for flt in filters:
                f = flt(f)
                if f is None:
                    break
                if f.__class__ is list:  # frames a filter held back, released together
                    after = filters.index(flt) + 1
                    for g in f:
                        self._filter(g, after, out)
                    break
            else:
                builder(f, out)
        return out

    def _filter(self, f: tuple, first: int, out: list[Contact]) -> None:
        """``f`` through the filters from index ``first`` on, then into the tap builder."""
        filters = self.filters
        for i in range(first, len(filters)):
            r = filters[i](f)
            if r is None:
                return
            if r.__class__ is list:
                for g in r:
                    self._filter(g, i + 1, out)
                return
            f = r
        self.builder(f, out)

    @property
    def axis_mismatch(self) -> str:
        """Why raw positions do not fit the device's declared axes ('' while they do)."""
        return self.guard.mismatch

    def resync(self, touching: bool | None, t_s: float) -> list[Contact]:
        return self.frames(self.tracker.resync(touching, t_s))

    def cancel(self, t_s: float) -> list[Contact]:
        return self.frames(self.tracker.cancel(t_s))


def taps_of(contacts: list[Contact]) -> list[Tap]:
    """The finished taps among ``contacts``."""
    return [c.tap for c in contacts if c.tap is not None]
