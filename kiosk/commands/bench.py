"""``pin-kiosk bench [--json] [--quick]``: the whole terminal measured against its targets.

The measurements live in ``benchmarks/bench_app.py`` (the kiosk in a
subprocess fed by a scripted finger, beside the naive ``clock.tick(60)``
loop of ``benchmarks/naive_loop.py``, plus the touch, card and drift area
benchmarks); this command runs them and prints the figures, or one JSON
document with ``--json``.  A full run takes about five minutes (two 30 s idle
windows, two typing loads of 200 taps, the drift simulation); ``--quick``
runs a few seconds of each for tests, and its figures mean nothing.
The benchmark picks its own touch FIFO, serial ptys, simulated card, state
directory and the SDL ``dummy`` driver; of the common options only
``--config`` (screen size, fonts, touch ranges, timings) matters.
Exit code 0 when the run completed (whether or not the targets were met:
the figures say that), 1 when it could not run.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCHMARKS_DIR = Path(__file__).resolve().parent.parent.parent / "benchmarks"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print every figure as one JSON document")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds of each measurement (tests only: the figures are not meaningful)")


def run(args: argparse.Namespace) -> int:
    from kiosk.cli import EXIT_FAILURE, config_from_args

    cfg = config_from_args(args)  # validates --config before minutes of measuring
    if str(BENCHMARKS_DIR) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS_DIR))
    import bench_app

    config = cfg.source if cfg.source != "<defaults>" else None
    try:
        doc = bench_app.run_all(config, quick=args.quick,
                                progress=lambda msg: print(f"pin-kiosk bench: {msg}", file=sys.stderr, flush=True))
    except (RuntimeError, OSError) as exc:
        print(f"pin-kiosk bench: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps(doc, indent=2) if args.json else bench_app.summary(doc))
    return 0
