"""The kiosk's outgoing console journal: every reliable frame survives until the console acks it.

Theory of operation
-------------------
A frame is appended to ``console-journal.jsonl`` in the state directory
(``kiosk.durable.append_record``: one line, fsync) *before* it is first sent,
so after a crash or a power cut the kiosk replays exactly the frames the
console may not have: same boot, same seq, same bytes, in order, and the
console's (boot, seq) deduplication turns "at least once" into "exactly once".

The file is a log of two kinds of records, one JSON object per line:

* ``{"frame": {...}}``, optionally with ``"drop": [[boot, seq], ...]``: a new
  frame, and the oldest frames it pushed out because the journal was full;
* ``{"done": [[boot, seq], ...]}``: frames the console acked (one record per
  batch of acks, so a burst of acks costs one fsync);
* ``{"lost": n}``: written first by a compaction, the dropped frames no
  overflow alert has reported yet (so the count survives a restart).

``load`` folds the log into the frames still pending, cuts off a torn last
line (a frame torn mid-append was never sent, so nothing is lost), and
rewrites the file with only those frames (``write_atomic``).  The same
compaction runs whenever dead records outnumber live ones, so the file stays
near the size of the backlog.  The bound (``journal_max_frames``) drops the
oldest frames; ``append`` returns which and ``lost`` counts them until an
overflow alert (``is_overflow_alert``) carrying the count is appended: that
append and the report are one record, so a crash can neither lose the count
nor report it twice.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from kiosk import frames, protocol, state_files
from kiosk.durable import append_record, read_records, truncate_torn_tail, write_atomic
from kiosk.state_files import SetAside, StateFileError, set_aside

log = logging.getLogger("pin_kiosk.journal")

JOURNAL_NAME = "console-journal.jsonl"
#: The alert code of the frame that reports frames dropped for room.
OVERFLOW_CODE = "journal_overflow"
#: Compact when the file holds more than this many records beyond twice the live ones.
COMPACT_SLACK = 256

Key = tuple[str, int]
#: Protocol versions a journaled frame may have been written with.
VERSIONS = (frames.VERSION, frames.VERSION_MAC)
#: Acks and drops are batched per record; a batch is never near this.
MAX_KEYS_PER_RECORD = 100_000


def _key(frame: dict[str, Any]) -> Key:
    return (frame["boot"], frame["seq"])


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def _keys(value: Any, where: str) -> list[Key]:
    out = []
    for pair in state_files.array(value, where, MAX_KEYS_PER_RECORD):
        b, q = state_files.array(pair, where, 2, length=2)
        out.append((state_files.text(b, where, frames.MAX_BOOT_CHARS), state_files.integer(q, where, 0, frames.MAX_SEQ)))
    return out


def check_frame(frame: Any) -> dict[str, Any]:
    """A journaled frame exactly as the kiosk builds one (envelope, schema, size); StateFileError otherwise."""
    try:
        # either version: a key provisioned (or removed) since, and the link re-versions on replay
        version = frame.get("v") if isinstance(frame, dict) and frame.get("v") in VERSIONS else frames.VERSION
        frames.check_envelope(frame, version)
        schema = protocol.KIOSK_FRAMES.get(frame["type"])
        if schema is None or not schema.reliable:
            raise StateFileError("frame of a type the kiosk does not journal")
        for name in ("ts", "terminal"):
            state_files.text(frame.get(name), f"frame {name}", 64)
        fields = {k: v for k, v in frame.items() if k not in protocol.KIOSK_ENVELOPE}
        _, refused = protocol.filter_fields(frame["type"], fields, protocol.Role.KIOSK)
        if refused:
            raise StateFileError(f"{frame['type']} frame with a field not in its schema")
        frames.encode({**frame, "v": frames.VERSION})  # the size bound (a MAC goes outside the JSON)
    except StateFileError:
        raise
    except ValueError as exc:  # FrameError (envelope, size), a missing required field
        raise StateFileError(f"not a frame the kiosk sends: {str(exc)[:80]}") from None
    return frame


def _record(line: str) -> dict[str, Any]:
    """One journal record, checked; StateFileError otherwise."""
    rec = state_files.parse_json(line, max_bytes=state_files.MAX_RECORD_BYTES)
    if not isinstance(rec, dict):
        raise StateFileError("record is not an object")
    if "frame" in rec:
        state_files.obj(rec, "record", ("frame",), ("drop",))
        check_frame(rec["frame"])
        rec["drop"] = _keys(rec.get("drop", []), "drop")
    elif "lost" in rec:
        state_files.obj(rec, "record", ("lost",))
        state_files.integer(rec["lost"], "lost", 0, frames.MAX_SEQ)
    else:
        state_files.obj(rec, "record", ("done",))
        rec["done"] = _keys(rec["done"], "done")
    return rec


def is_overflow_alert(frame: dict[str, Any]) -> bool:
    """The alert that reports dropped frames; it carries their count in ``lost``."""
    return frame.get("type") == "alert" and frame.get("code") == OVERFLOW_CODE


class Journal:
    """Frames sent but not yet acked, durable across restarts, bounded.

    ``lost`` counts frames dropped for room that no overflow alert has
    reported yet; it survives restarts.  Appending an overflow alert (a frame
    for which ``is_overflow_alert`` holds) reports its ``lost`` in the same
    record; dropping one unsent gives its count back.
    """

    def __init__(self, path: Path | str, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.path = Path(path)
        self.max_frames = max_frames
        self._frames: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._records = 0  # records in the file, live or dead
        self.corrupt_records = 0
        #: Set by ``load`` when records had to be skipped (the file as it was is kept aside).
        self.set_aside: SetAside | None = None
        self.lost = 0
        self._overflow_alerts = 0  # overflow alerts among the pending frames

    def __len__(self) -> int:
        return len(self._frames)

    def frames(self) -> list[dict[str, Any]]:
        """The pending frames, oldest first."""
        return list(self._frames.values())

    @property
    def overflow_alert_pending(self) -> bool:
        """An overflow alert is waiting for its ack (send the next one only after it)."""
        return self._overflow_alerts > 0

    def _pop(self, key: Key) -> dict[str, Any] | None:
        frame = self._frames.pop(key, None)
        if frame is not None and is_overflow_alert(frame):
            self._overflow_alerts -= 1
        return frame

    def _apply_append(self, frame: dict[str, Any], dropped: Iterable[Key]) -> None:
        for key in dropped:
            old = self._pop(key)
            if old is not None:
                self.lost += old.get("lost", 0) if is_overflow_alert(old) else 1
        if is_overflow_alert(frame):
            self.lost = max(0, self.lost - frame.get("lost", 0))
            self._overflow_alerts += 1
        self._frames[_key(frame)] = frame

    def load(self) -> list[dict[str, Any]]:
        """Read the log after a start, compact it, and return the frames to replay in order."""
        records = read_records(self.path)
        torn = truncate_torn_tail(self.path, records)
        if torn is not None:
            log.warning("journal: cut a torn last record of %d bytes (never sent)", len(torn))
        self._frames.clear()
        self.lost = self._overflow_alerts = 0
        self.corrupt_records = 0
        first_problem = ""
        for line in records.lines:
            try:
                rec = _record(line)
            except StateFileError as exc:
                self.corrupt_records += 1
                first_problem = first_problem or str(exc)
                continue
            if "frame" in rec:
                self._apply_append(rec["frame"], rec.get("drop", ()))
            elif "lost" in rec:
                self.lost = rec["lost"]
            else:
                for key in rec["done"]:
                    self._pop(key)
        if self.corrupt_records:
            # the good records go on (compacted below); the whole file as it was is kept aside
            self.set_aside = set_aside(
                self.path, self.path.parent,
                f"{self.corrupt_records} of {len(records.lines)} records unreadable, the first: {first_problem}",
                "those records are skipped: console events may be lost", copy=True)
        while len(self._frames) > self.max_frames:  # the bound was lowered in the config
            old = self._pop(next(iter(self._frames)))
            self.lost += old.get("lost", 0) if old is not None and is_overflow_alert(old) else 1
        self._records = len(records.lines)
        if self._records != len(self._frames) + (1 if self.lost else 0):
            self.compact()
        return self.frames()

    def append(self, frame: dict[str, Any]) -> list[Key]:
        """Make ``frame`` durable before it is sent; return the oldest keys dropped for room."""
        excess = len(self._frames) + 1 - self.max_frames
        dropped: list[Key] = list(islice(self._frames, excess)) if excess > 0 else []
        rec: dict[str, Any] = {"frame": frame}
        if dropped:
            rec["drop"] = [list(k) for k in dropped]
        append_record(self.path, _dumps(rec))  # memory changes only once the record is durable
        self._apply_append(frame, dropped)
        self._records += 1
        return dropped

    def remove(self, keys: Iterable[Key]) -> None:
        """Forget acked frames (one record, one fsync, for the whole batch)."""
        gone = [k for k in keys if self._pop(k) is not None]
        if not gone:
            return
        append_record(self.path, _dumps({"done": [list(k) for k in gone]}))
        self._records += 1
        if self._records > 2 * len(self._frames) + COMPACT_SLACK:
            self.compact()

    def compact(self) -> None:
        """Rewrite the file with only the pending frames (and the unreported loss), atomically."""
        head = _dumps({"lost": self.lost}) + "\n" if self.lost else ""
        data = (head + "".join(_dumps({"frame": f}) + "\n" for f in self._frames.values())).encode("ascii")
        write_atomic(self.path, data)
        self._records = len(self._frames) + (1 if self.lost else 0)
