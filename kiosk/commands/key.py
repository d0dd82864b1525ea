"""``pin-kiosk key create|show|rotate``: the terminal's console key (kiosk.console_key).

``create`` at install, ``show`` prints the fingerprint to compare with the staff
console's (``pin-kiosk key show --key-file COPY`` on the staff PC), ``rotate``
replaces the key (copy it to the console, then restart the kiosk).  The key
itself is never printed.
"""
from __future__ import annotations

import argparse
import sys

from kiosk.cli import config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("create", "show", "rotate"))
    parser.add_argument("--key-file", help="the key file (default: [console] key_file of --config)")


def run(args: argparse.Namespace) -> int:
    from kiosk.console_key import KeyFileError, create_key, fingerprint, load_key, write_new_key

    path = args.key_file or config_from_args(args).console.key_file
    try:
        if args.action == "create":
            key = create_key(path)
        elif args.action == "rotate":
            if load_key(path) is None:
                raise KeyFileError(f"{path}: no key to rotate (use create)")
            key = write_new_key(path)
        else:
            key = load_key(path)
            if key is None:
                raise KeyFileError(f"{path}: no key (use create)")
    except (KeyFileError, OSError) as exc:
        print(f"pin-kiosk key: {exc}", file=sys.stderr)
        return 1
    verb = {"create": "created", "rotate": "rotated: copy it to the staff console, restart the kiosk",
            "show": "key"}[args.action]
    print(f"{path}: {verb}; fingerprint {fingerprint(key)}")
    return 0
