"""The tamper-evident audit trail: what the terminal did, when, never a PIN.

Theory of operation
-------------------
21 cards vanished from a ward office that kept no record of who handled what
(docs/product.md).  This module keeps that record: one JSON object per line
in ``<state dir>/audit.jsonl``, appended and fsynced per record through
``kiosk.durable.append_record``.

*Hash chain.*  Every record carries ``seq`` (1, 2, ...), ``prev`` (the
``hash`` of the record before it; 64 zeros for the first) and ``hash``: the
SHA-256 of the record's canonical JSON without ``hash`` (sorted keys, no
spaces, ASCII).  Editing a record breaks its own hash; deleting, inserting or
reordering breaks the next record's ``prev`` or ``seq``; cutting records off
the front breaks record 1's ``prev``.  The newest hash (``head``) goes to the
staff console in every ``status`` and ``session.ended`` frame, so even a
whole rewrite with recomputed hashes, or records cut off the end, is caught by
``verify_chain(path, expected_head=...)`` with a head the console saw.

*Whitelist.*  ``KINDS`` names every kind of record and every field it may
carry, with its type and limits.  ``AuditTrail.record`` refuses an unknown
kind, an unknown or missing field, a value of the wrong type, and any
``kiosk.pin.Pin`` or bytes value, so a PIN (or which keys were pressed)
cannot be written even by mistake.  ``verify_chain`` applies the same
whitelist to what it reads.

*Time.*  The order of the trail is ``seq``.  ``ts`` is the wall clock, but never
earlier than the record before it (the last record's time is read at open): a
Raspberry Pi has no RTC and starts with a clock that NTP later moves, maybe back,
and a trail whose times run backwards would read as tampering.  Each ``boot``
record names the kernel's boot id and whether the clock was synchronised then.

*Power cuts.*  A line without its newline is the record being written when
the power went.  ``verify_chain`` reports it (the file is not whole), and
``AuditTrail`` at start moves it to ``audit.quarantine`` (base64, with the
head it followed), cuts it off, and records ``shutdown.unclean``, so the
trail goes on from a whole chain and nothing is silently lost.  That is a
power cut, not tampering: ``audit.chain_broken`` is recorded only for a whole
line that does not verify.  Lines are read strictly
(``kiosk.state_files.parse_json``: no NaN, bounded size and nesting), so no
line, however mangled, can keep the kiosk from starting.

One process writes the trail: ``AuditTrail`` holds an exclusive ``flock`` on
``audit.lock`` while open; readers (``pin-kiosk audit verify``) take no lock.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kiosk.durable import Records, append_record, read_records, truncate_torn_tail
from kiosk.pin import Pin, PinType
from kiosk.state_files import StateFileError, parse_json
from kiosk.vocabulary import Action, DriftLevel, EndReason, PinResult, values

log = logging.getLogger("pin_kiosk.audit")

AUDIT_FILE = "audit.jsonl"
QUARANTINE_FILE = "audit.quarantine"
LOCK_FILE = "audit.lock"
GENESIS = "0" * 64

#: A record is one line of a few hundred characters; the residuals list is the deepest part.
MAX_LINE_CHARS = 16 << 10
MAX_RECORD_DEPTH = 3

#: Fields every record has, written by this module, never by a caller.
ENVELOPE = ("seq", "ts", "kind", "prev", "hash")


class AuditError(ValueError):
    """A record the whitelist does not allow (a programming error, never user input)."""


class AuditBusy(RuntimeError):
    """Another process holds the trail open for writing."""


# -- field types ---------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """One allowed field: its type and limits, and whether it may be absent or null."""

    type: str  # "choice" | "int" | "float" | "bool" | "ident" | "text" | "sha256" | "floats"
    choices: tuple[str, ...] = ()
    lo: float = -math.inf
    hi: float = math.inf
    max_len: int = 64
    optional: bool = False

    def problem(self, value: Any) -> str | None:
        """Why ``value`` may not be stored in this field, or None when it may."""
        if value is None:
            return None if self.optional else "is required"
        t = self.type
        if t == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if t in ("int", "float"):
            kinds = (int,) if t == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds):
                return f"must be {'an integer' if t == 'int' else 'a number'}"
            if not math.isfinite(value) or not self.lo <= value <= self.hi:
                return f"must be from {self.lo:g} to {self.hi:g}"
            return None
        if t == "floats":
            if not isinstance(value, (list, tuple)) or len(value) > self.max_len:
                return f"must be a list of at most {self.max_len} numbers"
            for x in value:
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) \
                        or not self.lo <= x <= self.hi:
                    return f"must hold numbers from {self.lo:g} to {self.hi:g}"
            return None
        if not isinstance(value, str):  # str enums (PinType) are str, and welcome
            return "must be text"
        if t == "choice":
            return None if value in self.choices else f"must be one of {', '.join(self.choices)}"
        if len(value) > self.max_len:
            return f"must be at most {self.max_len} characters"
        if t == "sha256":
            return None if _SHA256.fullmatch(value) else "must be 64 lowercase hex digits"
        if t == "ident":
            return None if _IDENT.fullmatch(value) else "must be 1+ of A-Z a-z 0-9 _ . : - @"
        if t == "text":
            return None if value.isprintable() else "must be one printable line"
        raise AssertionError(f"unknown field type {t}")


_SHA256 = re.compile(r"[0-9a-f]{64}")
_IDENT = re.compile(r"[A-Za-z0-9_.:@-]+")

PIN_TYPES = tuple(t.value for t in PinType)
PIN_RESULTS = values(PinResult)
END_REASONS = values(EndReason)
DRIFT_LEVELS = values(DriftLevel)


def _choice(*values: str, optional: bool = False) -> Field:
    return Field("choice", choices=values, optional=optional)


_TECH = Field("ident", max_len=64)
_SESSION = Field("ident", max_len=64)
_MM = Field("float", lo=0, hi=1000)
_OPT_SHA = Field("sha256", optional=True)

_OPT_INT = Field("int", lo=0, hi=10_000, optional=True)

#: kind -> {field: Field}.  Nothing outside this table can reach the file.  The names
#: are the ones ``kiosk.session`` puts in its ``ToAudit`` effects, so the app can write
#: ``trail.record(effect.kind, **effect.fields)``.
KINDS: dict[str, dict[str, Field]] = {
    # kernel_boot: the kernel's boot id; clock: whether the wall clock was synchronised (a Pi has
    # no RTC: before NTP its clock may be hours behind, so an auditor knows which times to trust)
    "boot": {"version": Field("ident"), "terminal": Field("ident"), "boot": Field("ident"),
             "kernel_boot": Field("ident", max_len=64, optional=True),
             "clock": _choice("synced", "unsynced", optional=True)},
    "shutdown": {"reason": Field("ident")},
    "config.loaded": {"source": Field("text", max_len=512), "sha256": Field("sha256")},
    "session.start": {"session": _SESSION, "operator": Field("ident", optional=True),
                      "pin_type": _choice(*PIN_TYPES, optional=True),
                      "action": _choice(*values(Action), optional=True)},
    "session.end": {"session": _SESSION, "reason": _choice(*END_REASONS), "cleared": Field("bool", optional=True)},
    # the outcome only: no PIN, no length, no key positions, no timing finer than the record
    "pin.result": {"session": Field("ident", max_len=64, optional=True), "pin_type": _choice(*PIN_TYPES),
                   "action": _choice(*values(Action)), "result": _choice(*PIN_RESULTS),
                   "tries_left": Field("int", lo=0, hi=15, optional=True)},
    # the session's card was identified (no PIN); where its 住基 applet was found, when looked for
    "card.identified": {"session": _SESSION, "reader": Field("text", max_len=128),
                        "resident_registry_aid": Field("ident", max_len=32, optional=True)},
    # the counter read at the insertion after a card was pulled during VERIFY
    "card.counter": {"pin_type": _choice(*PIN_TYPES), "tries_left": Field("int", lo=0, hi=15, optional=True),
                     "reason": _choice("removed_during_verify"), "card": _choice("same", "other")},
    "card.inserted": {"reader": Field("text", max_len=128)},
    "card.removed": {"reader": Field("text", max_len=128)},
    "reader.present": {"reader": Field("text", max_len=128), "present": Field("bool")},
    "touch.present": {"device": Field("text", max_len=256), "present": Field("bool")},
    "calibration": {"technician": _TECH, "outcome": _choice("accepted", "rejected", "timeout", "cancelled"),
                    "rms_mm": Field("float", lo=0, hi=1000, optional=True),
                    "max_mm": Field("float", lo=0, hi=1000, optional=True),
                    "residuals_mm": Field("floats", lo=0, hi=1000, max_len=32, optional=True),
                    "points": _OPT_INT, "validation_points": _OPT_INT, "rejected_taps": _OPT_INT,
                    "matrix_before_sha256": _OPT_SHA, "matrix_after_sha256": _OPT_SHA},
    "drift.check": {"technician": _TECH, "passed": Field("bool"), "rms_mm": _MM, "max_mm": _MM},
    "drift.level": {"level_from": _choice(*DRIFT_LEVELS), "level_to": _choice(*DRIFT_LEVELS),
                    "shift_mm": _MM, "shift_x_mm": Field("float", lo=-1000, hi=1000, optional=True),
                    "shift_y_mm": Field("float", lo=-1000, hi=1000, optional=True)},
    "console.link": {"state": _choice("up", "down"), "port": Field("text", max_len=256, optional=True)},
    "alert": {"code": Field("ident"), "message": Field("text", max_len=256)},
    # written by kiosks before 0.2 for what is now shutdown.unclean: kept so their trails verify
    "audit.quarantined": {"file": Field("ident"), "bytes": Field("int", lo=1, hi=2**40),
                          "after_seq": Field("int", lo=0, hi=2**62)},
    # the power went while a record was written: its bytes are kept in ``file``; not tampering
    "shutdown.unclean": {"file": Field("ident"), "bytes": Field("int", lo=1, hi=2**40),
                         "after_seq": Field("int", lo=0, hi=2**62)},
    # a state file the kiosk could not use at start: which, why, where it is kept (kiosk.state_files)
    "state.set_aside": {"file": Field("text", max_len=256), "reason": Field("text", max_len=256),
                        "kept_as": Field("text", max_len=256, optional=True)},
    "audit.chain_broken": {"line": Field("int", lo=1, hi=2**62), "reason": Field("text", max_len=256)},
    # forward-secure seal over the record before it (kiosk.audit_seal)
    "audit.seal": {"epoch": Field("int", lo=0, hi=2**62), "tag": Field("sha256")},
    # at start the trail did not reach the last seal: deleted, cut shorter or replaced
    "audit.trail_short": {"reason": Field("text", max_len=256)},
}


def check_fields(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a ``kind`` record, checked against ``KINDS``; AuditError otherwise.

    Fields are returned in the table's order, so every writer writes the same line.
    """
    for key, value in fields.items():
        if isinstance(value, Pin):
            raise AuditError(f"{kind}.{key}: a Pin is never audited")
        if isinstance(value, (bytes, bytearray, memoryview)):
            raise AuditError(f"{kind}.{key}: raw bytes are never audited")
    spec = KINDS.get(kind)
    if spec is None:
        raise AuditError(f"unknown audit kind {kind!r}")
    unknown = sorted(set(fields) - set(spec))
    if unknown:
        raise AuditError(f"{kind}: field {unknown[0]!r} is not allowed (allowed: {', '.join(spec)})")
    out: dict[str, Any] = {}
    for key, f in spec.items():
        value = fields.get(key)
        why = f.problem(value)
        if why:
            raise AuditError(f"{kind}.{key} {why}")
        if value is not None:
            out[key] = str(value.value) if isinstance(value, PinType) else (
                list(value) if isinstance(value, tuple) else value)
    return out


