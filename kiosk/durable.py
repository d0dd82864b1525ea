"""Writes that survive a power cut.

A kiosk is switched off at the wall at the end of the day.  Two kinds of
files live in the state directory and each has one writer here:

* whole files (calibration, metrics, queue snapshots): ``write_atomic`` writes
  a temp file in the same directory, fsyncs it, renames it over the target and
  fsyncs the directory, so a reader sees the old file or the new one, never a
  mix; a temp file a power cut or a kill left behind (``.NAME.*.tmp``) is
  removed by ``remove_stale_temps`` when the owner starts;
* append-only record logs (audit trail, console journal): ``append_record``
  writes one line and fsyncs before returning; ``read_records`` returns the
  complete lines and reports a torn last line (power lost mid-write) instead
  of failing on it.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename or create in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


TEMP_SUFFIX = ".tmp"


def remove_stale_temps(directory: Path | str) -> list[str]:
    """Remove the temp files ``write_atomic`` left when it was killed mid-write; their names.

    Only the owner of ``directory`` may call this, at start, before it writes
    anything: a temp file of a writer still running would be taken from under it.
    """
    removed = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file(follow_symlinks=False):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except FileNotFoundError:
                pass
    if removed:
        fsync_dir(Path(directory))
    return removed


def write_atomic(path: Path | str, data: bytes, mode: int = 0o640) -> None:
    """Replace ``path`` with ``data`` so that a power cut leaves old or new, whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


def append_record(path: Path | str, line: str) -> None:
    """Append one record (a line without newline) and fsync before returning."""
    if "\n" in line or "\r" in line:
        raise ValueError("a record is one line")
    path = Path(path)
    new = not path.exists()
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode("utf-8") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        fsync_dir(path.parent)


@dataclass(frozen=True)
class Records:
    """The complete lines of a record log, and the torn tail if power was lost."""

    lines: list[str]
    torn_tail: bytes | None


def read_records(path: Path | str) -> Records:
    """Complete lines of ``path`` (empty if missing); a last line without newline is torn."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return Records([], None)
    cut = data.rfind(b"\n") + 1  # 0 when there is no newline at all
    complete, tail = data[:cut], data[cut:]
    lines = [ln.decode("utf-8", "replace") for ln in complete.split(b"\n")]
    return Records([ln for ln in lines if ln], tail or None)


def truncate_torn_tail(path: Path | str, records: Records) -> bytes | None:
    """Cut a torn last line off ``path`` so appends start on a fresh line; return it."""
    if records.torn_tail is None:
        return None
    path = Path(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - len(records.torn_tail))
        f.flush()
        os.fsync(f.fileno())
    return records.torn_tail
