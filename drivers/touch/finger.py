"""A scripted finger: the kernel events of a real tap, written into an ``events:`` FIFO.

The demo and the end-to-end tests touch the kiosk through the same path a
panel does: raw ``struct input_event`` records (single-touch protocol:
BTN_TOUCH, ABS_X/ABS_Y, SYN_REPORT) decoded, filtered and turned into taps by
``drivers.touch``.  Positions are raw device units; to press a key, map its
centre through the inverse of the kiosk's calibration matrix.
"""
from __future__ import annotations

import os
import random
import time

from drivers.touch import codes
from drivers.touch.events import encode_events

SAMPLE_INTERVAL_S = 0.012  # a panel reports at about 80 Hz while touched


def tap_events(x_raw: float, y_raw: float, t0_s: float, *, samples: int = 6,
               jitter_raw: float = 0.0, rng: random.Random | None = None) -> list[tuple]:
    """Events of one tap at (x_raw, y_raw): down, ``samples`` reports, up."""
    rng = rng or random.Random(0)
    events: list[tuple] = []

    def at(t: float, type_: int, code: int, value: int) -> None:
        sec = int(t)
        events.append((sec, int((t - sec) * 1e6), type_, code, value))

    t = t0_s
    for i in range(samples):
        x = round(x_raw + rng.gauss(0, jitter_raw)) if jitter_raw else round(x_raw)
        y = round(y_raw + rng.gauss(0, jitter_raw)) if jitter_raw else round(y_raw)
        if i == 0:
            at(t, codes.EV_KEY, codes.BTN_TOUCH, 1)
        at(t, codes.EV_ABS, codes.ABS_X, x)
        at(t, codes.EV_ABS, codes.ABS_Y, y)
        at(t, codes.EV_SYN, codes.SYN_REPORT, 0)
        t += SAMPLE_INTERVAL_S
    at(t, codes.EV_KEY, codes.BTN_TOUCH, 0)
    at(t, codes.EV_SYN, codes.SYN_REPORT, 0)
    return events


class Finger:
    """Writes taps into a FIFO the kiosk reads as ``events:PATH``."""

    def __init__(self, fifo_path: str, *, jitter_raw: float = 0.0, seed: int = 0) -> None:
        self.path = fifo_path
        self.jitter_raw = jitter_raw
        self.rng = random.Random(seed)
        self._fd: int | None = None

    def connect(self) -> None:
        """Put the panel on line: open the FIFO (blocks until the kiosk reads it) and send a lone
        SYN_REPORT, so the kiosk sees a writer (touch present) before the first touch."""
        t = time.time()
        os.write(self._fd_open(), encode_events([(int(t), int((t % 1) * 1e6), codes.EV_SYN, codes.SYN_REPORT, 0)]))

    def _fd_open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CLOEXEC)  # blocks until the kiosk reads
        return self._fd

    def tap(self, x_raw: float, y_raw: float, *, hold_s: float = 0.07) -> None:
        samples = max(3, round(hold_s / SAMPLE_INTERVAL_S))
        data = encode_events(tap_events(x_raw, y_raw, time.time(), samples=samples,
                                        jitter_raw=self.jitter_raw, rng=self.rng))
        os.write(self._fd_open(), data)
        time.sleep(samples * SAMPLE_INTERVAL_S)  # the finger is on the glass that long

    def lift_off(self) -> None:
        """Close the writer: the kiosk sees the touch panel go absent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
