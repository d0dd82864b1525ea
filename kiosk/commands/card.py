"""``pin-kiosk card status``: which reader, is a card in it, how many tries each PIN has left.

Reads the counters with the empty VERIFY only: it never spends a try.
Exit 1 with one clear line when pcscd or the reader is missing.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

import kiosk.cli
from kiosk.cli import UsageError, config_from_args
from kiosk.pin import PinType

if TYPE_CHECKING:
    from drivers.card.base import CardBackend

#: one line for the technician per reason the card cannot be read
MESSAGES = {
    "no_pcscd": "pcscd is not running (start it: systemctl start pcscd)",
    "no_reader": "no card reader found (check the USB cable, or [card] reader_pattern)",
    "no_card": "no card in the reader",
    "not_mynumber": "the card in the reader is not a My Number card (no JPKI applet)",
    "card_removed": "the card was removed while it was being read",
    "error": "the reader or card answered with an error",
}


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(title="card commands", metavar="ACTION", dest="card_action")
    status = sub.add_parser("status", help="reader, card presence and tries left of each PIN (spends no try)",
                            parents=[kiosk.cli.common_options()])
    status.add_argument("--json", action="store_true", help="print JSON")


def status_report(backend: "CardBackend") -> dict:
    """The ``card status`` document for ``backend`` (also what the demo and tests read)."""
    reader = backend.status()
    report = {"reader": reader.reader, "card": reader.card, "state": reader.outcome,
              "pins": {str(t): {"tries_left": None} for t in PinType}}
    if reader.card != "present":
        return report
    for pin_type in PinType:
        result = backend.tries_left(pin_type)
        report["pins"][str(pin_type)] = {"tries_left": result.tries_left}
        if result.outcome not in ("ok", "locked"):
            report["state"] = result.outcome
            if result.outcome in ("card_removed", "no_card"):
                report["card"] = "absent"
            break
    return report


def run(args: argparse.Namespace) -> int:
    if getattr(args, "card_action", None) != "status":
        raise UsageError("expected an action: status")
    cfg = config_from_args(args)
    from drivers.card import open_card

    try:
        backend = open_card(cfg.card.source, cfg.card)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        report = status_report(backend)
    finally:
        backend.close()
    state = report["state"]
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(f"reader: {report['reader'] or '-'}")
        print(f"card: {report['card']}")
        for name, pin in report["pins"].items():
            left = pin["tries_left"]
            print(f"{name}: {'-' if left is None else str(left) + ' tries left'}")
    if state != "ok" and state != "no_card":
        print(f"pin-kiosk card: {MESSAGES.get(state, state)}", file=sys.stderr)
        return 1
    return 0
