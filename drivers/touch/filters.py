"""Tap filters, tslib style: each one small, one job, chained by configuration.

Each filter takes one primary-contact frame ``(kind, t_s, x, y, pressure)``
and returns a frame, ``None`` (swallowed), or a list of frames it held back
and now releases (the debounce filter does, for a contact that proved real).  ``[touch] filters`` names the
chain in order; an empty list turns filtering off.

* ``pthres``: a panel that reports pressure also reports the feather touch of
  a sleeve; samples below ``pressure_min`` are not a touch (a contact whose
  pressure falls below it is released, as in tslib's pthres).  Panels without
  pressure pass untouched.
* ``median``: a running median over ``median_window`` samples of the contact,
  per axis, against single-sample spikes.
* ``debounce``: a contact that starts less than ``debounce_s`` after the
  previous one ended *and* ends within ``debounce_s`` is a bounce of the same
  press and is swallowed whole, so one press never commits two keys.  Such a
  contact is held back until it has lasted ``debounce_s``; then it is a real
  touch and is released whole.  A bounce is a brief re-contact: judging only
  the gap swallowed a real 354 ms touch that began 52 ms after the previous
  release (the Wacom DTH2242 recording).
"""
from __future__ import annotations

from kiosk.config import ConfigError, TouchConfig

Frame = tuple


class PressureThreshold:
    """tslib pthres: below ``pressure_min`` is no touch."""

    def __init__(self, pressure_min: int) -> None:
        self.pressure_min = pressure_min
        self._accepted = False
        self._last: Frame | None = None

    def __call__(self, f: Frame) -> Frame | None:
        kind, p = f[0], f[4]
        light = p is not None and p < self.pressure_min
        if kind == "down" or kind == "move":
            if self._accepted:
                if light:
                    self._accepted = False
                    last = self._last
                    return ("up", f[1], last[2], last[3], last[4])
                self._last = f
                return f
            if light:
                return None
            self._accepted = True
            self._last = f
            return ("down",) + f[1:]
        # up, cancel
        if self._accepted:
            self._accepted = False
            return f
        return None


class Median:
    """A running median of the last ``window`` samples of a contact, per axis."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._xs: list = []
        self._ys: list = []

    def __call__(self, f: Frame) -> Frame | None:
        kind = f[0]
        if kind == "down":
            self._xs, self._ys = [f[2]], [f[3]]
            return f
        if kind == "move":
            xs, ys = self._xs, self._ys
            xs.append(f[2])
            ys.append(f[3])
            if len(xs) > self.window:
                del xs[0]
                del ys[0]
            n = len(xs)
            if n < 3:
                return f
            sx, sy = sorted(xs), sorted(ys)
            h = n // 2
            if n & 1:
                return (kind, f[1], sx[h], sy[h], f[4])
            return (kind, f[1], (sx[h - 1] + sx[h]) / 2, (sy[h - 1] + sy[h]) / 2, f[4])
        return f


class Debounce:
    """A contact starting and ending within ``debounce_s`` of the previous release is a bounce."""

    def __init__(self, debounce_s: float) -> None:
        self.debounce_s = debounce_s
        self._released_s = float("-inf")
        self._held: list[Frame] | None = None  # a suspect contact's frames, not yet released

    def __call__(self, f: Frame) -> Frame | list[Frame] | None:
        held = self._held
        kind = f[0]
        if held is None:  # the common case: no suspect contact
            if kind == "move":
                return f
            if kind == "down":
                if f[1] - self._released_s < self.debounce_s:
                    self._held = [f]
                    return None
                return f
            self._released_s = f[1]  # up, cancel
            return f
        held.append(f)
        if kind == "up" or kind == "cancel":
            self._released_s = f[1]
            self._held = None
            return held if f[1] - held[0][1] >= self.debounce_s else None  # a bounce goes whole
        if f[1] - held[0][1] >= self.debounce_s:
            self._held = None          # it lasted: a real touch, released whole
            return held
        return None


#: filter name -> how to build it from the [touch] table.
FILTERS = {
    "pthres": lambda cfg: PressureThreshold(cfg.pressure_min),
    "median": lambda cfg: Median(cfg.median_window),
    "debounce": lambda cfg: Debounce(cfg.debounce_s),
}


def build_chain(cfg: TouchConfig) -> list:
    """The configured filters, in order; an unknown name is a configuration error."""
    chain = []
    for name in cfg.filters:
        if name not in FILTERS:
            raise ConfigError("[touch]", "touch.filters", f"unknown filter {name!r} (known: {', '.join(FILTERS)})")
        chain.append(FILTERS[name](cfg))
    return chain
