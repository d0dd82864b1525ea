"""``pin-kiosk touch taps SOURCE``: the taps a recording, capture or panel produces.

The technician's tool for a reported problem: replay what the panel sent and
see each tap's raw and calibrated position, its sample count and duration,
through exactly the pipeline the kiosk uses (same filters, same calibration
from the state directory).  SOURCE is a touch spec (``evemu:PATH``,
``events:PATH``, ``evdev:PATH``, ``evdev:auto``) or a bare path (an evemu
recording when it reads like one, otherwise raw events).  Taps go to stdout,
one per line (``--json``: one JSON object per line); the summary and any
calibration alert go to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import sys
import time

import kiosk.cli
from kiosk.cli import UsageError, config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(title="touch commands", metavar="COMMAND", dest="touch_command")
    taps = sub.add_parser("taps", parents=[kiosk.cli.common_options()],
                          help="print the taps of a recording, capture or live panel",
                          description="Print the taps (raw and calibrated positions, samples, duration) "
                                      "of a touch source, through the kiosk's own pipeline.")
    taps.add_argument("source", metavar="SOURCE",
                      help="evemu:PATH | events:PATH | evdev:PATH | evdev:auto | a recording's path")
    taps.add_argument("--json", action="store_true", help="one JSON object per tap (JSON Lines)")
    taps.add_argument("--fast", action="store_true", help="replay an evemu recording at once, not in real time")


def spec_of(source: str) -> str:
    """A touch spec for SOURCE: specs pass through; a bare path is sniffed."""
    from drivers.touch import SCHEMES

    scheme = source.partition(":")[0]
    if scheme in SCHEMES:
        return source
    try:
        with open(source, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise UsageError(f"{source}: {exc.strerror}") from None
    return ("evemu:" if head[:2] in (b"# ", b"E:", b"N:") else "events:") + source


def _tap_line(n: int, tap, px: tuple[float, float], t0_s: float, as_json: bool) -> str:
    if as_json:
        return json.dumps({"kind": "tap", "n": n, "t_s": round(tap.t_up_s - tap.duration_s - t0_s, 6),
                           "raw": [tap.x_raw, tap.y_raw], "px": [round(px[0], 2), round(px[1], 2)],
                           "samples": tap.samples, "duration_s": round(tap.duration_s, 6),
                           "down_raw": list(tap.down_raw), "up_raw": list(tap.up_raw)})
    return (f"tap {n:3d}  t {tap.t_up_s - tap.duration_s - t0_s:8.3f} s  raw {tap.x_raw:8.1f} {tap.y_raw:8.1f}"
            f"  px {px[0]:7.1f} {px[1]:7.1f}  samples {tap.samples:4d}  duration {tap.duration_s:6.3f} s"
            f"  down {tap.down_raw[0]:g} {tap.down_raw[1]:g}  up {tap.up_raw[0]:g} {tap.up_raw[1]:g}")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "touch_command", None) != "taps":
        raise UsageError("say what to do: pin-kiosk touch taps SOURCE")
    from calibration.store import load_active
    from drivers.touch import TouchSpecError, open_touch

    cfg = config_from_args(args)
    spec = spec_of(args.source)
    if spec == "mouse":
        raise UsageError("the mouse source has no recording to read; give a recording, capture or device")
    if spec.startswith("events:") and not os.path.exists(spec[7:]):
        raise UsageError(f"{spec[7:]}: no such file or FIFO")
    try:
        src = open_touch(spec, cfg.touch, fast=args.fast)
    except TouchSpecError as exc:
        raise UsageError(str(exc)) from None
    affine, status = load_active(cfg.state_dir, src.axes, cfg.screen)
    ax = src.axes
    print(f"raw axes: x {ax.x.minimum}..{ax.x.maximum}, y {ax.y.minimum}..{ax.y.maximum}"
          f"{', multitouch' if ax.multitouch else ''}; calibration: {status.source}"
          + (f" (alert {status.alert}: {status.detail})" if status.alert else ""), file=sys.stderr)
    taps = cancels = 0
    t0_s = time.monotonic()
    sel = selectors.DefaultSelector()
    registered: int | None = None
    try:
        while not src.finished:
            now_s = time.monotonic()
            for contact in src.read(now_s):
                if contact.tap is not None:
                    taps += 1
                    print(_tap_line(taps, contact.tap, affine.apply(contact.tap.x_raw, contact.tap.y_raw),
                                    t0_s, args.json), flush=True)
                elif contact.kind == "cancel":
                    cancels += 1
                    if args.json:
                        print(json.dumps({"kind": "cancel", "t_s": round(contact.t_s - t0_s, 6),
                                          "raw": [contact.x_raw, contact.y_raw]}), flush=True)
                    else:
                        print(f"cancelled touch at raw {contact.x_raw:g} {contact.y_raw:g}: not a tap", flush=True)
            if src.finished:
                break
            if spec.startswith("events:") and src.losses and not src.present:
                break  # the capture's writer is done
            fd = src.fileno()
            if fd != registered:
                if registered is not None:
                    sel.unregister(registered)
                if fd is not None:
                    sel.register(fd, selectors.EVENT_READ)
                registered = fd
            wake = src.wakeup_s(time.monotonic())
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            if registered is None and timeout is None:
                timeout = 1.0
            sel.select(timeout)
    except KeyboardInterrupt:
        pass
    finally:
        sel.close()
        src.close()
    print(f"{taps} taps, {cancels} cancelled touches from {spec}", file=sys.stderr)
    if src.pipeline.axis_mismatch:
        print(f"warning: touch_axis_mismatch: positions off the device's axes ({src.pipeline.axis_mismatch});"
              " those touches are not taps", file=sys.stderr)
    return 0
