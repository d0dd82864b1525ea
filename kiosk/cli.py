"""The one command line: ``pin-kiosk SUBCOMMAND``.

Each subcommand is a module named in ``COMMANDS`` that provides
``configure(parser)`` (its own arguments; nested subcommands pass
``parents=[common_options()]`` so the common options work after them too) and
``run(args) -> int``.  Subcommand modules import their heavy dependencies
(pygame, pyscard, evdev) inside ``run``, so ``--help`` stays fast and a
missing driver cannot break unrelated commands.  Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from kiosk import __version__
from kiosk.config import Config, ConfigError, load_config
from kiosk.log import LEVELS, describe_exception, setup_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

#: subcommand -> (module, one-line help).  Add a line when a subcommand exists.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("kiosk.commands.run", "run the terminal: touch, card, staff console and screen"),
    "demo": ("kiosk.commands.demo", "play complete counter sessions (headless) or open a window to try it"),
    "config": ("kiosk.commands.config_show", "check a configuration file and print the effective settings"),
    "screens": ("kiosk.commands.screens", "render every screen and keypad to PNG files (headless)"),
    "layout": ("kiosk.commands.layout", "print the key rectangles of a PIN type's keypad in screen pixels"),
    "touch": ("kiosk.commands.touch", "touch input tools: print the taps of a recording, capture or panel"),
    "calibrate": ("kiosk.commands.calibrate", "fit and install the touch calibration matrix (from taps, or imported)"),
    "card": ("kiosk.commands.card", "card reader and My Number card status (tries left; spends no try)"),
    "simcard": ("kiosk.commands.simcard", "plug the virtual My Number card into pcscd through vpcd (tests, demo)"),
    "audit": ("kiosk.commands.audit", "verify or show the tamper-evident audit trail"),
    "key": ("kiosk.commands.key", "the terminal's console key: create, show its fingerprint, rotate"),
    "console": ("kiosk.commands.console", "reference staff console: watch and drive a kiosk over its serial line"),
    "drift": ("kiosk.commands.drift", "touch drift: seeded simulation of the estimator, or the kept drift state"),
    "bench": ("kiosk.commands.bench", "measure the whole terminal against its speed and memory targets"),
}

log = logging.getLogger("pin_kiosk.cli")


class UsageError(Exception):
    """A subcommand's arguments are wrong: printed as one line, exit 2."""


def common_options() -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("common options")
    S = argparse.SUPPRESS
    g.add_argument("--config", metavar="FILE", default=S, help="TOML configuration (default: /etc/pin-kiosk/kiosk.toml on a terminal, config/demo.toml in a checkout)")
    g.add_argument("--touch", metavar="SPEC", default=S, help="touch source: evdev:PATH|evdev:auto|events:PATH|evemu:PATH|mouse")
    g.add_argument("--card", metavar="SPEC", default=S, help="card backend: pcsc[:READER]|sim")
    g.add_argument("--serial", metavar="PORT", default=S, help="staff console port: device path or pyserial URL")
    g.add_argument("--state-dir", metavar="DIR", default=S, help="where calibration, audit, journal and metrics live")
    g.add_argument("--video", metavar="DRIVER", default=S, help="kms (DRM, no EGL) or an SDL video driver: x11, wayland, dummy")
    g.add_argument("--log-level", choices=LEVELS, default=S, help="stderr log level (default: from config)")
    g.add_argument("--debug", action="store_true", default=S, help="print a traceback on internal errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="pin-kiosk",
        description="PIN terminal for My Number card counters.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"pin-kiosk {__version__}")
    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        sp.set_defaults(command_module=module, command_name=name, command_parser=sp)
        importlib.import_module(module).configure(sp)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The configuration the arguments select, with command-line overrides applied."""
    overrides = {k: getattr(args, k, None) for k in ("touch", "card", "serial", "state_dir", "video")}
    cfg = load_config(getattr(args, "config", None), overrides)
    if not hasattr(args, "log_level"):
        setup_logging(cfg.logging.level)
    return cfg


def main(argv: list[str] | None = None) -> int:
    # pygame greets on stdout when first imported; stdout is for our output (JSON, transcripts)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "log_level", None) or "info")
    if not hasattr(args, "command_module"):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return int(importlib.import_module(args.command_module).run(args) or 0)
    except ConfigError as exc:
        for error in exc.errors:
            print(f"pin-kiosk: config error: {error.line()}", file=sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"pin-kiosk {args.command_name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_FAILURE
    except BrokenPipeError:  # output piped into head(1) and closed: not an error of ours
        sys.stderr.close()
        return EXIT_FAILURE
    except Exception as exc:  # last line of defence: one line, no traceback unless asked
        if getattr(args, "debug", False) or os.environ.get("PIN_KIOSK_DEBUG"):
            raise
        print(f"pin-kiosk {args.command_name}: internal error: {describe_exception(exc)} "
              "(run with --debug for a traceback)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
