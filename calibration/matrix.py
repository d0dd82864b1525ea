"""The calibration matrix: raw touch units to screen pixels, fitted and converted.

Theory of operation
-------------------
A resistive or capacitive panel that has shifted, stretched or rotated on its
display is well described by an affine map::

    x_px = a·x + b·y + c
    y_px = d·x + e·y + f

``fit_affine`` finds it from N ≥ 3 pairs (screen target, raw position of the
tap on it).  Always fit from *raw* positions: a fit on top of an
already-calibrated position (xinput_calibrator's trap) compounds each run's
error into the next.  Degenerate input (too few points, points on a line,
NaN) raises ``FitError``: never a bad matrix.

Misclicks: greedily dropping the worst residual and refitting (what this
module did first) removes good points when two misclicks pull the fit
together (with two corner misclicks it was worse than tslib's plain least
squares in 10 of 96 seeded sets).  So the fit is a truncated-quadratic
M-estimator solved exhaustively: every subset that leaves out at most
``max_rejected`` points is fitted by least squares, and the one minimising
``Σ min(r_i², c²)`` over *all* points wins (a left-out point is judged by
its residual against a fit it did not pull).  With no misclick the plain
least-squares fit wins, so the estimator only ever departs from least squares
where leaving points out explains the data better by more than ``c²`` each.
``c`` is ``reject_px`` or, when the taps scatter more (a less careful
technician), three times the scatter measured from the kept points, so a
good point is rejected with a probability of about exp(−4.5) ≈ 1% whatever
the technician's hand.  9–13 targets make this at most a few hundred small
fits.

The fit is solved on centred coordinates (the 2×2 normal equations of the
linear part, then the offset from the means), which keeps it well conditioned
for raw ranges up to tens of thousands of units without numpy.

Conversions, import and export, so a site can bring or take its calibration:

* libinput's ``LIBINPUT_CALIBRATION_MATRIX``: six floats from normalized
  device coordinates to normalized screen coordinates, where a raw axis is
  normalized as ``(v − min) / (max − min + 1)`` and the screen as ``px / size``;
* tslib's ``pointercal``: ``A B C D E F S xres yres rot`` with
  ``x_px = (A·x + B·y + C) / S`` (S = 65536) at a screen of ``xres × yres``.

Pure: no I/O, no clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

#: tslib's fixed-point divisor.
TSLIB_SCALE = 65536
#: Below this ratio of the raw points' spread across their main direction to
#: along it (smallest over largest eigenvalue), the points are taken as collinear.
COLLINEAR_RATIO = 1e-6


class FitError(ValueError):
    """The points cannot give a trustworthy matrix; the message says why."""


@dataclass(frozen=True)
class Affine:
    """x_px = a·x + b·y + c, y_px = d·x + e·y + f (raw units to screen pixels)."""

    a: float
    b: float
    c: float
    d: float
    e: float
    f: float

    def apply(self, x: float, y: float) -> tuple[float, float]:
        return (self.a * x + self.b * y + self.c, self.d * x + self.e * y + self.f)

    @property
    def det(self) -> float:
        return self.a * self.e - self.b * self.d

    def inverse(self) -> "Affine":
        """Screen pixels back to raw units (where a target should be touched)."""
        det = self.det
        if not math.isfinite(det) or abs(det) < 1e-12:
            raise FitError("matrix is singular: it maps the panel onto a line")
        a, b, d, e = self.e / det, -self.b / det, -self.d / det, self.a / det
        return Affine(a, b, -(a * self.c + b * self.f), d, e, -(d * self.c + e * self.f))

    def as_tuple(self) -> tuple[float, ...]:
        return (self.a, self.b, self.c, self.d, self.e, self.f)

    def is_usable(self) -> bool:
        """Finite and invertible: a matrix that can map a touch somewhere sensible."""
        return all(math.isfinite(v) for v in self.as_tuple()) and abs(self.det) > 1e-12

    @classmethod
    def identity(cls) -> "Affine":
        return cls(1.0, 0.0, 0.0, 0.0, 1.0, 0.0)

    @classmethod
    def scaled(cls, x_min: int, x_max: int, y_min: int, y_max: int, width_px: int, height_px: int) -> "Affine":
        """The uncalibrated map: each raw axis range stretched over the screen (libinput's identity)."""
        sx, sy = width_px / (x_max - x_min + 1), height_px / (y_max - y_min + 1)
        return cls(sx, 0.0, -sx * x_min, 0.0, sy, -sy * y_min)


@dataclass(frozen=True)
class Fit:
    """A fitted matrix and how well each point agrees with it."""

    affine: Affine
    residuals_px: list[float]       # every input point, kept or rejected, against the final fit
    rejected: list[int] = field(default_factory=list)  # indices of rejected points, in rejection order

    @property
    def kept(self) -> list[int]:
        return [i for i in range(len(self.residuals_px)) if i not in self.rejected]

    @property
    def rms_px(self) -> float:
        kept = [self.residuals_px[i] for i in self.kept]
        return math.sqrt(sum(r * r for r in kept) / len(kept))

    @property
    def max_px(self) -> float:
        return max(self.residuals_px[i] for i in self.kept)


def _check_points(targets_px: Sequence, raw_points: Sequence) -> list[tuple[float, float, float, float]]:
    if len(targets_px) != len(raw_points):
        raise FitError(f"{len(targets_px)} targets but {len(raw_points)} raw points")
    if len(raw_points) < 3:
        raise FitError(f"need at least 3 points, got {len(raw_points)}")
    rows = []
    for i, (t, r) in enumerate(zip(targets_px, raw_points)):
        try:
            row = (float(r[0]), float(r[1]), float(t[0]), float(t[1]))
        except (TypeError, ValueError, IndexError):
            raise FitError(f"point {i}: expected [x, y] pairs, got target {t!r}, raw {r!r}") from None
        if not all(math.isfinite(v) for v in row):
            raise FitError(f"point {i}: not a finite number (NaN or infinity)")
        rows.append(row)
    return rows


def _spread(xs: list[float], ys: list[float]) -> tuple[float, float, float, float, float]:
    """Means and centred second moments (Sxx, Sxy, Syy) of a point set."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    return mx, my, sxx, sxy, syy


def _collinear(sxx: float, sxy: float, syy: float) -> bool:
    tr = sxx + syy
    det = sxx * syy - sxy * sxy
    if tr <= 0:
        return True
    half = tr / 2
    disc = math.sqrt(max(half * half - det, 0.0))
    lo, hi = half - disc, half + disc
    return lo <= COLLINEAR_RATIO * hi


def _solve(rows: list[tuple[float, float, float, float]]) -> Affine:
    xs = [r[0] for r in rows]
    ys = [r[1] for r in rows]
    mx, my, sxx, sxy, syy = _spread(xs, ys)
    if _collinear(sxx, sxy, syy):
        raise FitError("the raw points lie on a line (or on one spot): touch targets spread over the screen")
    txs = [r[2] for r in rows]
    tys = [r[3] for r in rows]
    mtx, mty, txx, txy, tyy = _spread(txs, tys)
    if _collinear(txx, txy, tyy):
        raise FitError("the targets lie on a line: at least 3 targets must not be in a row")
    det = sxx * syy - sxy * sxy
    coeffs = []
    for ts, mt in ((txs, mtx), (tys, mty)):
        sxt = sum((x - mx) * (t - mt) for x, t in zip(xs, ts))
        syt = sum((y - my) * (t - mt) for y, t in zip(ys, ts))
        p = (syy * sxt - sxy * syt) / det
        q = (sxx * syt - sxy * sxt) / det
        coeffs += [p, q, mt - p * mx - q * my]
    affine = Affine(*coeffs)
    if not affine.is_usable():
        raise FitError("the fit maps the panel onto a line: targets and taps do not correspond")
    return affine


def _residuals(affine: Affine, rows: list[tuple[float, float, float, float]]) -> list[float]:
    out = []
    for x, y, tx, ty in rows:
        px, py = affine.apply(x, y)
        out.append(math.hypot(px - tx, py - ty))
    return out


#: ``c`` is at least this many times the scatter measured from the kept points.
REJECT_SIGMAS = 3.0
#: Rounds of "measure the scatter, choose the subset again" (it settles in one or two).
SCALE_ROUNDS = 3


def scatter_px(fit: "Fit") -> float:
    """The taps' scatter per axis (px) estimated from the kept points' residuals.

    Each output axis of an affine fit has 3 parameters, so n kept points leave
    2(n − 3) degrees of freedom for the 2n residual coordinates.
    """
    kept = fit.kept
    dof = 2 * (len(kept) - 3)
    if dof <= 0:
        return 0.0
    return math.sqrt(sum(fit.residuals_px[i] ** 2 for i in kept) / dof)


def _best_subset(rows: list[tuple[float, float, float, float]], c_px: float, limit: int) -> Fit:
    """The least-squares fit of the subset minimising Σ min(r², c²) over all points."""
    from itertools import combinations

    n = len(rows)
    c2 = c_px * c_px
    best: tuple[float, int] | None = None
    best_fit: Fit | None = None
    for k in range(limit + 1):
        for out in combinations(range(n), k):
            left_out = set(out)
            try:
                affine = _solve([rows[i] for i in range(n) if i not in left_out])
            except FitError:
                continue  # leaving these out leaves a degenerate set
            res = _residuals(affine, rows)
            cost = sum(min(r * r, c2) for r in res)
            if best is None or cost < best[0] - 1e-9 * max(1.0, best[0]):
                best, best_fit = (cost, k), Fit(affine, res, sorted(out, key=lambda i: -res[i]))
    if best_fit is None:
        raise FitError("no subset of the points gives a usable fit")
    return best_fit


def fit_affine(targets_px: Sequence[Sequence[float]], raw_points: Sequence[Sequence[float]], *,
               reject_px: float = 10.0, max_rejected: int | None = None) -> Fit:
    """Robust affine map from ``raw_points`` to ``targets_px``, misclicks rejected.

    ``raw_points[i]`` is the robust raw position of the tap on ``targets_px[i]``
    (see ``drivers.touch.robust_position``).  At most ``max_rejected`` points
    are left out (default: ``(N − 3) // 2``, at most 3, so a majority always
    stays and at least 3 points always define the fit); see the module
    docstring for how they are chosen.  ``rejected`` lists them worst first.
    """
    rows = _check_points(targets_px, raw_points)
    if not (math.isfinite(reject_px) and reject_px > 0):
        raise FitError(f"reject_px must be a positive number, got {reject_px!r}")
    default = min((len(rows) - 3) // 2, 3)
    limit = default if max_rejected is None else max(0, min(max_rejected, len(rows) - 3))
    _solve(rows)  # degenerate input is an error before any subset is tried
    if limit == 0:
        affine = _solve(rows)
        return Fit(affine, _residuals(affine, rows), [])
    c_px = reject_px
    fit = _best_subset(rows, c_px, limit)
    for _ in range(SCALE_ROUNDS):
        wanted = max(reject_px, REJECT_SIGMAS * scatter_px(fit))
        if math.isclose(wanted, c_px, rel_tol=0.05):
            break
        c_px = wanted
        fit = _best_subset(rows, c_px, limit)
    # a point left out whose residual is within c after all is no misclick: take it back
    if any(fit.residuals_px[i] <= c_px for i in fit.rejected):
        keep_out = [i for i in fit.rejected if fit.residuals_px[i] > c_px]
        affine = _solve([r for i, r in enumerate(rows) if i not in keep_out])
        res = _residuals(affine, rows)
        fit = Fit(affine, res, sorted(keep_out, key=lambda i: -res[i]))
    return fit


def residuals_mm(affine: Affine, targets_px: Sequence[Sequence[float]], raw_points: Sequence[Sequence[float]],
                 px_per_mm_x: float, px_per_mm_y: float) -> list[float]:
    """Distance in millimetres on the glass from each target to where its tap maps.

    Pixels are not square on every panel, so each axis is converted with its
    own px/mm (``ScreenConfig.width_px / width_mm``, same for height).
    """
    out = []
    for (tx, ty), (x, y) in zip(targets_px, raw_points):
        px, py = affine.apply(x, y)
        out.append(math.hypot((px - tx) / px_per_mm_x, (py - ty) / px_per_mm_y))
    return out


# -- libinput -----------------------------------------------------------------
def to_libinput(affine: Affine, x_min: int, x_max: int, y_min: int, y_max: int,
                width_px: int, height_px: int) -> tuple[float, ...]:
    """``LIBINPUT_CALIBRATION_MATRIX`` (6 floats) equivalent to ``affine`` on this device and screen."""
    sx, sy = x_max - x_min + 1, y_max - y_min + 1
    a, b, c, d, e, f = affine.as_tuple()
    return (a * sx / width_px, b * sy / width_px, (a * x_min + b * y_min + c) / width_px,
            d * sx / height_px, e * sy / height_px, (d * x_min + e * y_min + f) / height_px)


def from_libinput(matrix: Sequence[float], x_min: int, x_max: int, y_min: int, y_max: int,
                  width_px: int, height_px: int) -> Affine:
    """The affine map a ``LIBINPUT_CALIBRATION_MATRIX`` describes on this device and screen."""
    if len(matrix) != 6:
        raise FitError(f"a libinput calibration matrix has 6 numbers, got {len(matrix)}")
    m = [float(v) for v in matrix]
    if not all(math.isfinite(v) for v in m):
        raise FitError("libinput calibration matrix: not a finite number")
    sx, sy = x_max - x_min + 1, y_max - y_min + 1
    a, b = m[0] * width_px / sx, m[1] * width_px / sy
    d, e = m[3] * height_px / sx, m[4] * height_px / sy
    c = m[2] * width_px - a * x_min - b * y_min
    f = m[5] * height_px - d * x_min - e * y_min
    return Affine(a, b, c, d, e, f)


def format_libinput(matrix: Sequence[float]) -> str:
    """The udev property line, e.g. for a hwdb or rules file."""
    return 'ENV{LIBINPUT_CALIBRATION_MATRIX}="' + " ".join(f"{v:.6g}" for v in matrix) + '"'


# -- tslib --------------------------------------------------------------------
#: No tslib field is anywhere near this (65536 x a few thousand px); a bigger one is not a calibration.
POINTERCAL_FIELD_MAX = 2**40


def to_pointercal(affine: Affine, width_px: int, height_px: int) -> str:
    """tslib ``pointercal`` text: ``A B C D E F 65536 xres yres 0``."""
    vals = [round(v * TSLIB_SCALE) for v in affine.as_tuple()]
    return " ".join(str(v) for v in vals) + f" {TSLIB_SCALE} {width_px} {height_px} 0"


def from_pointercal(text: str, width_px: int, height_px: int) -> Affine:
    """The affine map of a tslib ``pointercal``, rescaled when it was made at another resolution."""
    parts = text.split()
    if len(parts) not in (7, 9, 10):
        raise FitError(f"pointercal: expected 7, 9 or 10 numbers, got {len(parts)}")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        raise FitError("pointercal: every field must be an integer") from None
    for i, v in enumerate(nums, start=1):
        if abs(v) > POINTERCAL_FIELD_MAX:
            raise FitError(f"pointercal: field {i} is out of range ({len(parts[i - 1])} characters)")
    scale = nums[6]
    if scale == 0:
        raise FitError("pointercal: divisor S is 0")
    if len(nums) == 10 and nums[9] != 0:
        raise FitError(f"pointercal: rotation {nums[9]} is not supported (only 0)")
    kx = ky = 1.0
    if len(nums) >= 9:
        if nums[7] <= 0 or nums[8] <= 0:
            raise FitError("pointercal: resolution must be positive")
        kx, ky = width_px / nums[7], height_px / nums[8]
    a, b, c, d, e, f = (v / scale for v in nums[:6])
    affine = Affine(a * kx, b * kx, c * kx, d * ky, e * ky, f * ky)
    if not affine.is_usable():
        raise FitError("pointercal: the matrix is singular")
    return affine
