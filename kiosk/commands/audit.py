"""``pin-kiosk audit verify|show``: check the tamper-evident trail, or read it.

``verify`` only reads (it takes no lock and changes nothing, so it is safe
beside the running kiosk) and exits 1 at the first bad record: edited,
deleted, inserted, reordered, or a torn last line.  ``--head`` takes a chain
head the staff console saw, which also catches records cut off the end and a
rewrite with recomputed hashes.  ``--anchor SEQ:HEAD`` (what the console kept
from ``audit_seq``/``audit_head``) checks record SEQ is that one and flags every
record after it as unanchored; ``--verify-key`` (from ``seal-init``, kept off
the terminal) checks every forward-secure seal (kiosk.audit_seal).
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
    v.add_argument("--anchor", metavar="SEQ:SHA256", help="the (audit_seq, audit_head) the console kept last")
    v.add_argument("--verify-key", metavar="HEX", help="the verification key seal-init printed: check every seal")
    v.add_argument("--json", action="store_true", help="print the report as one JSON object")
    sub.add_parser("seal-init", parents=[kiosk.cli.common_options()],
                   help="set up forward-secure sealing; prints the verification key once",
                   description="Set up forward-secure sealing of STATE_DIR/audit.jsonl. The verification key is "
                               "printed once: keep it off the terminal (the city's IT team).")
    s = sub.add_parser("show", parents=[kiosk.cli.common_options()],
                       help="print the records (newest last)", description="Print the audit records, newest last.")
    s.add_argument("--kind", action="append", metavar="KIND", help="only records of this kind (repeatable)")
    s.add_argument("--tail", type=int, metavar="N", help="only the last N records")
    s.add_argument("--json", action="store_true", help="print each record as its JSON line")


def run(args: argparse.Namespace) -> int:
    from kiosk.audit import AUDIT_FILE

    action = getattr(args, "audit_action", None)
    if action is None:
        raise UsageError("say what to do: verify, show or seal-init")
    state_dir = config_from_args(args).state_dir
    path = state_dir / AUDIT_FILE
    if action == "seal-init":
        from kiosk.audit_seal import SealError, init_sealing, verify_key_fingerprint
        try:
            key = init_sealing(state_dir)
        except (SealError, OSError) as exc:
            print(f"pin-kiosk audit: {exc}", file=sys.stderr)
            return 1
        print(f"verification key {key.hex()} (fingerprint {verify_key_fingerprint(key)}): keep it off the "
              "terminal; it is shown only now")
        return 0
    if action == "verify":
        return _verify(path, args)
    return _show(path, args)


def _hex(value: str, what: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise UsageError(f"{what} must be 64 lowercase hex digits")
    return value


def _verify(path, args: argparse.Namespace) -> int:
    from kiosk.audit import verify_chain
    from kiosk.audit_seal import verify_seals
    from kiosk.durable import read_records

    head = _hex(args.head, "--head") if args.head is not None else None
    anchor = None
    if args.anchor is not None:
        seq_text, _, anchor_head = args.anchor.partition(":")
        if not seq_text.isdigit() or int(seq_text) < 1:
            raise UsageError("--anchor must be SEQ:SHA256 (SEQ from 1)")
        anchor = (int(seq_text), _hex(anchor_head, "--anchor's head"))
    verify_key = bytes.fromhex(_hex(args.verify_key, "--verify-key")) if args.verify_key else None
    report = verify_chain(path, expected_head=head)
    ok, problems, notes = report.ok, [], []
    if not report.ok:
        where = f"line {report.first_bad_line}" if report.first_bad_line else "end of trail"
        problems.append(f"BAD at {where}: {report.reason} ({report.records} good records before it, "
                        f"last good head {report.head})")
    lines = read_records(path).lines[: report.records]
    unanchored = sealed = unsealed = None
    if anchor is not None:
        seq, want = anchor
        got = json.loads(lines[seq - 1]).get("hash") if seq <= len(lines) else None
        if got is None:
            ok = False
            problems.append(f"BAD: the trail has {len(lines)} records, the console's anchor is record {seq}")
        elif got != want:
            ok = False
            problems.append(f"BAD: record {seq} is not the one the console anchored (trail rewritten)")
        else:
            unanchored = len(lines) - seq
            if unanchored:
                notes.append(f"{unanchored} records after the anchor (seq {seq + 1}-{len(lines)}) are unanchored")
    if verify_key is not None and report.ok:
        seals = verify_seals(lines, verify_key)
        sealed, unsealed = seals.sealed_records, seals.unsealed_records
        if not seals.ok:
            ok = False
            problems.append(f"BAD seal: {seals.reason}")
        else:
            notes.append(f"{seals.seals} seals valid, records 1-{sealed} sealed, {unsealed} unsealed after them")
    if args.json:
        print(json.dumps({"file": str(path), "ok": ok, "records": report.records,
                          "first_bad_line": report.first_bad_line, "reason": "; ".join(problems) or None,
                          "head": report.head, "unanchored": unanchored, "sealed": sealed, "unsealed": unsealed}))
    elif ok:
        print(f"{path}: ok, {report.records} records, head {report.head}" + "".join(f"; {n}" for n in notes))
    else:
        print(f"{path}: " + "; ".join(problems + notes))
    return 0 if ok else 1


def _show(path, args: argparse.Namespace) -> int:
    from kiosk.audit import KINDS

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
