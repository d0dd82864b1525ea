"""Reading the state directory back: strict JSON, checked shapes, and a bad file set aside.

Theory of operation
-------------------
Everything in the state directory was written by an earlier run of the
kiosk, but what is read back at start cannot be trusted to be what was
written: a power cut, a full disk, a bad SD card or a person with an editor
can leave anything there.  One bad value must never keep the terminal from
starting (under systemd that is a restart loop that gives up after ten
starts and leaves the counter without a terminal).  So every state file is
read the same way:

* ``parse_json`` is the one JSON reader for state: strict (``NaN``,
  ``Infinity`` and duplicate keys are refused, Python's ``json`` accepts
  them), bounded (bytes, nesting depth, finite floats; integers are bounded
  by the checks, Python's own limit of 4,300 digits comes first)
  and it raises only ``StateFileError`` with a one-line reason, never
  ``RecursionError``, ``OverflowError`` or ``UnicodeDecodeError``;
* the checks below (``obj``, ``integer``, ``number``, ``text``, ``array``)
  say what a field must be, so each format's loader states its structure
  in a few lines and fails with the path of the field that is wrong;
* a whole file that fails is moved aside by ``set_aside`` to
  ``NAME.corrupt-<UTC time>`` (kept for the technician, never deleted) and
  the loader returns the safe state instead, with a ``SetAside`` notice that
  the app reports at start: an alert to the staff console and an audit
  record naming the file, the reason and what the kiosk does instead.

Append-only logs (audit trail, console journal) are read per record; see
their modules for what happens to one bad record.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.durable import fsync_dir

log = logging.getLogger("pin_kiosk.state")

#: Deepest nesting any state format uses is 3; anything deeper is not ours.
MAX_DEPTH = 16
#: Files and records are small; these are generous bounds, not tuning.
MAX_FILE_BYTES = 1 << 20
MAX_RECORD_BYTES = 64 << 10
#: A reason is one line of at most this many characters.
MAX_REASON_CHARS = 200


#: The alert the staff console gets for each state file set aside at start.
STATE_FILE_ALERT = "state_file_unusable"


class StateFileError(ValueError):
    """A state file or record that is not what the kiosk writes; ``str`` is one line."""


@dataclass(frozen=True)
class SetAside:
    """A state file the kiosk could not use: which, why, where it went, what instead.

    ``file`` and ``kept_as`` are relative to the state directory; ``kept_as`` is
    empty when nothing was moved (records skipped inside a log that goes on).
    """

    file: str
    reason: str
    kept_as: str
    consequence: str

    def message(self) -> str:
        """The one line the staff console gets (the audit record has the reason and copy in full)."""
        return f"state file {self.file} unusable: {self.consequence} ({self.reason})"[:MAX_REASON_CHARS]


# -- strict JSON -------------------------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise StateFileError(f"{name} is not a number the kiosk writes")


def _parse_float(s: str) -> float:
    value = float(s)
    if not math.isfinite(value):
        raise StateFileError("a number out of range")
    return value


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise StateFileError("duplicate key")
    return obj


#: One decoder for every read (building one per call costs more than the parse of a record).
#: Integers: Python refuses more than 4,300 digits; the checks bound the rest.
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_parse_float, object_pairs_hook=_pairs)


def _depth_ok(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > max_depth:
                return False
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return True


def parse_json(data: bytes | str, *, max_bytes: int = MAX_FILE_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value in ``data``, strictly; StateFileError (one line) for anything else."""
    if len(data) > max_bytes:
        raise StateFileError(f"{len(data)} bytes, more than the {max_bytes} allowed")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StateFileError(f"not UTF-8 (byte {exc.start})") from None
    try:
        value = _DECODER.decode(data)
    except StateFileError:
        raise
    except RecursionError:
        raise StateFileError(f"nested deeper than {max_depth}") from None
    except ValueError as exc:  # JSONDecodeError; int() of too many digits
        raise StateFileError(f"not JSON: {str(exc).splitlines()[0][:120]}") from None
    if data.count("[") + data.count("{") > max_depth and not _depth_ok(value, max_depth):
        raise StateFileError(f"nested deeper than {max_depth}")
    return value


# -- structure checks ----------------------------------------------------------------
def obj(value: Any, where: str, required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
        *, extra: bool = False) -> dict[str, Any]:
    """``value`` as an object with these keys (others refused unless ``extra``)."""
    if not isinstance(value, dict):
        raise StateFileError(f"{where} must be an object")
    missing = [k for k in required if k not in value]
    if missing:
        raise StateFileError(f"{where} lacks {missing[0]}")
    if not extra:
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            raise StateFileError(f"{where} has a key the kiosk does not write")
    return value


def integer(value: Any, where: str, lo: int = 0, hi: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise StateFileError(f"{where} must be an integer")
    if not lo <= value <= hi:
        raise StateFileError(f"{where} must be from {lo} to {hi}")
    return value


def number(value: Any, where: str, lo: float = -1e12, hi: float = 1e12) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise StateFileError(f"{where} must be a number")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise StateFileError(f"{where} must be from {lo:g} to {hi:g}")
    return float(value)


def text(value: Any, where: str, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise StateFileError(f"{where} must be text")
    if len(value) > max_len:
        raise StateFileError(f"{where} is longer than {max_len} characters")
    return value


def array(value: Any, where: str, max_len: int, length: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise StateFileError(f"{where} must be a list")
    if length is not None and len(value) != length:
        raise StateFileError(f"{where} must hold {length} items")
    if len(value) > max_len:
        raise StateFileError(f"{where} holds more than {max_len} items")
    return value


# -- setting a file aside ----------------------------------------------------------------
def corrupt_name(path: Path, wall_s: float) -> Path:
    """``NAME.corrupt-<UTC time>`` beside ``path``, not yet taken."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_s))
    candidate = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return candidate


def set_aside(path: Path, state_dir: Path, reason: str, consequence: str, *,
              copy: bool = False, wall_s: float | None = None) -> SetAside:
    """Move ``path`` (or, with ``copy``, a copy of it) to ``NAME.corrupt-<time>``; never raises.

    ``copy`` is for a log that goes on from its good records: the log is
    rewritten by its owner, the bad bytes are kept here.
    """
    path, state_dir = Path(path), Path(state_dir)
    rel = _relative(path, state_dir)
    reason = " ".join(str(reason).split())[:MAX_REASON_CHARS] or "unusable"
    target = corrupt_name(path, time.time() if wall_s is None else wall_s)
    try:
        if copy:
            data = path.read_bytes()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            os.replace(path, target)
        fsync_dir(path.parent)
        kept = _relative(target, state_dir)
    except OSError as exc:
        log.error("state file %s could not be set aside: %s", rel, exc.strerror or type(exc).__name__)
        kept = ""
    notice = SetAside(rel, reason, kept, consequence)
    log.error("state file %s unusable (%s), kept as %s: %s", rel, reason, kept or "-", consequence)
    return notice


def _relative(path: Path, state_dir: Path) -> str:
    try:
        return str(path.relative_to(state_dir))
    except ValueError:
        return path.name
