"""Test support for the touch area: fixture list with human counts, event builders."""
from __future__ import annotations

from drivers.touch import codes

from support_repo import FIXTURES  # noqa: F401  (re-exported: the shared evemu recordings)

#: Taps a person counts watching each recording (one per finger-down-to-all-up
#: gesture; a second finger never adds one).  Counted from the recordings: the
#: fast-taps file and the QUANTA session hold 9 separate touches each, every
#: other file one gesture (a drag, or several fingers landing together).
EXPECTED_TAPS = {
    "Atmel maXTouch Touchscreen.1-finger-drag-up-down.events": 1,
    "Atmel maXTouch Touchscreen.1-finger-fast-taps.events": 9,
    "Atmel maXTouch Touchscreen.2-fingers-touch-release.events": 1,
    "Atmel maXTouch Touchscreen.4-finger-drag-down.events": 1,
    "ELAN CANDO Windows7.1-finger-drag-up-down.events": 1,
    "EP0430M09.1-finger-drag-up-down.events": 1,
    "EP0430M09.2-finger-scroll-down.events": 1,
    "EP0430M09.2-fingers-touch-release.events": 1,
    "EP0430M09.4-finger-drag-down.events": 1,
    "N-Trig MultiTouch.1-finger-drag-NW-SE.events": 1,
    "N-Trig MultiTouch.2-fingers-touch-release.events": 1,
    "QUANTA OpticalTouchScreen.events": 9,
    "QUANTA OpticalTouchScreen.touch-hover.events": 1,
    "QUANTA OpticalTouchScreen.touch-on-left.events": 1,
}


class Events:
    """Build kernel event tuples ``(sec, usec, type, code, value)`` at a running time."""

    def __init__(self, t_s: float = 1000.0) -> None:
        self.t_s = t_s
        self.events: list[tuple[int, int, int, int, int]] = []

    def at(self, t_s: float) -> "Events":
        self.t_s = t_s
        return self

    def ev(self, etype: int, code: int, value: int) -> "Events":
        us = round(self.t_s * 1e6)
        self.events.append((us // 1_000_000, us % 1_000_000, etype, code, value))
        return self

    def abs(self, code: int, value: int) -> "Events":
        return self.ev(codes.EV_ABS, code, value)

    def key(self, code: int, value: int) -> "Events":
        return self.ev(codes.EV_KEY, code, value)

    def syn(self, code: int = codes.SYN_REPORT) -> "Events":
        return self.ev(codes.EV_SYN, code, 0)

    # one-liners for common frames
    def st(self, x: int | None, y: int | None, touch: int | None = None, pressure: int | None = None) -> "Events":
        """A single-touch frame."""
        if x is not None:
            self.abs(codes.ABS_X, x)
        if y is not None:
            self.abs(codes.ABS_Y, y)
        if pressure is not None:
            self.abs(codes.ABS_PRESSURE, pressure)
        if touch is not None:
            self.key(codes.BTN_TOUCH, touch)
        return self.syn()

    def slot(self, slot: int, tracking_id: int | None = None, x: int | None = None, y: int | None = None) -> "Events":
        """Protocol B events for one slot (no SYN_REPORT)."""
        self.abs(codes.ABS_MT_SLOT, slot)
        if tracking_id is not None:
            self.abs(codes.ABS_MT_TRACKING_ID, tracking_id)
        if x is not None:
            self.abs(codes.ABS_MT_POSITION_X, x)
        if y is not None:
            self.abs(codes.ABS_MT_POSITION_Y, y)
        return self

    def contact_a(self, x: int, y: int) -> "Events":
        """One protocol A contact."""
        return self.abs(codes.ABS_MT_POSITION_X, x).abs(codes.ABS_MT_POSITION_Y, y).syn(codes.SYN_MT_REPORT)
