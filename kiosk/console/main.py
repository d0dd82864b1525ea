"""``pin-kiosk console`` (and ``pin-kiosk-console`` on a staff PC): pick the face, start the core.

The line console when stdin is a terminal; the plain face for pipes and
``--json``; the window with ``--gui``.  Settings come from the kiosk's TOML
``[console]`` table (baudrate, retransmit_s, heartbeat_s, reopen_max_s,
time_zone, key_file) when ``--config`` names one, else the defaults.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from kiosk.config import ConfigError, ConsoleConfig


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, metavar="PORT",
                        help="the kiosk's line: device path (COM3, /dev/ttyUSB0) or pyserial URL (socket://host:port)")
    face = parser.add_mutually_exclusive_group()
    face.add_argument("--gui", action="store_true", help="open the clerk's window (Tk) instead of the line console")
    face.add_argument("--json", action="store_true", help="print each new kiosk frame as one JSON object (scripts)")
    parser.add_argument("--key-file", metavar="FILE",
                        help="the terminal's console key (protocol 2; default: [console] key_file of --config)")
    parser.add_argument("--time-zone", metavar="ZONE", default=None,
                        help="show times in ZONE (default: [console] time_zone, Asia/Tokyo)")
    parser.add_argument("--layout-file", metavar="FILE", default=None, help=argparse.SUPPRESS)


def _zone(c: ConsoleConfig, override: str | None):  # -> tzinfo
    from kiosk.console.wording import zone_named
    try:
        return zone_named(override or c.time_zone)
    except ValueError as exc:
        raise ConfigError("--time-zone", "console.time_zone", str(exc)) from None


def run_console(args: argparse.Namespace, c: ConsoleConfig) -> int:
    """The console with the ``[console]`` settings ``c``, the face the arguments pick."""
    from kiosk.console.client import ConsoleClient
    from kiosk.console.station import Station
    from kiosk.console_link import new_boot

    if not args.port.strip():
        from kiosk.cli import UsageError
        raise UsageError("--port must name a device path or URL")
    from kiosk.console_key import KeyFileError, load_key
    try:
        key = load_key(args.key_file or c.key_file)
        if key is None and args.key_file:
            raise KeyFileError(f"{args.key_file}: no such key file")
    except KeyFileError as exc:
        print(f"pin-kiosk console: {exc}", file=sys.stderr)
        return 2
    client = ConsoleClient(new_boot(), _zone(c, args.time_zone), retransmit_s=c.retransmit_s,
                           heartbeat_s=c.heartbeat_s, key=key)
    station = Station(client, args.port, c.baudrate, c.reopen_max_s)
    stop = threading.Event()
    if args.gui:
        from kiosk.console.window import run_window
        return run_window(station, layout_file=args.layout_file)
    if args.json or sys.stdin is None or not sys.stdin.isatty():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        from kiosk.console.plain import run_plain
        return run_plain(station, sys.stdin, sys.stdout, sys.stderr, args.json, stop)
    try:
        from kiosk.console.line import run_line
    except ImportError:  # a terminal's own Python has no prompt_toolkit: plain lines still work
        print("pin-kiosk console: prompt_toolkit is not installed: plain lines (pip install prompt_toolkit, "
              "or use --gui)", file=sys.stderr)
        from kiosk.console.plain import run_plain
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        return run_plain(station, sys.stdin, sys.stdout, sys.stderr, False, stop)
    return run_line(station)


def main(argv: list[str] | None = None) -> int:
    """``pin-kiosk-console``: the console alone, for a staff PC that has only this part installed."""
    from kiosk.config import load_console_config
    from kiosk.log import setup_logging

    parser = argparse.ArgumentParser(prog="pin-kiosk-console", description="the clerk's console of a pin-kiosk terminal")
    parser.add_argument("--config", metavar="FILE", default=None, help="TOML with a [console] table")
    configure(parser)
    args = parser.parse_args(argv)
    setup_logging("warning")
    try:
        return run_console(args, load_console_config(args.config))
    except ConfigError as exc:
        print(f"pin-kiosk-console: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
