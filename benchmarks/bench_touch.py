"""Touch pipeline throughput: decode + tap extraction + matrix application, one core.

Builds a synthetic capture the way a protocol-B panel that also reports
single-touch axes sends it (the Atmel maXTouch shape: tracking id, MT X/Y,
BTN_TOUCH, ABS_X/Y, SYN_REPORT), plus the real fixture recordings, then times
the path the kiosk runs for every byte it reads: ``decode_events`` on the raw
``struct input_event`` bytes, ``TouchPipeline.feed`` with the default filter
chain (pthres, median, debounce), and ``Affine.apply`` on every contact.
Prints events per second.  Target: at least 200,000 events/s (a panel sends
at most about 1,000).

    .venv/bin/python benchmarks/bench_touch.py [--taps N] [--repeat R]
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calibration.matrix import Affine  # noqa: E402
from drivers.touch import codes  # noqa: E402
from drivers.touch.events import AxisRange, Axes, decode_events, encode_events, load_evemu  # noqa: E402
from drivers.touch.taps import TouchPipeline  # noqa: E402
from kiosk.config import TouchConfig  # noqa: E402

FIXTURES = Path("/work/shared/fixtures/evemu")


def synthetic_events(taps: int, seed: int = 1) -> list[tuple[int, int, int, int, int]]:
    rng = random.Random(seed)
    out = []
    t_us = 1_000_000

    def ev(etype, code, value):
        out.append((t_us // 1_000_000, t_us % 1_000_000, etype, code, value))

    for n in range(taps):
        x, y = rng.randrange(100, 4000), rng.randrange(100, 4000)
        ev(3, codes.ABS_MT_TRACKING_ID, n)
        ev(3, codes.ABS_MT_POSITION_X, x)
        ev(3, codes.ABS_MT_POSITION_Y, y)
        ev(1, codes.BTN_TOUCH, 1)
        ev(3, codes.ABS_X, x)
        ev(3, codes.ABS_Y, y)
        ev(0, codes.SYN_REPORT, 0)
        for _ in range(20):
            t_us += 8000
            x += rng.randrange(-3, 4)
            y += rng.randrange(-3, 4)
            ev(3, codes.ABS_MT_POSITION_X, x)
            ev(3, codes.ABS_MT_POSITION_Y, y)
            ev(3, codes.ABS_X, x)
            ev(3, codes.ABS_Y, y)
            ev(0, codes.SYN_REPORT, 0)
        t_us += 8000
        ev(3, codes.ABS_MT_TRACKING_ID, -1)
        ev(1, codes.BTN_TOUCH, 0)
        ev(0, codes.SYN_REPORT, 0)
        t_us += 200_000
    return out


def run_once(data: bytes, axes: Axes, affine: Affine) -> tuple[float, int, int]:
    """Seconds for the whole path over ``data``, read in 4 KiB chunks like a device fd."""
    pipeline = TouchPipeline(TouchConfig(), axes)
    apply = affine.apply
    taps = 0
    tail = b""
    start = time.perf_counter()
    for i in range(0, len(data), 4096):
        events, tail = decode_events(tail + data[i:i + 4096])
        for c in pipeline.feed(events):
            apply(c.x_raw, c.y_raw)
            if c.tap is not None:
                apply(c.tap.x_raw, c.tap.y_raw)
                taps += 1
    return time.perf_counter() - start, len(data) // 24, taps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--taps", type=int, default=10000, help="synthetic taps (23 frames, ~110 events each)")
    ap.add_argument("--repeat", type=int, default=5, help="runs; the best and the median are printed")
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    except (AttributeError, OSError):
        pass
    axes = Axes(AxisRange(0, 4095), AxisRange(0, 4095), None, True)
    affine = Affine(0.195, 0.001, 3.0, -0.001, 0.117, -2.0)
    data = encode_events(synthetic_events(args.taps))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    rates = []
    for _ in range(args.repeat):
        secs, n, taps = run_once(data, axes, affine)
        rates.append(n / secs)
    rates.sort()
    print(f"synthetic protocol B + ST, {n} events, {taps} taps: best {rates[-1]:,.0f} events/s, "
          f"median {rates[len(rates) // 2]:,.0f} events/s")
    if FIXTURES.is_dir():
        total_s, total_n = 0.0, 0
        for f in sorted(FIXTURES.glob("*.events")):
            rec = load_evemu(f)
            fdata = encode_events(rec.events) * 20
            best = min(run_once(fdata, rec.axes(), affine)[0] for _ in range(3))
            total_s += best
            total_n += len(fdata) // 24
        print(f"real recordings x20 ({total_n} events, protocols A, B, single touch): "
              f"{total_n / total_s:,.0f} events/s")
    verdict = "meets" if rates[len(rates) // 2] >= 200_000 else "MISSES"
    print(f"target 200,000 events/s: {verdict} (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
