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
  batch of acks, so a burst of acks costs one fsync).

``load`` folds the log into the frames still pending, cuts off a torn last
line (a frame torn mid-append was never sent, so nothing is lost), and
rewrites the file with only those frames (``write_atomic``).  The same
compaction runs whenever dead records outnumber live ones, so the file stays
near the size of the backlog.  The bound (``journal_max_frames``) drops the
oldest frames; ``append`` returns which, and the caller tells the console how
many were lost.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kiosk.durable import append_record, read_records, truncate_torn_tail, write_atomic

log = logging.getLogger("pin_kiosk.journal")

JOURNAL_NAME = "console-journal.jsonl"
#: Compact when the file holds more than this many records beyond twice the live ones.
COMPACT_SLACK = 256

Key = tuple[str, int]


def _key(frame: dict[str, Any]) -> Key:
    return (frame["boot"], frame["seq"])


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


class Journal:
    """Frames sent but not yet acked, durable across restarts, bounded."""

    def __init__(self, path: Path | str, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.path = Path(path)
        self.max_frames = max_frames
        self._frames: OrderedDict[Key, dict[str, Any]] = OrderedDict()
        self._records = 0  # records in the file, live or dead
        self.corrupt_records = 0

    def __len__(self) -> int:
        return len(self._frames)

    def frames(self) -> list[dict[str, Any]]:
        """The pending frames, oldest first."""
        return list(self._frames.values())

    def load(self) -> list[dict[str, Any]]:
        """Read the log after a start, compact it, and return the frames to replay in order."""
        records = read_records(self.path)
        torn = truncate_torn_tail(self.path, records)
        if torn is not None:
            log.warning("journal: cut a torn last record of %d bytes (never sent)", len(torn))
        self._frames.clear()
        for line in records.lines:
            try:
                rec = json.loads(line)
                if "frame" in rec:
                    for b, s in rec.get("drop", ()):
                        self._frames.pop((b, s), None)
                    frame = rec["frame"]
                    self._frames[_key(frame)] = frame
                else:
                    for b, s in rec["done"]:
                        self._frames.pop((b, s), None)
            except (ValueError, KeyError, TypeError):
                self.corrupt_records += 1
        if self.corrupt_records:
            log.warning("journal: skipped %d unreadable records", self.corrupt_records)
        while len(self._frames) > self.max_frames:  # the bound was lowered in the config
            self._frames.popitem(last=False)
        self._records = len(records.lines)
        if self._records != len(self._frames):
            self.compact()
        return self.frames()

    def append(self, frame: dict[str, Any]) -> list[Key]:
        """Make ``frame`` durable before it is sent; return the oldest keys dropped for room."""
        dropped: list[Key] = []
        while len(self._frames) >= self.max_frames:
            dropped.append(self._frames.popitem(last=False)[0])
        rec: dict[str, Any] = {"frame": frame}
        if dropped:
            rec["drop"] = [list(k) for k in dropped]
        append_record(self.path, _dumps(rec))
        self._frames[_key(frame)] = frame
        self._records += 1
        return dropped

    def remove(self, keys: Iterable[Key]) -> None:
        """Forget acked frames (one record, one fsync, for the whole batch)."""
        gone = [k for k in keys if self._frames.pop(k, None) is not None]
        if not gone:
            return
        append_record(self.path, _dumps({"done": [list(k) for k in gone]}))
        self._records += 1
        if self._records > 2 * len(self._frames) + COMPACT_SLACK:
            self.compact()

    def compact(self) -> None:
        """Rewrite the file with only the pending frames, atomically."""
        data = "".join(_dumps({"frame": f}) + "\n" for f in self._frames.values()).encode("ascii")
        write_atomic(self.path, data)
        self._records = len(self._frames)
