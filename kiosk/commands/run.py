"""``pin-kiosk run``: the product.  The terminal's main loop until SIGTERM."""
from __future__ import annotations

import argparse
import sys

from kiosk.cli import config_from_args
from kiosk.config import require_terminal_id


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preflight", action="store_true",
                        help="refuse to start (exit 2) when the system's pcscd logs APDUs or a reader "
                             "talks over a network (the unit sets it)")
    parser.epilog = ("Headless, scriptable: --video dummy --touch events:FIFO --card pcsc "
                     "--serial /dev/pts/N --state-dir DIR")


def run(args: argparse.Namespace) -> int:
    from kiosk.app import StartError, run_kiosk

    cfg = config_from_args(args)
    require_terminal_id(cfg)
    if args.preflight:
        from kiosk.pcscd_setup import findings
        found = findings()
        if found:
            # exit 2: the unit's RestartPreventExitStatus, so this never becomes a restart loop
            print(f"pin-kiosk run: refused: {found[0]}", file=sys.stderr)
            return 2
    try:
        return run_kiosk(cfg)
    except StartError as exc:
        print(f"pin-kiosk run: {exc}", file=sys.stderr)
        return 1
