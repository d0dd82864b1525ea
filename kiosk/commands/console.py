"""``pin-kiosk console --port PORT [--gui | --json]``: the clerk's console (``kiosk.console``)."""
from __future__ import annotations

import argparse

from kiosk.cli import config_from_args
from kiosk.console.main import configure as _configure
from kiosk.console.main import run_console


def configure(parser: argparse.ArgumentParser) -> None:
    _configure(parser)


def run(args: argparse.Namespace) -> int:
    return run_console(args, config_from_args(args).console)
