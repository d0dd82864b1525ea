"""``pin-kiosk config``: validate a configuration and show what the kiosk would use.

It checks what ``pin-kiosk run`` checks before it starts (an unset ``terminal.id``
included), so "``pin-kiosk config`` passes" is the deploy step before enabling the unit.
"""
from __future__ import annotations

import argparse
import json

from kiosk.cli import config_from_args
from kiosk.config import require_terminal_id


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")
    parser.add_argument("--quiet", action="store_true", help="only the exit status (and a mistake's one line)")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    require_terminal_id(cfg)
    if args.quiet:
        return 0
    if args.json:
        print(json.dumps({"source": cfg.source, **cfg.to_dict()}, ensure_ascii=False, indent=2))
        return 0
    print(f"# {cfg.source}: valid")
    for table, values in cfg.to_dict().items():
        print(f"[{table}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return 0
