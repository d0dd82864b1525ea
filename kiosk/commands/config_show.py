"""``pin-kiosk config``: validate a configuration and show what the kiosk would use."""
from __future__ import annotations

import argparse
import json

from kiosk.cli import config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the effective settings as JSON")


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.json:
        print(json.dumps({"source": cfg.source, **cfg.to_dict()}, ensure_ascii=False, indent=2))
        return 0
    print(f"# {cfg.source}: valid")
    for table, values in cfg.to_dict().items():
        print(f"[{table}]")
        for key, value in values.items():
            print(f"{key} = {json.dumps(value, ensure_ascii=False)}")
    return 0
