"""``pin-kiosk audit verify|show``: check the tamper-evident trail, or read it.

``verify`` only reads (it takes no lock and changes nothing, so it is safe
beside the running kiosk) and exits 1 at the first bad record: edited,
deleted, inserted, reordered, or a torn last line.  ``--head`` takes a chain
head the staff console saw, which also catches records cut off the end and a
rewrite with recomputed hashes.
"""
from __future__ import annotations

import argparse
import json
import sys

import kiosk.cli
from kiosk.cli import UsageError, config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(title="actions", metavar="ACTION", dest="audit_action")
    v = sub.add_parser("verify", parents=[kiosk.cli.common_options()],
                       help="check the whole hash chain; exit 1 at the first bad record",
                       description="Check the whole hash chain of STATE_DIR/audit.jsonl; exit 1 at the first bad record.")
    v.add_argument("--head", metavar="SHA256", help="a chain head the staff console saw; it must be in the trail")
    v.add_argument("--json", action="store_true", help="print the report as one JSON object")
    s = sub.add_parser("show", parents=[kiosk.cli.common_options()],
                       help="print the records (newest last)", description="Print the audit records, newest last.")
    s.add_argument("--kind", action="append", metavar="KIND", help="only records of this kind (repeatable)")
    s.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    s.add_argument("--json", action="store_true", help="print each record as its JSON line")


def run(args: argparse.Namespace) -> int:
    from kiosk.audit import AUDIT_FILE, KINDS, verify_chain

    action = getattr(args, "audit_action", None)
    if action is None:
        raise UsageError("say what to do: verify or show")
    path = config_from_args(args).state_dir / AUDIT_FILE
    if action == "verify":
        head = args.head
        if head is not None and (len(head) != 64 or any(c not in "0123456789abcdef" for c in head)):
            raise UsageError("--head must be 64 lowercase hex digits")
        report = verify_chain(path, expected_head=head)
        if args.json:
            print(json.dumps({"file": str(path), "ok": report.ok, "records": report.records,
                              "first_bad_line": report.first_bad_line, "reason": report.reason or None,
                              "head": report.head}))
        elif report.ok:
            print(f"{path}: ok, {report.records} records, head {report.head}")
        else:
            where = f"line {report.first_bad_line}" if report.first_bad_line else "end of trail"
            print(f"{path}: BAD at {where}: {report.reason} "
                  f"({report.records} good records before it, last good head {report.head})")
        return 0 if report.ok else 1
    # show
    if args.tail is not None and args.tail < 0:
        raise UsageError("--tail must be 0 or more")
    for kind in args.kind or ():
        if kind not in KINDS:
            raise UsageError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    from kiosk.durable import read_records

    records = read_records(path)
    lines = records.lines
    chosen = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            rec = None
        if args.kind and (not isinstance(rec, dict) or rec.get("kind") not in args.kind):
            continue
        chosen.append((line, rec))
    if args.tail is not None:
        chosen = chosen[len(chosen) - args.tail:] if args.tail else []
    for line, rec in chosen:
        if args.json or not isinstance(rec, dict):
            print(line)
            continue
        fields = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in rec.items()
                          if k not in ("seq", "ts", "kind", "prev", "hash"))
        print(f"{rec.get('seq')} {rec.get('ts')} {rec.get('kind')} {fields}".rstrip())
    if records.torn_tail is not None:
        print(f"pin-kiosk audit: {path}: torn last line ({len(records.torn_tail)} bytes) not shown",
              file=sys.stderr)
    return 0
