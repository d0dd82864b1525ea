"""``pin-kiosk card status``: which reader, is a card in it, what card, tries left of each PIN.

Reads the counters with the empty VERIFY only: it never spends a try, and needs no
PIN for anything it shows.  It shows where the 住基 applet was found (and what each
candidate answered), so a technician with a real card confirms the AID once
(``[card] resident_registry_aid`` then fixes it), the JPKI token's verdict (My
Number card, old 住基カード, smartphone) and the user-authentication
certificate's end date.  Exit 1 with one clear line when pcscd or the reader is
missing or the card cannot be used.
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
    "juki_card": "the card in the reader is an old 住基カード (住民基本台帳カード), not a My Number card",
    "smartphone": "that is a smartphone's JPKI, not a My Number card",
    "unknown_token": "the card's JPKI token is not a My Number card's",
    "no_applet": "the card has no applet for this PIN",
    "not_a_card": "what is in the reader does not answer like a smart card (ISO 7816-4)",
    "card_error": "the card answered SELECT with an error",
    "two_cards": "two readers hold a card: leave only the citizen's (or set [card] reader_pattern)",
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
    report = {"reader": reader.reader, "readers": list(reader.readers), "card": reader.card,
              "state": reader.outcome, "token": None, "cert_valid_until": None,
              "resident_registry_aid": None, "resident_registry_candidates": {},
              "pins": {str(t): {"tries_left": None} for t in PinType}}
    if reader.card != "present" or reader.outcome != "ok":
        return report
    facts = backend.card_facts()
    if facts.outcome != "ok":
        report["state"] = facts.outcome
        if facts.outcome in ("card_removed", "no_card"):
            report["card"] = "absent"
        return report
    report.update(token=facts.token,
                  cert_valid_until=facts.valid_until.isoformat() if facts.valid_until else None,
                  resident_registry_aid=facts.resident_registry_aid.hex().upper() if facts.resident_registry_aid else None,
                  resident_registry_candidates={aid.hex().upper(): "63Cx" if ok else "no"
                                                for aid, ok in facts.resident_registry_candidates})
    for pin_type in PinType:
        result = backend.tries_left(pin_type)
        report["pins"][str(pin_type)] = {"tries_left": result.tries_left}
        if result.outcome == "no_applet" and pin_type == PinType.RESIDENT_REGISTRY:
            continue  # said by resident_registry_aid: null; the other PINs are still read
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
        print(f"reader: {report['reader'] or '-'}  (matching: {', '.join(report['readers']) or '-'})")
        print(f"card: {report['card']}" + (f" ({report['token']})" if report["token"] else ""))
        if report["cert_valid_until"]:
            print(f"user authentication certificate valid until: {report['cert_valid_until']}")
        if report["resident_registry_candidates"]:
            tried = ", ".join(f"{aid}: {answer}" for aid, answer in report["resident_registry_candidates"].items())
            print(f"resident_registry applet: {report['resident_registry_aid'] or 'not found'}  ({tried})")
        for name, pin in report["pins"].items():
            left = pin["tries_left"]
            print(f"{name}: {'-' if left is None else str(left) + ' tries left'}")
    if state != "ok" and state != "no_card":
        print(f"pin-kiosk card: {MESSAGES.get(state, state)}", file=sys.stderr)
        return 1
    return 0
