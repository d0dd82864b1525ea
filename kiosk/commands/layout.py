"""``pin-kiosk layout``: where every key of a keypad is, in screen pixels.

Calibration, drift and test tools need the same key rectangles the kiosk
hit-tests; this prints them from the one source, ``kiosk.keypad``.
"""
from __future__ import annotations

import argparse
import json

from kiosk.cli import UsageError, config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pin-type", required=True, metavar="TYPE",
                        help="user_auth, signature, resident_registry or card_info_input")
    parser.add_argument("--lang", choices=("ja", "en"), default=None,
                        help="language of the control key labels (default: screen.language)")
    parser.add_argument("--json", action="store_true",
                        help='print {"screen": {"w", "h"}, "keys": [{"id", "label", "x", "y", "w", "h"}]}')


def run(args: argparse.Namespace) -> int:
    from kiosk.keypad import LayoutError, build_layout
    from kiosk.pin import parse_pin_type

    try:
        pin_type = parse_pin_type(args.pin_type)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    cfg = config_from_args(args)
    try:
        layout = build_layout(pin_type, cfg.screen, cfg.keypad, args.lang or cfg.screen.language)
    except LayoutError as exc:
        raise UsageError(f"{cfg.source}: {exc}") from None
    if args.json:
        print(json.dumps(layout.as_dict(), ensure_ascii=False))
        return 0
    print(f"# {pin_type} on {layout.screen_w_px}x{layout.screen_h_px} px: "
          f"keys {layout.key_mm:.1f} mm, gaps {layout.gap_mm:g} mm, pitch {layout.pitch_mm:.1f} mm")
    for k in layout.keys:
        print(f"{k.id:<10} {k.label:<8} x={k.x:<5} y={k.y:<5} w={k.w:<5} h={k.h}")
    return 0
