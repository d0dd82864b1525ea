"""Whether a new calibration is one a real panel could need: scale, mirror, rotation, key movement.

Theory of operation
-------------------
A calibration decides which key every touch presses.  One that maps the whole
panel into a dot, mirrors it, turns it, or slides every key by about one key
would make citizens waste tries, and it fits perfectly if the taps it was made
from were placed that way on purpose (or imported from a file).  So every new
matrix is checked before it is installed (without a calibration in use, only
the scale: the first calibration of a panel may mirror, turn or move anything,
since nobody relies on the uncalibrated stretch):

* **scale**: the raw panel must cover between ``MIN_COVER`` and ``MAX_COVER``
  of the screen on each axis;
* **mirror**: the orientation (sign of the determinant) must not flip;
* **rotation**: the raw x axis must not turn by more than ``MAX_TURN_DEG``;
* **key movement**: no key centre of any keypad may move by more than
  max(``MOVE_FLOOR_MM``, ``DRIFT_FACTOR`` x the drift measured before it).

``problem`` returns the first reason as one line (for a refusal), or None.
Pure: values in, a string out.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from calibration.matrix import Affine

MIN_COVER = 0.5
MAX_COVER = 2.0
MAX_TURN_DEG = 10.0
MOVE_FLOOR_MM = 3.0
DRIFT_FACTOR = 1.5


def allowed_move_mm(measured_drift_mm: float) -> float:
    """How far a key centre may move: max(3 mm, 1.5 x the drift measured before)."""
    drift = measured_drift_mm if math.isfinite(measured_drift_mm) and measured_drift_mm > 0 else 0.0
    return max(MOVE_FLOOR_MM, DRIFT_FACTOR * drift)


def largest_move_mm(new: Affine, current: Affine, key_centres_px: Iterable[tuple[float, float]],
                    px_per_mm: tuple[float, float]) -> float:
    """The largest distance any key centre moves: where a touch that hit it now would land after."""
    inverse = current.inverse()
    worst = 0.0
    for x, y in key_centres_px:
        nx, ny = new.apply(*inverse.apply(x, y))
        worst = max(worst, math.hypot((nx - x) / px_per_mm[0], (ny - y) / px_per_mm[1]))
    return worst


def problem(new: Affine, current: Affine | None, *, raw_size: tuple[float, float], screen_px: tuple[int, int],
            key_centres_px: Iterable[tuple[float, float]], px_per_mm: tuple[float, float],
            measured_drift_mm: float = 0.0) -> str | None:
    """Why ``new`` is not a plausible successor of ``current``, in one line; None when it is."""
    if not new.is_usable():
        return "the matrix is singular or not finite"
    a, b, _, d, e, _ = new.as_tuple()
    width = math.hypot(a * raw_size[0], d * raw_size[0])  # the raw x range's image, px
    height = math.hypot(b * raw_size[1], e * raw_size[1])
    for name, got, want in (("width", width, screen_px[0]), ("height", height, screen_px[1])):
        if not MIN_COVER * want <= got <= MAX_COVER * want:
            return (f"the panel would cover {got:.4g} px of the screen's {want} px {name} "
                    f"(allowed {MIN_COVER:g}x to {MAX_COVER:g}x)")
    if current is None:
        return None
    if (new.det > 0) != (current.det > 0):
        return "the matrix mirrors the panel compared with the calibration in use"
    ca, _, _, cd, _, _ = current.as_tuple()
    turn = math.degrees(math.atan2(ca * d - cd * a, ca * a + cd * d))  # raw x axis, before and after
    if abs(turn) > MAX_TURN_DEG:
        return f"the matrix turns the panel by {abs(turn):.0f} degrees (allowed {MAX_TURN_DEG:g})"
    moved = largest_move_mm(new, current, key_centres_px, px_per_mm)
    allowed = allowed_move_mm(measured_drift_mm)
    if moved > allowed:
        return (f"a key centre would move {moved:.1f} mm (allowed {allowed:.1f} mm: "
                f"max({MOVE_FLOOR_MM:g} mm, {DRIFT_FACTOR:g} x measured drift {measured_drift_mm:.1f} mm))")
    return None
