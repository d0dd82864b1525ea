"""``pin-kiosk run``: the product.  The terminal's main loop until SIGTERM."""
from __future__ import annotations

import argparse
import sys

from kiosk.cli import config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Headless, scriptable: --video dummy --touch events:FIFO --card pcsc "
                     "--serial /dev/pts/N --state-dir DIR")


def run(args: argparse.Namespace) -> int:
    from kiosk.app import StartError, run_kiosk

    cfg = config_from_args(args)
    try:
        return run_kiosk(cfg)
    except StartError as exc:
        print(f"pin-kiosk run: {exc}", file=sys.stderr)
        return 1
