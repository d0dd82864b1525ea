"""Drift of the touch panel, estimated from ordinary keypad taps.

Theory of operation
-------------------
A touch panel that drifts moves every reported tap by the same vector.  Each
committed keypress gives a *residual*: where the tap was reported minus the
centre of the key it registered on, in mm.  People tap systematically
off-centre by a few mm (Holz & Baudisch 2010; Henze et al. 2011), so drift is
the *change* of the mean residual from a baseline learned in the first
sessions after a calibration, not its distance from zero.

Privacy is structural.  ``SessionDrift`` keeps running sums only (count, sum
and sum of squares of the residual components, and four counters), never a
list, so it cannot know which key was pressed or in which order; a residual is
relative to whatever key registered and says nothing about that key.  A
session leaves it only as a ``SessionSummary`` (mean offset, count, spread,
far taps, gap taps, corrections) and is wiped at session end.  ``DriftEstimator`` keeps
only running statistics over many sessions; its JSON holds no timestamps and
no per-session record.

Detection, per finished session (``DriftEstimator.add_session``):

``baseline``
    The first sessions after ``reset_baseline`` (until ``baseline_taps``
    taps) give the baseline mean offset, the per-tap scatter (from the
    within-session spread), the person-to-person scatter of session means,
    and the normal rates of far taps, gap taps, corrections and wrong PINs.
``warn`` (shift of about ``warn_mm``)
    Crosier's multivariate CUSUM (1988) on the 2-D session mean in
    log-likelihood-ratio form: each session weighted by its own information
    ``1 / (person_var + tap_var / n)`` (person-to-person offsets do not
    average out within a session), tuned to a shift of
    ``2 * CUSUM_K_FRACTION * warn_mm``.  A CUSUM is the fastest test for a
    shift of a known size at a given false-alarm rate; a session whose
    deviation is absurd is clipped (Huber), so one wild tapper cannot raise a
    warning.  Warn clears (hysteresis) when the statistic falls back below a
    quarter of its threshold.
``alert`` (shift of ``alert_key_fraction`` of the key pitch, or worse)
    Any of: a fast EWMA of the mean offset at or beyond that shift; far
    taps (residuals longer than ``FAR_TAP_MM``), gap taps, corrections or
    wrong PINs far above their baseline rates.  These rates matter once drift
    nears half a key: taps then land in gaps or register on the neighbouring
    key, their residuals wrap around (bimodal, long, but with a mean that can
    look harmless), and the sessions full of gap taps keep only the taps
    that happened to land near a centre.  ``alert``
    latches until the next ``reset_baseline`` (a calibration) or a passed
    technician drift check (``drift_check_result``): a panel does not heal
    itself, and a latched alert cannot be talked back to ``ok`` by wrapped
    residuals.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kiosk.config import DriftConfig
from kiosk.state_files import StateFileError, parse_json
from kiosk.vocabulary import DriftLevel, values

if TYPE_CHECKING:
    from kiosk.keypad import KeyLayout

LEVELS = values(DriftLevel)

#: Format of ``DriftEstimator.to_json``; bump when the meaning of a field changes.
STATE_VERSION = 2  # 2: the residual field (field_moments, field_offset_mm, baseline_slopes); 1 still loads
#: A saved state is about 1 KB; more is not one of ours.
STATE_MAX_BYTES = 64 << 10

# -- tuning (chosen with ``pin-kiosk drift simulate``; see docs/benchmarks.md) --
#: CUSUM decision threshold on the log-likelihood ratio.  With the reference
#: shift below it gives fewer than 1 false warn per 1000 undrifted sessions and a
#: median of about 36 taps to warn after a 2 mm jump (``pin-kiosk drift simulate``).
CUSUM_H = 9.0
#: CUSUM reference value as a fraction of warn_mm (textbook: half the shift to
#: detect; 0.65 tunes the test to a 1.3 x warn_mm shift: quick at 2 mm, still sure).
CUSUM_K_FRACTION = 0.65
#: A session's standardised deviation is clipped to this norm before the CUSUM
#: (robustness: one person tapping wildly moves the statistic by a bounded step).
SESSION_CLIP = 3.0
#: A single residual is clipped to this norm (mm) before it enters the sums;
#: no honest tap on a key can be further than that from the key's centre.
TAP_CLIP_MM = 12.0
#: Fast EWMA of the offset used for the alert shift: weight of a 5-tap session (0.45 before
#: issue 20 let a population of elderly citizens, 1.5 mm low, reach a 4 mm "shift").
ALERT_EWMA_LAMBDA = 0.2
#: EWMA weight per touch for the far-tap and correction rates.
TAP_RATE_LAMBDA = 0.03
#: EWMA weight per touch for the gap-tap rate: slower, since one unsure citizen taps many gaps.
GAP_RATE_LAMBDA = 0.01
#: A residual longer than this is a "far" tap.  Counting them is the robust
#: form of the residual spread: once taps straddle two keys, most residuals are
#: far whichever key they registered on, so wrapping cannot hide it, while one
#: wild tap moves a rate by one count only.
FAR_TAP_MM = 5.0
#: EWMA weight for the wrong-PIN rate: slower, because one citizen who forgot
#: the PIN produces several wrong sessions in a row.
WRONG_EWMA_LAMBDA = 0.08
#: Excess rates over baseline that mean "taps are landing elsewhere".
FAR_RATE_ALERT = 0.35  # far taps per committed tap (about a 4 mm shift; 0.1 undrifted)
GAP_RATE_ALERT = 0.30  # gap taps per touch (0.15 raised most false alerts: issue 20)
CORRECTION_RATE_ALERT = 0.08  # backspace-then-neighbour per touch
WRONG_PIN_RATE_ALERT = 0.45  # share of sessions ending in a wrong PIN
#: Floors for variances learned from a baseline (mm^2 per axis), so a
#: suspiciously tidy baseline cannot make the test hair-triggered.
TAP_VAR_FLOOR_MM2 = 1.0
PERSON_VAR_FLOOR_MM2 = 0.25


@dataclass(frozen=True)
class SessionSummary:
    """All that leaves a session: anonymous aggregates, no key, no order, no time."""

    mean_dx_mm: float
    mean_dy_mm: float
    n: int  # committed keypresses that gave a residual
    spread_mm: float = 0.0  # rms distance of the residuals from their own mean
    far_taps: int = 0  # residuals longer than FAR_TAP_MM
    gap_taps: int = 0  # taps that landed on no key
    corrections: int = 0  # backspace followed by a neighbouring key
    #: residual-field moments (``FIELD_MOMENTS``) of the taps that said where their key is;
    #: in memory only: they reach the estimator through a SessionPool, mixed with other sessions
    field: tuple[float, ...] = ()


def key_pitch_mm(*layouts: "KeyLayout") -> float:
    """The pitch ``DriftEstimator`` must respect: the smallest of the keypads in use.

    Drift wraps first on the keypad with the closest keys (the signature
    PIN's alphanumeric keypad), so ``alert`` and "half a key" are measured
    against that one, not against the roomier digit keypad.
    """
    if not layouts:
        raise ValueError("at least one keypad layout is needed")
    return min(layout.pitch_mm for layout in layouts)


def key_residual_mm(layout: "KeyLayout", key_id: str, x_px: float, y_px: float) -> tuple[float, float]:
    """Tap position minus the centre of the key it committed, in mm (x right, y down).

    The one definition of a drift residual; per-axis px/mm because pixels
    are not square on every panel.
    """
    cx, cy = layout.key_centre_px(key_id)
    return ((x_px - cx) / layout.px_per_mm_x, (y_px - cy) / layout.px_per_mm_y)


class SessionDrift:
    """Residual sums of one citizen session; wipe it when the session ends."""

    __slots__ = ("_n", "_sx", "_sy", "_sxx", "_syy", "_far", "_gaps", "_corrections", "_field")

    def __init__(self) -> None:
        self.wipe()

    def wipe(self) -> None:
        """Forget everything (session end)."""
        self._n = 0
        self._sx = self._sy = self._sxx = self._syy = 0.0
        self._far = 0
        self._gaps = 0
        self._corrections = 0
        self._field: tuple[float, ...] = (0.0,) * len(FIELD_MOMENTS)

    def add_tap(self, residual_mm: tuple[float, float], key_at_mm: tuple[float, float] | None = None) -> None:
        """A committed keypress: tap position minus the registered key's centre, mm.

        ``key_at_mm``: where that key's centre is (mm from the screen centre), so the
        residual field (drift that turns or stretches, not only shifts) can be fitted.
        """
        dx, dy = float(residual_mm[0]), float(residual_mm[1])
        if not (math.isfinite(dx) and math.isfinite(dy)):
            return
        r = math.hypot(dx, dy)
        self._far += r > FAR_TAP_MM
        if r > TAP_CLIP_MM:
            dx, dy = dx * TAP_CLIP_MM / r, dy * TAP_CLIP_MM / r
        if key_at_mm is not None:
            x, y = float(key_at_mm[0]), float(key_at_mm[1])
            if math.isfinite(x) and math.isfinite(y):
                self._field = tuple(m + v for m, v in zip(
                    self._field, (1.0, x, y, x * x, x * y, y * y, dx, dy, x * dx, y * dx, x * dy, y * dy)))
        self._n += 1
        self._sx += dx
        self._sy += dy
        self._sxx += dx * dx
        self._syy += dy * dy

    def add_gap_tap(self) -> None:
        """A tap that landed between keys (or just off the keypad): nothing registered."""
        self._gaps += 1

    def add_correction(self) -> None:
        """Backspace, then the key next to the one just erased: a likely mis-registration."""
        self._corrections += 1

    @property
    def n(self) -> int:
        return self._n

    def summary(self) -> SessionSummary:
        """Mean offset, count and spread of this session's residuals, and the counters."""
        n = self._n
        field = centred_moments(self._field) if self._field[0] >= 2 else ()
        if n == 0:
            return SessionSummary(0.0, 0.0, 0, 0.0, 0, self._gaps, self._corrections)
        mx, my = self._sx / n, self._sy / n
        var = max(0.0, self._sxx / n - mx * mx) + max(0.0, self._syy / n - my * my)
        return SessionSummary(mx, my, n, math.sqrt(var), self._far, self._gaps, self._corrections, field)

    def __repr__(self) -> str:
        return f"<SessionDrift n={self._n}>"


#: The moments a session's residual field is summed in, over taps with key centre (x, y)
#: and residual (dx, dy): count, Σx, Σy, Σx², Σxy, Σy², Σdx, Σdy, Σx·dx, Σy·dx, Σx·dy, Σy·dy.
FIELD_MOMENTS = ("n", "x", "y", "xx", "xy", "yy", "dx", "dy", "xdx", "ydx", "xdy", "ydy")
#: What leaves a session: the same moments centred on the session's own means (n, Sxx, Sxy,
#: Syy, Sx·dx, Sy·dx, Sx·dy, Sy·dy).  Centring removes the person's own offset, which would
#: otherwise look like a slope whenever one person types on the left keypad and the next on
#: the right: the field's slopes come from how residuals vary *within* each session.
CENTRED_MOMENTS = ("n", "cxx", "cxy", "cyy", "cxdx", "cydx", "cxdy", "cydy")
#: The residual field's slopes: dx = … + ax·x + ay·y, dy = … + bx·x + by·y (per mm across the keypad).
SLOPES = ("ax", "ay", "bx", "by")
#: The slopes' memory in taps: moments decay by (1 − 1/FIELD_WINDOW_TAPS) per tap.
FIELD_WINDOW_TAPS = 120
#: Ridge on the slopes (mm² of key spread): a few clustered keys cannot invent a rotation.
FIELD_RIDGE_MM2 = 800.0
#: Taps the slopes need before the field may raise an alert.
FIELD_MIN_TAPS = 40
#: Before a baseline exists the field is judged against "no offset at all", which people
#: never quite meet (they tap a little low): this much more displacement is needed.
GROSS_MARGIN_MM = 2.0
#: Taps since the calibration before a gross error may be called (a handful of citizens).
GROSS_MIN_TAPS = 20


def centred_moments(m: tuple[float, ...]) -> tuple[float, ...]:
    """A session's raw field moments centred on its own mean key and mean residual."""
    n = m[0]
    mx, my, mdx, mdy = m[1] / n, m[2] / n, m[6] / n, m[7] / n
    return (n, m[3] - n * mx * mx, m[4] - n * mx * my, m[5] - n * my * my,
            m[8] - n * mx * mdx, m[9] - n * my * mdx, m[10] - n * mx * mdy, m[11] - n * my * mdy)


def field_slopes(c: list[float] | tuple[float, ...]) -> tuple[float, float, float, float]:
    """(ax, ay, bx, by): how the residual changes per mm across the keypad, dx = … + ax·x + ay·y."""
    sxx, sxy, syy = c[1] + FIELD_RIDGE_MM2, c[2], c[3] + FIELD_RIDGE_MM2
    det = sxx * syy - sxy * sxy
    ax = (syy * c[4] - sxy * c[5]) / det
    ay = (sxx * c[5] - sxy * c[4]) / det
    bx = (syy * c[6] - sxy * c[7]) / det
    by = (sxx * c[7] - sxy * c[6]) / det
    return ax, ay, bx, by


#: The slopes' part of a corner's movement counts only beyond this many of its standard errors.
FIELD_SLOPE_SIGMAS = 2.0


def field_displacement_mm(offset_mm: tuple[float, float], slopes: tuple[float, ...],
                          box_mm: tuple[float, float, float, float],
                          moments: list[float] | tuple[float, ...] | None = None, tap_var_mm2: float = 0.0) -> float:
    """The largest key movement over the keypad box: shift plus slopes, at its corners (it is affine).

    With ``moments`` and the taps' variance, each corner's movement is reduced
    by ``FIELD_SLOPE_SIGMAS`` standard errors of what the slopes add there, so
    a noisy slope estimate cannot call a turn that is not there.
    """
    x0, y0, x1, y1 = box_mm
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ax, ay, bx, by = slopes
    if moments is not None:
        sxx, sxy, syy = moments[1] + FIELD_RIDGE_MM2, moments[2], moments[3] + FIELD_RIDGE_MM2
        det = sxx * syy - sxy * sxy
    worst = 0.0
    for x in (x0, x1):
        for y in (y0, y1):
            dx, dy = x - cx, y - cy
            move = math.hypot(offset_mm[0] + ax * dx + ay * dy, offset_mm[1] + bx * dx + by * dy)
            if moments is not None:
                lev = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det
                move -= FIELD_SLOPE_SIGMAS * math.sqrt(max(tap_var_mm2, 0.0) * lev)
            worst = max(worst, move)
    return worst


def keypad_box_mm(*layouts: "KeyLayout") -> tuple[float, float, float, float]:
    """The box of every key centre of the keypads in use, mm from the screen centre."""
    pts = [key_at_mm(layout, k.id) for layout in layouts for k in layout.keys]
    return (min(p[0] for p in pts), min(p[1] for p in pts), max(p[0] for p in pts), max(p[1] for p in pts))


def key_at_mm(layout: "KeyLayout", key_id: str) -> tuple[float, float]:
    """A key's centre in mm from the screen centre (x right, y down): where its residuals are."""
    cx, cy = layout.key_centre_px(key_id)
    return ((cx - layout.screen_w_px / 2) / layout.px_per_mm_x, (cy - layout.screen_h_px / 2) / layout.px_per_mm_y)


class SessionPool:
    """Finished sessions held back until there are ``size`` of them, then handed over together.

    A figure that moves after every session (taps counted, a mean shifted by
    one session's weight, a state file rewritten) tells whoever sees it how
    many keys that citizen pressed: the PIN's length.  Held here, in memory
    only, sessions reach the estimator ``size`` at a time, so every published
    figure moves by the sum of several citizens' taps.  A restart forgets a
    partial pool: a few sessions of evidence, never a figure about one of them.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, int(size))
        self._held: list[tuple[SessionSummary, bool]] = []

    def __len__(self) -> int:
        return len(self._held)

    def add(self, summary: SessionSummary, wrong_pin: bool = False) -> list[tuple[SessionSummary, bool]]:
        """Hold one session; the whole pool (and an empty one left) when it is full, else []."""
        if summary.n <= 0 and summary.gap_taps <= 0:
            return []  # nothing was typed: nothing to hold
        self._held.append((summary, bool(wrong_pin)))
        if len(self._held) < self.size:
            return []
        pool, self._held = self._held, []
        return pool

    def wipe(self) -> None:
        self._held.clear()


def add_pool(estimator: "DriftEstimator", pool: list[tuple[SessionSummary, bool]]) -> "LevelChange | None":
    """Feed a pool of sessions; the one level change from before to after it, if any."""
    first: LevelChange | None = None
    last: LevelChange | None = None
    for summary, wrong_pin in pool:
        change = estimator.add_session(summary, wrong_pin)
        if change is not None:
            first = first or change
            last = change
    if first is None or last is None or first.old == last.new:
        return None
    return LevelChange(first.old, last.new, last.reason)


@dataclass(frozen=True)
class LevelChange:
    """What ``add_session`` returns when the level moved."""

    old: str
    new: str
    reason: str  # "shift" | "field" | "gross" | "far_taps" | "gap_taps" | "corrections" | "wrong_pins" | "drift_check" | "cleared"


def _clip(vx: float, vy: float, limit: float) -> tuple[float, float]:
    r = math.hypot(vx, vy)
    if r > limit:
        return vx * limit / r, vy * limit / r
    return vx, vy


def _count(value: Any, name: str) -> int:
    """A count from saved state (0 .. 2**53), or ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**53:
        raise ValueError(f"{name} is not a count")
    return value


def _finite(value: Any, name: str) -> float:
    """A finite float from saved state (at most 1e12 either way), or ValueError naming the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not abs(value) <= 1e12:
        raise ValueError(f"{name} is not a finite number")
    return float(value)


class DriftEstimator:
    """Sequential drift test over sessions; persist with ``to_json``/``from_json``."""

    def __init__(self, cfg: DriftConfig, key_pitch_mm: float,
                 keypad_box_mm: tuple[float, float, float, float] | None = None) -> None:
        if not key_pitch_mm > 0:
            raise ValueError("key_pitch_mm must be positive")
        self.cfg = cfg
        self.key_pitch_mm = float(key_pitch_mm)
        #: where the keys are (``keypad_box_mm``): the field's displacement is judged over it;
        #: None turns the field rules off (only the mean offset is watched)
        self.keypad_box_mm = keypad_box_mm
        self.reset_baseline()

    # -- thresholds ----------------------------------------------------------
    @property
    def warn_mm(self) -> float:
        return self.cfg.warn_mm

    @property
    def alert_mm(self) -> float:
        """Shift that raises ``alert``: ``alert_key_fraction`` of the key pitch."""
        return self.cfg.alert_key_fraction * self.key_pitch_mm

    # -- life cycle ----------------------------------------------------------
    def reset_baseline(self) -> None:
        """A calibration was installed: forget everything and learn a new baseline."""
        self.level = "ok"
        self.reason = ""
        self.sessions = 0  # sessions since calibration
        self.taps = 0  # committed taps since calibration
        # baseline accumulators
        self._b = {"w": 0.0, "wx": 0.0, "wy": 0.0, "n": 0, "sessions": 0, "ss": 0.0, "dof": 0,
                   "gaps": 0, "corr": 0, "wrong": 0, "inv_n": 0.0, "between": 0.0,
                   "m": 0, "far": 0}
        self.baseline_mm: tuple[float, float] | None = None
        self.tap_var_mm2 = 0.0
        self.person_var_mm2 = 0.0
        self.base_far_rate = 0.0
        self.base_gap_rate = 0.0
        self.base_corr_rate = 0.0
        self.base_wrong_rate = 0.0
        # monitoring statistics
        self.cusum = (0.0, 0.0)
        self.offset_mm = (0.0, 0.0)  # fast EWMA of (session mean - baseline)
        self.far_rate = 0.0
        self.gap_rate = 0.0
        self.corr_rate = 0.0
        self.wrong_rate = 0.0
        # residual field: decayed within-session moments, and the baseline's slopes
        self.field_moments = [0.0] * len(CENTRED_MOMENTS)
        self.baseline_slopes: tuple[float, ...] | None = None
        self.field_offset_mm = (0.0, 0.0)  # slow EWMA (FIELD_WINDOW_TAPS) of (session mean - baseline)

    @property
    def field_shift_mm(self) -> float:
        """How far the keys moved at the worst corner of the keypad: shift and turn together (0 without a box)."""
        if self.keypad_box_mm is None or self.field_moments[0] < (GROSS_MIN_TAPS if self.learning else FIELD_MIN_TAPS):
            return 0.0
        slopes = field_slopes(self.field_moments)
        if self.learning:  # against "nothing moved": the mean offset so far, the slopes as they are
            b = self._b
            offset = (b["wx"] / b["w"], b["wy"] / b["w"]) if b["w"] > 0 else (0.0, 0.0)
        else:
            offset = self.field_offset_mm
            slopes = tuple(s - b for s, b in zip(slopes, self.baseline_slopes or (0.0,) * 4))
        tap_var = self.tap_var_mm2 if not self.learning else TAP_VAR_FLOOR_MM2 * 4
        moved = field_displacement_mm(offset, slopes, self.keypad_box_mm, self.field_moments, tap_var)
        return max(moved, math.hypot(*offset)) if self.learning else moved

    def _add_field(self, field: tuple[float, ...]) -> None:
        if len(field) != len(CENTRED_MOMENTS) or field[0] <= 0:
            return
        keep = (1.0 - 1.0 / FIELD_WINDOW_TAPS) ** field[0]
        self.field_moments = [keep * m + f for m, f in zip(self.field_moments, field)]

    @property
    def learning(self) -> bool:
        """True while the baseline is still being learned."""
        return self.baseline_mm is None

    @property
    def shift_mm(self) -> float:
        """Estimated distance the taps moved since the baseline."""
        return math.hypot(*self.offset_mm)

    @property
    def cusum_norm(self) -> float:
        return math.hypot(*self.cusum)

    # -- the update ----------------------------------------------------------
    def add_session(self, summary: SessionSummary, wrong_pin: bool = False) -> LevelChange | None:
        """Take one finished session; return the level change it caused, if any."""
        n = int(summary.n)
        if n <= 0 and summary.gap_taps <= 0:
            return None  # nothing was typed: no evidence either way
        self.sessions += 1
        self.taps += max(n, 0)
        if self.learning:
            self._learn(summary, wrong_pin)
            self._add_field(summary.field)
            if not self.learning:  # the baseline just finished: the slopes so far are its slopes
                self.baseline_slopes = field_slopes(self.field_moments)
            return self._set(self._alert_reason_while_learning(), "ok")
        self._add_field(summary.field)
        return self._monitor(summary, wrong_pin)

    def _learn(self, s: SessionSummary, wrong_pin: bool) -> None:
        b = self._b
        n = max(s.n, 0)
        b["sessions"] += 1
        b["gaps"] += s.gap_taps
        b["corr"] += s.corrections
        b["wrong"] += int(bool(wrong_pin))
        if n > 0:
            # weight a session by its information assuming person var = tap var / 4
            w = n / (1.0 + n / 4.0)
            b["w"] += w
            b["wx"] += w * s.mean_dx_mm
            b["wy"] += w * s.mean_dy_mm
            b["n"] += n
            b["inv_n"] += 1.0 / n
            b["ss"] += n * s.spread_mm ** 2
            b["dof"] += n - 1
            b["between"] += s.mean_dx_mm ** 2 + s.mean_dy_mm ** 2
            b["far"] += s.far_taps
            b["m"] += 1
        if b["n"] >= self.cfg.baseline_taps and b["m"] >= 2:
            self._finish_baseline()

    def _finish_baseline(self) -> None:
        b = self._b
        m = b["m"]
        bx, by = b["wx"] / b["w"], b["wy"] / b["w"]
        self.baseline_mm = (bx, by)
        tap_var = b["ss"] / max(b["dof"], 1) / 2.0  # per axis
        self.tap_var_mm2 = max(tap_var, TAP_VAR_FLOOR_MM2)
        # between-session variance of the means (per axis), minus the tap part
        between = (b["between"] / m - (bx * bx + by * by)) / 2.0 * m / max(m - 1, 1)
        self.person_var_mm2 = max(between - self.tap_var_mm2 * b["inv_n"] / m, PERSON_VAR_FLOOR_MM2)
        self.base_far_rate = b["far"] / max(b["n"], 1)
        taps = max(b["n"], 1)
        self.base_gap_rate = b["gaps"] / taps
        self.base_corr_rate = b["corr"] / taps
        self.base_wrong_rate = b["wrong"] / max(b["sessions"], 1)
        self.far_rate, self.gap_rate, self.corr_rate, self.wrong_rate = (
            self.base_far_rate, self.base_gap_rate, self.base_corr_rate, self.base_wrong_rate)

    def _alert_reason_while_learning(self) -> str | None:
        # No baseline yet: only a level of trouble no honest tapper produces counts.
        b = self._b
        taps = max(b["n"], 1)
        if b["n"] >= GROSS_MIN_TAPS and self.keypad_box_mm is not None and \
                self.field_shift_mm >= self.alert_mm + GROSS_MARGIN_MM:
            return "gross"  # a gross error right after a calibration: no blind window
        if b["sessions"] >= 5 and b["gaps"] / taps >= 2 * GAP_RATE_ALERT:
            return "gap_taps"
        if b["sessions"] >= 5 and b["corr"] / taps >= 2 * CORRECTION_RATE_ALERT:
            return "corrections"
        return None

    def _monitor(self, s: SessionSummary, wrong_pin: bool) -> LevelChange | None:
        n = max(s.n, 0)
        touches = n + s.gap_taps
        if touches > 0:
            # per touch, not per session: a long signature PIN full of gap taps says more
            w = 1.0 - (1.0 - TAP_RATE_LAMBDA) ** touches
            wg = 1.0 - (1.0 - GAP_RATE_LAMBDA) ** touches
            self.gap_rate += wg * (s.gap_taps / touches - self.gap_rate)
            self.corr_rate += w * (min(s.corrections / touches, 1.0) - self.corr_rate)
        self.wrong_rate += WRONG_EWMA_LAMBDA * (float(bool(wrong_pin)) - self.wrong_rate)
        if n > 0:
            bx, by = self.baseline_mm  # type: ignore[misc]
            dx, dy = s.mean_dx_mm - bx, s.mean_dy_mm - by
            sigma = math.sqrt(self.person_var_mm2 + self.tap_var_mm2 / n)
            # Crosier's MCUSUM in log-likelihood-ratio form: each session weighted
            # by its information 1/sigma^2, its deviation clipped (Huber)
            k_mm = CUSUM_K_FRACTION * self.cfg.warn_mm
            cx, cy = _clip(dx, dy, SESSION_CLIP * sigma)
            delta = 2.0 * k_mm  # the shift this test is tuned to
            cx, cy = self.cusum[0] + delta * cx / sigma ** 2, self.cusum[1] + delta * cy / sigma ** 2
            c = math.hypot(cx, cy)
            k = delta * k_mm / sigma ** 2
            self.cusum = (0.0, 0.0) if c <= k else (cx * (1 - k / c), cy * (1 - k / c))
            # fast EWMA of the offset, robust step
            a = 1.0 - (1.0 - ALERT_EWMA_LAMBDA) ** (min(n, 10) / 5.0)
            ox, oy = self.offset_mm
            ex, ey = _clip(dx - ox, dy - oy, 3.0 * sigma + self.alert_mm)
            self.offset_mm = (ox + a * ex, oy + a * ey)
            wf = 1.0 - (1.0 - 1.0 / FIELD_WINDOW_TAPS) ** n
            fx, fy = self.field_offset_mm
            self.field_offset_mm = (fx + wf * (dx - fx), fy + wf * (dy - fy))
            # far taps (residuals wrap but stay long when taps straddle two keys)
            w = 1.0 - (1.0 - TAP_RATE_LAMBDA) ** n
            self.far_rate += w * (min(s.far_taps / n, 1.0) - self.far_rate)
        return self._decide()

    def _decide(self) -> LevelChange | None:
        alert = None
        if self.shift_mm >= self.alert_mm:
            alert = "shift"
        elif self.field_shift_mm >= self.alert_mm:
            alert = "field"  # keys moved unevenly (a corner, a turn): the mean can stay near zero
        elif self.far_rate - self.base_far_rate >= FAR_RATE_ALERT:
            alert = "far_taps"
        elif self.gap_rate - self.base_gap_rate >= GAP_RATE_ALERT:
            alert = "gap_taps"
        elif self.corr_rate - self.base_corr_rate >= CORRECTION_RATE_ALERT:
            alert = "corrections"
        elif self.wrong_rate - self.base_wrong_rate >= WRONG_PIN_RATE_ALERT:
            alert = "wrong_pins"
        if alert:
            return self._set(alert, "ok")
        if self.level == "alert":
            return None
        h = CUSUM_H
        if self.level == "ok" and self.cusum_norm > h:
            return self._set(None, "warn", "shift")
        if self.level == "warn" and self.cusum_norm <= h / 4:
            return self._set(None, "ok", "cleared")
        return None

    def _set(self, alert_reason: str | None, otherwise: str, reason: str = "") -> LevelChange | None:
        if alert_reason:
            new, reason = "alert", alert_reason
        elif self.level == "alert":
            return None  # latched until reset_baseline
        else:
            new = otherwise
        if new == self.level:
            return None
        old, self.level, self.reason = self.level, new, reason
        return LevelChange(old, new, reason)

    def drift_check_result(self, passed: bool) -> LevelChange | None:
        """A technician's drift check measured the panel directly: it outranks the statistics.

        Passed: the evidence so far was noise (or people, not the panel): the
        statistics restart from the kept baseline and the level is ``ok``.
        Failed: the panel is off; ``alert`` until a calibration.
        """
        if not passed:
            return self._set("drift_check", "ok")
        self.cusum = (0.0, 0.0)
        self.offset_mm = (0.0, 0.0)
        self.far_rate, self.gap_rate, self.corr_rate, self.wrong_rate = (
            self.base_far_rate, self.base_gap_rate, self.base_corr_rate, self.base_wrong_rate)
        if self.level == "ok":
            return None
        old, self.level, self.reason = self.level, "ok", "drift_check"
        return LevelChange(old, "ok", "drift_check")

    # -- reporting and persistence ------------------------------------------
    def status(self) -> dict[str, Any]:
        """What the console ``drift`` frame and the metrics carry (aggregates only)."""
        return {
            "level": self.level,
            "reason": self.reason,
            "learning": self.learning,
            "shift_mm": round(self.shift_mm, 2),
            "offset_mm": [round(self.offset_mm[0], 2), round(self.offset_mm[1], 2)],
            "warn_mm": self.warn_mm,
            "alert_mm": round(self.alert_mm, 3),
            "sessions": self.sessions,
            "taps": self.taps,
        }

    def to_json(self) -> str:
        """The whole state as JSON (running statistics only; no sessions, no times)."""
        state = {
            "version": STATE_VERSION,
            "key_pitch_mm": self.key_pitch_mm,
            "level": self.level,
            "reason": self.reason,
            "sessions": self.sessions,
            "taps": self.taps,
            "baseline_acc": self._b,
            "baseline_mm": list(self.baseline_mm) if self.baseline_mm else None,
            "tap_var_mm2": self.tap_var_mm2,
            "person_var_mm2": self.person_var_mm2,
            "base_far_rate": self.base_far_rate,
            "base_gap_rate": self.base_gap_rate,
            "base_corr_rate": self.base_corr_rate,
            "base_wrong_rate": self.base_wrong_rate,
            "cusum": list(self.cusum),
            "offset_mm": list(self.offset_mm),
            "far_rate": self.far_rate,
            "gap_rate": self.gap_rate,
            "corr_rate": self.corr_rate,
            "wrong_rate": self.wrong_rate,
            # named running sums, not sequences: nothing here is a list of sessions or taps
            "field_moments": dict(zip(CENTRED_MOMENTS, self.field_moments)),
            "field_offset_mm": list(self.field_offset_mm),
            "baseline_slopes": dict(zip(SLOPES, self.baseline_slopes)) if self.baseline_slopes is not None else None,
        }
        return json.dumps(state, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes, cfg: DriftConfig,
                  keypad_box_mm: tuple[float, float, float, float] | None = None) -> "DriftEstimator":
        """Restore a saved state; ValueError (one line) when it is not one of ours.

        A version 1 state (before the residual field) loads with an empty field,
        which then learns from the next taps.
        """
        try:
            d = parse_json(text, max_bytes=STATE_MAX_BYTES)
        except StateFileError as exc:
            raise ValueError(f"drift state {exc}") from None
        if not isinstance(d, dict) or d.get("version") not in (1, STATE_VERSION):
            raise ValueError("drift state has an unknown format version")
        try:
            est = cls(cfg, _finite(d["key_pitch_mm"], "key_pitch_mm"), keypad_box_mm)
            if d["level"] not in LEVELS:
                raise ValueError("unknown level")
            if not isinstance(d["reason"], str) or len(d["reason"]) > 200:
                raise ValueError("reason is not a short text")
            est.level, est.reason = d["level"], d["reason"]
            est.sessions, est.taps = _count(d["sessions"], "sessions"), _count(d["taps"], "taps")
            acc = d["baseline_acc"]
            if not isinstance(acc, dict) or set(est._b) - set(acc):
                raise ValueError("baseline accumulators incomplete")
            est._b = {k: (_count(acc[k], k) if isinstance(est._b[k], int) else _finite(acc[k], k)) for k in est._b}
            bm = d["baseline_mm"]
            est.baseline_mm = (_finite(bm[0], "baseline_mm"), _finite(bm[1], "baseline_mm")) if bm is not None else None
            for name in ("tap_var_mm2", "person_var_mm2", "base_far_rate", "base_gap_rate",
                         "base_corr_rate", "base_wrong_rate", "far_rate", "gap_rate",
                         "corr_rate", "wrong_rate"):
                setattr(est, name, _finite(d[name], name))
            if est.baseline_mm is not None:  # the test divides by these
                est.tap_var_mm2 = max(est.tap_var_mm2, TAP_VAR_FLOOR_MM2)
                est.person_var_mm2 = max(est.person_var_mm2, PERSON_VAR_FLOOR_MM2)
            est.cusum = (_finite(d["cusum"][0], "cusum"), _finite(d["cusum"][1], "cusum"))
            est.offset_mm = (_finite(d["offset_mm"][0], "offset_mm"), _finite(d["offset_mm"][1], "offset_mm"))
            if d["version"] >= 2:
                fm = d["field_moments"]
                if not isinstance(fm, dict) or set(fm) != set(CENTRED_MOMENTS):
                    raise ValueError("field_moments are not the field's moments")
                est.field_moments = [_finite(fm[k], "field_moments") for k in CENTRED_MOMENTS]
                fo = d["field_offset_mm"]
                est.field_offset_mm = (_finite(fo[0], "field_offset_mm"), _finite(fo[1], "field_offset_mm"))
                bs = d["baseline_slopes"]
                if bs is not None:
                    if not isinstance(bs, dict) or set(bs) != set(SLOPES):
                        raise ValueError("baseline_slopes are not the four slopes")
                    est.baseline_slopes = tuple(_finite(bs[k], "baseline_slopes") for k in SLOPES)
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"drift state is incomplete: {type(exc).__name__}: {exc}") from None
        return est
