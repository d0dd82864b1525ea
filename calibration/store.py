"""The active calibration on disk, its history, and the fallback when it is unusable.

Theory of operation
-------------------
``STATE_DIR/calibration/active.json`` is the calibration the kiosk uses; it is
only ever replaced whole by ``kiosk.durable.write_atomic`` (temp file, fsync,
rename, directory fsync).  Every install is first appended, one JSON line,
to ``history.jsonl`` (``append_record``, fsync per record), so history holds
every calibration ever installed, newest last, the active one included.

``load_active`` never raises for bad data: a missing, truncated, corrupted or
mismatched (other screen size, other device ranges) active file falls back to
the newest good history entry, else to the uncalibrated map (each raw axis
stretched over the screen), and says so with an alert code the app reports to
the staff console:

====================  =====================================================
``None``              the active calibration is good
calibration_missing   never calibrated: running on the uncalibrated map
calibration_corrupt   active file unreadable; using history or uncalibrated
calibration_mismatch  active file is for another screen or device
====================  =====================================================
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.matrix import Affine
from drivers.touch.events import Axes
from kiosk import state_files
from kiosk.durable import append_record, read_records, write_atomic

SUBDIR = "calibration"
ACTIVE = "active.json"
HISTORY = "history.jsonl"
FORMAT_VERSION = 1
#: An active file is a few hundred bytes; more is not one of ours.
ACTIVE_MAX_BYTES = 64 << 10


@dataclass(frozen=True)
class CalibrationStatus:
    """Where the calibration in use came from, and the alert to raise if any."""

    source: str                  # "active" | "history" | "uncalibrated"
    alert: str | None = None     # see the module docstring
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    #: Files moved aside while loading (only when asked to: the kiosk at start).
    set_aside: tuple[state_files.SetAside, ...] = ()


def _screen_px(screen: Any) -> tuple[int, int]:
    if isinstance(screen, tuple):
        return int(screen[0]), int(screen[1])
    return int(screen.width_px), int(screen.height_px)


def _axes_doc(axes: Axes) -> dict[str, list[int]]:
    return {"x": [axes.x.minimum, axes.x.maximum], "y": [axes.y.minimum, axes.y.maximum]}


def calibration_dir(state_dir: str | Path) -> Path:
    return Path(state_dir) / SUBDIR


def uncalibrated(axes: Axes, screen: Any) -> Affine:
    """Each raw axis range stretched over the screen: the map before any calibration."""
    w, h = _screen_px(screen)
    return Affine.scaled(axes.x.minimum, axes.x.maximum, axes.y.minimum, axes.y.maximum, w, h)


def record(affine: Affine, meta: dict[str, Any], axes: Axes, screen: Any) -> dict[str, Any]:
    """The JSON document of one calibration (active file and history line)."""
    w, h = _screen_px(screen)
    return {"version": FORMAT_VERSION, "affine": list(affine.as_tuple()), "axes": _axes_doc(axes),
            "screen": {"w": w, "h": h}, "meta": meta}


#: Bounds of a calibration document's ``meta`` (who, when, how well: a few scalars).
META_KEYS_MAX = 32
META_TEXT_MAX = 1024


def _meta(value: Any) -> dict[str, Any]:
    """``meta``: an object of scalars and short lists of numbers (``rejected`` point indices)."""
    meta = state_files.obj(value, "meta", extra=True)
    if len(meta) > META_KEYS_MAX:
        raise state_files.StateFileError(f"meta has more than {META_KEYS_MAX} keys")
    for key, v in meta.items():
        state_files.text(key, "meta key", 64)
        if v is None or isinstance(v, bool):
            continue
        if isinstance(v, str):
            state_files.text(v, f"meta.{key}", META_TEXT_MAX)
        elif isinstance(v, list):
            for x in state_files.array(v, f"meta.{key}", 64):
                state_files.number(x, f"meta.{key}")
        else:
            state_files.number(v, f"meta.{key}")
    return meta


def _check(doc: Any, axes: Axes, screen: Any) -> tuple[Affine | None, str, str]:
    """(affine, alert, detail): affine None when the document cannot be used."""
    try:
        state_files.obj(doc, "calibration", ("version", "affine", "axes", "screen"), ("meta",))
        if doc["version"] != FORMAT_VERSION:
            raise state_files.StateFileError(f"format version is not {FORMAT_VERSION}")
        vals = state_files.array(doc["affine"], "affine", 6, length=6)
        vals = [state_files.number(v, "affine", -1e9, 1e9) for v in vals]
        for axis in ("x", "y"):
            rng = state_files.array(state_files.obj(doc["axes"], "axes", ("x", "y"))[axis], f"axes.{axis}", 2, 2)
            for v in rng:
                state_files.integer(v, f"axes.{axis}", -(2**31), 2**31 - 1)
        size = state_files.obj(doc["screen"], "screen", ("w", "h"))
        for k in ("w", "h"):
            state_files.integer(size[k], f"screen.{k}", 1, 100_000)
        _meta(doc.get("meta", {}))
    except state_files.StateFileError as exc:
        return None, "calibration_corrupt", str(exc)
    affine = Affine(*vals)
    if not affine.is_usable():
        return None, "calibration_corrupt", "matrix is singular"
    w, h = _screen_px(screen)
    if doc["screen"] != {"w": w, "h": h}:
        return None, "calibration_mismatch", f"made for screen {doc['screen']['w']}x{doc['screen']['h']}, this one is {w}x{h}"
    if doc["axes"] != _axes_doc(axes):
        return None, "calibration_mismatch", f"made for raw ranges {doc['axes']}, device has {_axes_doc(axes)}"
    return affine, "", ""


def _parse(data: bytes | str, max_bytes: int) -> Any:
    return state_files.parse_json(data, max_bytes=max_bytes)


def load_active(state_dir: str | Path, axes: Axes, screen: Any, *,
                set_aside_corrupt: bool = False) -> tuple[Affine, CalibrationStatus]:
    """The calibration to use and where it came from; never raises for bad files.

    With ``set_aside_corrupt`` (the kiosk at start, which owns the state
    directory) an unreadable active file is moved to ``active.json.corrupt-<time>``
    and reported in ``CalibrationStatus.set_aside``; a calibration for another
    screen or device is valid data and stays where it is.
    """
    d = calibration_dir(state_dir)
    path = d / ACTIVE
    alert, detail = "calibration_missing", "no calibration installed"
    aside: list[state_files.SetAside] = []
    try:
        doc = _parse(path.read_bytes(), ACTIVE_MAX_BYTES)
        affine, bad_alert, why = _check(doc, axes, screen)
    except FileNotFoundError:
        doc, affine, bad_alert, why = None, None, "", ""
    except OSError as exc:
        doc, affine, bad_alert, why = None, None, "calibration_corrupt", exc.strerror or type(exc).__name__
    except state_files.StateFileError as exc:
        doc, affine, bad_alert, why = None, None, "calibration_corrupt", str(exc)
    if affine is not None:
        return affine, CalibrationStatus("active", None, "", doc.get("meta", {}))
    if bad_alert:
        alert, detail = bad_alert, f"{path.name}: {why}"
        if set_aside_corrupt and bad_alert == "calibration_corrupt":
            aside.append(state_files.set_aside(path, Path(state_dir), why,
                                               "using the last good calibration of the history, if any"))
    try:
        lines = read_records(d / HISTORY).lines
    except OSError:
        lines = []
    for line in reversed(lines):
        try:
            hdoc = _parse(line, state_files.MAX_RECORD_BYTES)
        except state_files.StateFileError:
            continue
        affine, _, _ = _check(hdoc, axes, screen)
        if affine is not None:
            if alert == "calibration_missing":
                alert = "calibration_corrupt"
                detail = f"{path.name}: missing but history exists"
            return affine, CalibrationStatus("history", alert, detail, hdoc.get("meta", {}), tuple(aside))
    if aside:  # the bad file is gone and nothing replaces it: not calibrated, the technician's job
        alert, detail = "calibration_missing", f"{path.name} set aside ({detail.partition(': ')[2]})"
    return uncalibrated(axes, screen), CalibrationStatus("uncalibrated", alert, detail, set_aside=tuple(aside))


def install(state_dir: str | Path, affine: Affine, meta: dict[str, Any], *, axes: Axes, screen: Any) -> Path:
    """Make ``affine`` the active calibration: history line first, then the atomic replace."""
    if not affine.is_usable():
        raise ValueError("refusing to install a singular or non-finite matrix")
    doc = record(affine, meta, axes, screen)
    d = calibration_dir(state_dir)
    append_record(d / HISTORY, json.dumps(doc, sort_keys=True, separators=(",", ":")))
    path = d / ACTIVE
    write_atomic(path, (json.dumps(doc, sort_keys=True, indent=1) + "\n").encode())
    return path


def history(state_dir: str | Path) -> list[dict[str, Any]]:
    """Every installed calibration that can still be parsed, oldest first."""
    out = []
    for line in read_records(calibration_dir(state_dir) / HISTORY).lines:
        try:
            out.append(_parse(line, state_files.MAX_RECORD_BYTES))
        except state_files.StateFileError:
            continue
    return out