# -- canonical form and hashes -------------------------------------------------
def _json(obj: Any, *, sort: bool) -> str:
    return json.dumps(obj, sort_keys=sort, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 over the canonical JSON of ``record`` without its ``hash``."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(_json(body, sort=True).encode("ascii")).hexdigest()


def render_record(seq: int, ts: str, kind: str, fields: Mapping[str, Any], prev: str) -> str:
    """The one line for a record (envelope, checked fields, prev, hash); pure."""
    rec: dict[str, Any] = {"seq": seq, "ts": ts, "kind": kind, **fields, "prev": prev}
    rec["hash"] = record_hash(rec)
    return _json(rec, sort=False)


def utc_iso(t_s: float) -> str:
    """UTC ISO 8601 with milliseconds, as the console frames carry it."""
    return datetime.fromtimestamp(t_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_utc_iso(text: str) -> float:
    """The Unix time of a ``utc_iso`` string (ValueError if it is not one)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# -- verification ----------------------------------------------------------------
@dataclass(frozen=True)
class VerifyReport:
    """Outcome of checking a trail: ``first_bad_line`` is 1-based, None when ok.

    ``records`` counts the whole records before the first bad one (all of
    them when ok); ``head`` is the hash of the last of those (``GENESIS``
    for an empty trail).
    """

    ok: bool
    first_bad_line: int | None
    reason: str
    records: int
    head: str = GENESIS


def check_line(line: str, seq: int, prev: str) -> tuple[dict[str, Any] | None, str]:
    """Parse and check record ``seq`` expected after ``prev``: (record, "") or (None, why).

    The line must be exactly what ``render_record`` writes for its content, so any
    edit shows, even one that leaves the parsed JSON equal (spaces, a duplicated key).
    """
    try:
        rec = parse_json(line, max_bytes=MAX_LINE_CHARS, max_depth=MAX_RECORD_DEPTH)
    except StateFileError as exc:
        return None, f"not a JSON record ({exc})"
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    missing = [k for k in ENVELOPE if k not in rec]
    if missing:
        return None, f"missing {', '.join(missing)}"
    if not isinstance(rec["hash"], str) or record_hash(rec) != rec["hash"]:
        return None, "hash does not match the content (record edited)"
    if rec["seq"] != seq:
        return None, f"seq is {rec['seq']!r}, expected {seq} (record deleted, inserted or reordered)"
    if rec["prev"] != prev:
        return None, "prev is not the hash of the record before (record deleted, inserted or reordered)"
    if not isinstance(rec["kind"], str) or not isinstance(rec["ts"], str):
        return None, "kind and ts must be text"
    fields = {k: v for k, v in rec.items() if k not in ENVELOPE}
    try:
        checked = check_fields(rec["kind"], fields)
    except AuditError as exc:
        return None, f"not an allowed record: {exc}"
    canonical = {"seq": seq, "ts": rec["ts"], "kind": rec["kind"], **checked, "prev": prev, "hash": rec["hash"]}
    if line != _json(canonical, sort=False):
        return None, "not in the form the kiosk writes (record edited)"
    return rec, ""


def verify_chain(path: Path | str, expected_head: str | None = None) -> VerifyReport:
    """Check every record of the trail at ``path``; report the first bad one.

    ``expected_head`` is a chain head the staff console saw in a frame: if it
    is not the hash of some record here, records were cut off the end or the
    trail was rewritten (even with recomputed hashes).  A missing file is an
    empty trail.
    """
    records = read_records(path)
    prev, n = GENESIS, 0
    heads: set[str] = set()
    for i, line in enumerate(records.lines, start=1):
        rec, why = check_line(line, i, prev)
        if rec is None:
            return VerifyReport(False, i, why, n, prev)
        prev, n = rec["hash"], i
        heads.add(prev)
    if records.torn_tail is not None:
        return VerifyReport(False, n + 1, f"torn last line: {len(records.torn_tail)} bytes without "
                            "newline (power cut while writing?)", n, prev)
    if expected_head is not None and expected_head != GENESIS and expected_head not in heads:
        return VerifyReport(False, None, f"the head the console saw ({expected_head[:16]}...) is not "
                            "in this trail (records removed from the end, or the trail rewritten)", n, prev)
    return VerifyReport(True, None, "", n, prev)


def _field_of(line: str, name: str) -> Any:
    """``name`` of the record in ``line``, or None when the line is not a JSON object."""
    try:
        rec = parse_json(line, max_bytes=MAX_LINE_CHARS, max_depth=MAX_RECORD_DEPTH)
    except StateFileError:
        return None
    return rec.get(name) if isinstance(rec, dict) else None


def _tail_report(records: Records) -> VerifyReport:
    """Like ``verify_chain`` but for the last record only: cheap enough for every start."""
    n = len(records.lines)
    head = GENESIS
    if n:
        last = records.lines[-1]
        claimed_prev = _field_of(last, "prev")
        rec, why = check_line(last, n, claimed_prev if isinstance(claimed_prev, str) else "")
        if rec is None:
            return VerifyReport(False, n, why, n - 1, head)
        head = rec["hash"]
    if records.torn_tail is not None:
        return VerifyReport(False, n + 1, f"torn last line: {len(records.torn_tail)} bytes without "
                            "newline (power cut while writing?)", n, head)
    return VerifyReport(True, None, "", n, head)


# -- the writer ----------------------------------------------------------------
class AuditTrail:
    """The one writer of ``<state_dir>/audit.jsonl``: ``record(kind, **fields) -> head``.

    Opening checks the last record (or, with ``verify_on_open``, the whole
    chain: about 20,000 records/s here, so seconds for a year's trail, which
    is why start-up does not wait for it by default; ``pin-kiosk audit
    verify`` and its daily timer do the whole chain), quarantines a torn last
    line and, if a break was found, records where (the trail continues from
    the last line, so the break stays visible to ``verify``).
    Raises AuditBusy if another process has the trail open, OSError if the
    state directory cannot be written: the app turns both into a state.
    """

    def __init__(self, state_dir: Path | str, *, clock: Callable[[], float] = time.time,
                 verify_on_open: bool = False) -> None:
        self.state_dir = Path(state_dir)
        self._verify_on_open = verify_on_open
        self._write_lock = threading.Lock()  # worker threads may record too; one chain, one order
        self.path = self.state_dir / AUDIT_FILE
        self._clock = clock
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_fd: int | None = os.open(self.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            self._lock_fd = None
            raise AuditBusy(f"{self.path} is open for writing by another process") from None
        self._open()

    def _open(self) -> None:
        records = read_records(self.path)
        self.seq = len(records.lines)
        self.head = GENESIS
        whole = self.seq  # complete lines; a torn tail comes after them
        self._last_ts_s = float("-inf")
        if records.lines:
            last = records.lines[-1]
            ts = _field_of(last, "ts")
            try:
                self._last_ts_s = parse_utc_iso(ts) if isinstance(ts, str) else self._last_ts_s
            except ValueError:
                pass  # a mangled last line: its time is unknown, the chain break is reported below
            head = _field_of(last, "hash")
            # a mangled last line still anchors the chain
            self.head = head if isinstance(head, str) and _SHA256.fullmatch(head) else \
                hashlib.sha256(last.encode("utf-8")).hexdigest()
        # before touching the tail, so a break is reported as found
        report = verify_chain(self.path) if self._verify_on_open else _tail_report(records)
        self.opened_report = report
        #: How the previous run ended without its shutdown record (None: as far as the trail shows, it did).
        self.unclean: str | None = None
        #: The first whole line that does not verify (recorded as audit.chain_broken), else None.
        self.broken_line: int | None = None
        torn = truncate_torn_tail(self.path, records)
        if torn is not None:
            self._quarantine(torn)
        # a break among the whole lines is what does not verify: tampering or damage, never a power cut
        if not report.ok and report.first_bad_line is not None and report.first_bad_line <= whole:
            log.error("audit trail broken at line %d: %s", report.first_bad_line, report.reason)
            self.broken_line = report.first_bad_line
            self.record("audit.chain_broken", line=report.first_bad_line, reason=report.reason)

    def _quarantine(self, torn: bytes) -> None:
        entry = {"ts": utc_iso(self._clock()), "after_seq": self.seq, "after_hash": self.head,
                 "torn_b64": base64.b64encode(torn).decode("ascii")}
        append_record(self.state_dir / QUARANTINE_FILE, _json(entry, sort=False))
        log.warning("unclean shutdown: the audit record being written (%d bytes) was cut off; kept in %s",
                    len(torn), QUARANTINE_FILE)
        self.unclean = "torn_record"
        self.record("shutdown.unclean", file=QUARANTINE_FILE, bytes=len(torn), after_seq=self.seq)

    def record(self, kind: str, **fields: Any) -> str:
        """Append one whitelisted record, fsynced; return the new chain head."""
        if self._lock_fd is None:
            raise RuntimeError("audit trail is closed")
        checked = check_fields(kind, fields)
        with self._write_lock:
            now_s = max(self._clock(), self._last_ts_s)  # never before the record before it
            self._last_ts_s = now_s
            line = render_record(self.seq + 1, utc_iso(now_s), kind, checked, self.head)
            append_record(self.path, line)
            self.seq += 1
            self.head = json.loads(line)["hash"]
            return self.head

    def hash_at(self, seq: int) -> str | None:
        """The ``hash`` of record ``seq`` as the file holds it now (None if there is no such record)."""
        lines = read_records(self.path).lines
        if not 1 <= seq <= len(lines):
            return None
        value = _field_of(lines[seq - 1], "hash")
        return value if isinstance(value, str) else None

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> "AuditTrail":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
