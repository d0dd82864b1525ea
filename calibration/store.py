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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.matrix import Affine
from drivers.touch.events import Axes
from kiosk.durable import append_record, read_records, write_atomic

SUBDIR = "calibration"
ACTIVE = "active.json"
HISTORY = "history.jsonl"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CalibrationStatus:
    """Where the calibration in use came from, and the alert to raise if any."""

    source: str                  # "active" | "history" | "uncalibrated"
    alert: str | None = None     # see the module docstring
    detail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


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


def _check(doc: Any, axes: Axes, screen: Any) -> tuple[Affine | None, str, str]:
    """(affine, alert, detail): affine None when the document cannot be used."""
    if not isinstance(doc, dict) or doc.get("version") != FORMAT_VERSION:
        return None, "calibration_corrupt", "not a calibration record"
    vals = doc.get("affine")
    if (not isinstance(vals, list) or len(vals) != 6
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vals)):
        return None, "calibration_corrupt", "matrix is not 6 finite numbers"
    affine = Affine(*(float(v) for v in vals))
    if not affine.is_usable():
        return None, "calibration_corrupt", "matrix is singular"
    w, h = _screen_px(screen)
    if doc.get("screen") != {"w": w, "h": h}:
        return None, "calibration_mismatch", f"made for screen {doc.get('screen')}, this one is {w}x{h}"
    if doc.get("axes") != _axes_doc(axes):
        return None, "calibration_mismatch", f"made for raw ranges {doc.get('axes')}, device has {_axes_doc(axes)}"
    return affine, "", ""


def load_active(state_dir: str | Path, axes: Axes, screen: Any) -> tuple[Affine, CalibrationStatus]:
    """The calibration to use and where it came from; never raises for bad files."""
    d = calibration_dir(state_dir)
    path = d / ACTIVE
    alert, detail = "calibration_missing", "no calibration installed"
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        doc = None
    except (OSError, ValueError) as exc:
        doc, alert, detail = None, "calibration_corrupt", f"{path.name}: {type(exc).__name__}"
    if doc is not None:
        affine, bad_alert, bad_detail = _check(doc, axes, screen)
        if affine is not None:
            return affine, CalibrationStatus("active", None, "", doc.get("meta") or {})
        alert, detail = bad_alert, f"{path.name}: {bad_detail}"
    try:
        lines = read_records(d / HISTORY).lines
    except OSError:
        lines = []
    for line in reversed(lines):
        try:
            hdoc = json.loads(line)
        except ValueError:
            continue
        affine, _, _ = _check(hdoc, axes, screen)
        if affine is not None:
            if alert == "calibration_missing":
                alert = "calibration_corrupt"
                detail = f"{path.name}: missing but history exists"
            return affine, CalibrationStatus("history", alert, detail, hdoc.get("meta") or {})
    return uncalibrated(axes, screen), CalibrationStatus("uncalibrated", alert, detail)


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
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
