"""The technician's calibration and drift check, as pure state machines.

Theory of operation
-------------------
Both procedures are reachable only from the staff console or the command
line; the app creates one, feeds it the technician's taps (raw device units,
already reduced to one robust position per tap by ``drivers.touch.taps``)
and ticks, with the time as an argument, and draws ``view()``.  Nothing here
does I/O or reads a clock; nothing is installed here.  When a calibration is
accepted, ``outcome`` holds the new matrix and its residuals and the app
installs it (``calibration.store.install``), tells the console, writes the
audit record and resets the drift baseline.

``CalibrationProcedure``::

    collect --9 good taps--> (fit) --> validate --4 taps--> review --accept--> accepted
       ^  \\__ fit rejects a point: ask that target again       |
       |                                                        +--retry--> collect (from scratch)
       +-- any state: no input for timeout_s --> timed_out (nothing changed); cancel --> cancelled

* 9 targets, 3x3 at 10 / 50 / 90 % of each axis, corners first so any three
  taken so far already span the screen; one tap each.
* A tap sooner than ``BOUNCE_S`` after the previous one is a double bounce:
  ignored, the same target stays.
* A tap is *implausible* when it lands farther than ``PLAUSIBLE_MM`` from
  where the taps taken so far predict (affine fit through them; before three
  of them, where the previous calibration ``prior`` maps it, within
  ``PRIOR_TOLERANCE_MM``): the xinput_calibrator misclick test, generalised
  from "the corners form a rectangle" to "the taps agree with one affine
  map".  It is rejected and the target asked again.  A second tap that agrees
  with the rejected one (within ``PLAUSIBLE_MM``) is taken anyway: two taps
  in one place outvote a prediction made from possibly bad earlier taps, so a
  badly shifted or mirrored panel can still be calibrated.  The second tap
  must come at least ``CONFIRM_AFTER_S`` after the first: a double tap's
  bounce half a second later is the same slip, not a second opinion.  The final fit's
  own outlier rejection (``[touch] fit_reject_mm``, the same limit as
  ``pin-kiosk calibrate --from-taps``; at most ``MAX_REFIT_ROUNDS``
  rounds) then finds a bad earlier point and its target is asked again.  A tap on the spot of a target already taken
  (``SAME_SPOT_MM``) is refused outright: a finger drumming in one place
  never fills the targets.
* The fit is made from the raw points only (``calibration.matrix.fit_affine``),
  never on top of the old matrix.
* Validation: 4 other targets, tapped once each, mapped through the new fit;
  the residual of each in mm (per-axis px/mm) is what the review shows.
  ``passed`` judges the *fit*, not the technician's hand: four single taps
  mostly measure the finger's own scatter (with σ 1.2 mm their RMS is about
  1.7 mm, so the old "validation RMS ≤ check_rms_mm" refused careful
  technicians forever).  Instead the technician's scatter σ is measured from
  the fit's own residuals (2(n − 3) degrees of freedom), the fit's predicted
  error over the screen follows from its covariance (σ·√(2·mean leverage)),
  and the validation taps must agree with that scatter (an F test at 99 %:
  their mean square, each scaled by 1 + its leverage, against σ²).  Passed
  when the predicted error is within ``check_rms_mm`` and the validation
  agrees; only a passed calibration can be accepted (a failed one can be
  retried or abandoned: the old matrix stays).

``DriftCheck``: 5 targets through the *current* matrix, no change to it;
the error of each in mm, pass/fail against ``check_rms_mm`` / ``check_max_mm``.
A tap farther than ``3 * check_max_mm`` is asked again once, and taken when
the second tap agrees with it (a real drift is measured, a slip is not).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from calibration.matrix import Affine, FitError, fit_affine, residuals_mm
from kiosk.config import DriftConfig, ScreenConfig
from kiosk.view import TargetsView, View

# --- states -----------------------------------------------------------------
COLLECT = "collect"
VALIDATE = "validate"
REVIEW = "review"
ACCEPTED = "accepted"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
#: States after which the procedure does nothing more.
FINAL = (ACCEPTED, CANCELLED, TIMED_OUT)

#: 3x3 calibration targets as fractions of the screen, corners first, then centre, then edges.
CALIBRATION_FRACTIONS = ((0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9), (0.5, 0.5),
                         (0.5, 0.1), (0.9, 0.5), (0.5, 0.9), (0.1, 0.5))
#: Validation targets: none of them a calibration target.
VALIDATION_FRACTIONS = ((0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7))
#: Drift-check targets: centre and the four quadrants.
DRIFT_CHECK_FRACTIONS = ((0.5, 0.5), (0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))

#: A tap this soon after the previous one is a double bounce of the same finger.
BOUNCE_S = 0.3
#: A calibration tap farther than this from where the other taps predict is a misclick.
PLAUSIBLE_MM = 8.0
#: The final fit rejects (and asks again) a point this far from it when no
#: ``[touch] fit_reject_mm`` is given: a misclick that passed the checks above (a
#: corner point 12 mm off pulls an LSQ fit so that its own residual is only about
#: 7 mm, hence tighter than PLAUSIBLE_MM).  The terminal passes the configured value.
FIT_REJECT_MM = 4.0
#: Before three taps exist: farther than this from the target under the previous matrix.
PRIOR_TOLERANCE_MM = 25.0
#: A calibration tap this close to one already taken for another target is refused
#: outright (targets are at least 34 mm apart; the prior's scale is roughly right).
SAME_SPOT_MM = 10.0
#: How many rounds of "the fit rejected a point, ask it again" before the fit is shown as is.
MAX_REFIT_ROUNDS = 2
#: A tap confirms a rejected one only this long after it (a bounce of a double tap came 0.5 s later).
CONFIRM_AFTER_S = 1.0
#: The technician's scatter is taken as at least this (mm): a lucky fit must not make every validation fail.
SCATTER_FLOOR_MM = 0.25
#: 99 % quantiles of F(8, d): the validation's 8 squared coordinates against the fit's d degrees of freedom.
F99_8 = {2: 99.4, 4: 14.8, 6: 8.10, 8: 6.03, 10: 5.06, 12: 4.50, 14: 4.14, 16: 3.89, 18: 3.71, 20: 3.56}

#: ``TargetsView.message`` codes.
MESSAGES = ("bounce", "rejected_retry", "refit_retry", "fit_failed", "not_passed", "timed_out")


def targets_px(screen: ScreenConfig, fractions: tuple[tuple[float, float], ...]) -> tuple[tuple[int, int], ...]:
    """Target centres in whole pixels for this screen."""
    return tuple((round(fx * (screen.width_px - 1)), round(fy * (screen.height_px - 1))) for fx, fy in fractions)


def _inverse_moments(raw: list[tuple[float, float]]) -> tuple[float, ...]:
    """(XᵀX)⁻¹ for the design rows [x, y, 1] of the kept raw points (centred, so well conditioned)."""
    n = len(raw)
    mx = sum(r[0] for r in raw) / n
    my = sum(r[1] for r in raw) / n
    sxx = sum((r[0] - mx) ** 2 for r in raw)
    syy = sum((r[1] - my) ** 2 for r in raw)
    sxy = sum((r[0] - mx) * (r[1] - my) for r in raw)
    det = sxx * syy - sxy * sxy
    return (mx, my, n, syy / det, -sxy / det, sxx / det)


def _leverage(m: tuple[float, ...] | None, x: float, y: float) -> float:
    """h = 1/n + dᵀ S⁻¹ d for the centred point d: how much of the fit's error lands here."""
    if m is None:
        return 0.0
    mx, my, n, ixx, ixy, iyy = m
    dx, dy = x - mx, y - my
    return 1 / n + ixx * dx * dx + 2 * ixy * dx * dy + iyy * dy * dy


def _rms(values: list[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values)) if values else 0.0


class _Procedure:
    """What both procedures share: time-out, bounce, the px/mm scale, the mm distance."""

    state: str
    screen_id: str

    def __init__(self, screen: ScreenConfig, drift: DriftConfig, technician: str, now_s: float) -> None:
        if not technician:
            raise ValueError("a technician id is required")
        self.screen = screen
        self.drift = drift
        self.technician = technician
        self.timeout_s = drift.technician_timeout_s
        self.px_per_mm = (screen.width_px / screen.width_mm, screen.height_px / screen.height_mm)
        self.message: str | None = None
        self._last_input_s = now_s
        self._last_tap_s: float | None = None

    def _mm(self, a_px: tuple[float, float], b_px: tuple[float, float]) -> float:
        return math.hypot((a_px[0] - b_px[0]) / self.px_per_mm[0], (a_px[1] - b_px[1]) / self.px_per_mm[1])

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def seconds_left(self, now_s: float) -> float:
        return max(0.0, self.timeout_s - (now_s - self._last_input_s))

    def wakeup_s(self) -> float | None:
        """When the app must call ``tick`` next (the time-out), or None when finished."""
        return None if self.finished else self._last_input_s + self.timeout_s

    def _dispatch(self, event: str, now_s: float, *args) -> str:
        handler: Callable | None = self.TRANSITIONS.get(self.state, {}).get(event)  # type: ignore[attr-defined]
        if handler is None:
            return self.state
        handler(self, now_s, *args)
        return self.state

    # -- events (each returns the state after it) ------------------------------
    def tap(self, now_s: float, x_raw: float, y_raw: float) -> str:
        """One finished tap of the technician at its robust raw position."""
        if not self.finished and now_s - self._last_input_s >= self.timeout_s:
            return self.tick(now_s)
        if self._last_tap_s is not None and 0 <= now_s - self._last_tap_s < BOUNCE_S:
            self._last_tap_s = now_s
            if not self.finished:
                self._last_input_s = now_s
                self.message = "bounce"
            return self.state
        self._last_tap_s = now_s
        return self._dispatch("tap", now_s, float(x_raw), float(y_raw))

    def tick(self, now_s: float) -> str:
        return self._dispatch("tick", now_s)

    def cancel(self, now_s: float) -> str:
        return self._dispatch("cancel", now_s)

    def _on_tick(self, now_s: float) -> None:
        if now_s - self._last_input_s >= self.timeout_s:
            self.state = TIMED_OUT
            self.message = "timed_out"

    def _on_cancel(self, now_s: float) -> None:
        self.state = CANCELLED


@dataclass(frozen=True)
class CalibrationOutcome:
    """An accepted calibration: what the app installs and reports (``calibration.result``)."""

    affine: Affine
    technician: str
    rms_mm: float  # over the validation targets
    max_mm: float
    validation_residuals_mm: tuple[float, ...]
    fit_residuals_mm: tuple[float, ...]  # the 9 calibration targets against the fit
    validation_offsets_mm: tuple[tuple[float, float], ...]  # per validation target: mapped tap - target (arrows on the map)
    rejected_taps: int  # bounces and misclicks asked again

    def console_fields(self) -> dict:
        return {"technician": self.technician, "rms_mm": round(self.rms_mm, 2),
                "max_mm": round(self.max_mm, 2), "points": len(self.fit_residuals_mm),
                "validation_points": len(self.validation_residuals_mm)}


class CalibrationProcedure(_Procedure):
    """9 targets, fit from raw, 4 validation targets, review; see the module docstring."""

    screen_id = "calibration"

    def __init__(self, screen: ScreenConfig, drift: DriftConfig, technician: str, now_s: float,
                 prior: Affine, fit_reject_mm: float = FIT_REJECT_MM) -> None:
        super().__init__(screen, drift, technician, now_s)
        if not prior.is_usable():
            raise ValueError("prior matrix is not usable")
        self.prior = prior
        self.fit_reject_mm = fit_reject_mm
        self.targets = targets_px(screen, CALIBRATION_FRACTIONS)
        self.validation_targets = targets_px(screen, VALIDATION_FRACTIONS)
        self.outcome: CalibrationOutcome | None = None
        self.rejected_taps = 0
        self._start()

    def _start(self) -> None:
        self.state = COLLECT
        self.raw: list[tuple[float, float] | None] = [None] * len(self.targets)
        self.queue: list[int] = list(range(len(self.targets)))
        self.fit = None
        self.fit_residuals_mm: list[float] = []
        self.validation_raw: list[tuple[float, float]] = []
        self.validation_residuals_mm: list[float] = []
        self.refit_rounds = 0
        self._pending: tuple[float, float] | None = None  # a rejected tap a second tap may confirm
        self._pending_s = 0.0
        self.scatter_mm = 0.0          # the technician's scatter per axis, measured by the fit
        self.predicted_rms_mm = 0.0    # the fit's own predicted error over the screen
        self._leverage = None          # (XᵀX)⁻¹ of the kept raw points, for leverage at any point
        self._dof = 0                  # the fit's residual degrees of freedom

    # -- helpers -----------------------------------------------------------------
    @property
    def current(self) -> int | None:
        if self.state == COLLECT:
            return self.queue[0] if self.queue else None
        if self.state == VALIDATE:
            return len(self.validation_raw)
        return None

    def _predicted_px(self, x: float, y: float) -> tuple[tuple[float, float], float]:
        """Where the taps so far (or the prior) map this raw point, and the tolerance in mm."""
        have = [i for i, r in enumerate(self.raw) if r is not None]
        if len(have) >= 3:
            try:
                f = fit_affine([self.targets[i] for i in have], [self.raw[i] for i in have], max_rejected=0)
                return f.affine.apply(x, y), PLAUSIBLE_MM
            except FitError:
                pass  # collinear so far: fall back to the prior
        return self.prior.apply(x, y), PRIOR_TOLERANCE_MM

    def _on_a_taken_spot(self, x: float, y: float) -> bool:
        """The same spot as a target already taken: a finger resting or drumming, never a new target."""
        here = self.prior.apply(x, y)
        return any(r is not None and self._mm(here, self.prior.apply(*r)) <= SAME_SPOT_MM for r in self.raw)

    def _confirmed_by_pending(self, now_s: float, x: float, y: float) -> bool:
        if self._pending is None or now_s - self._pending_s < CONFIRM_AFTER_S:
            return False
        return self._mm(self.prior.apply(x, y), self.prior.apply(*self._pending)) <= PLAUSIBLE_MM

    def _refuse(self, now_s: float, x: float, y: float) -> None:
        """A tap refused as a misclick: remembered, so a deliberate second tap there can confirm it."""
        if self._pending is None or now_s - self._pending_s >= CONFIRM_AFTER_S:
            self._pending, self._pending_s = (x, y), now_s  # a bounce does not restart the wait
        self.rejected_taps += 1
        self.message = "rejected_retry"

    # -- handlers ----------------------------------------------------------------
    def _on_tap_collect(self, now_s: float, x: float, y: float) -> None:
        self._last_input_s = now_s
        i = self.queue[0]
        if self._on_a_taken_spot(x, y):
            self.rejected_taps += 1
            self.message = "rejected_retry"
            return
        where_px, tolerance_mm = self._predicted_px(x, y)
        if self._mm(where_px, self.targets[i]) > tolerance_mm and not self._confirmed_by_pending(now_s, x, y):
            self._refuse(now_s, x, y)
            return
        self._pending = None
        self.message = None
        self.raw[i] = (x, y)
        self.queue.pop(0)
        if not self.queue:
            self._fit()

    def _fit(self) -> None:
        px_per_mm = (self.px_per_mm[0] + self.px_per_mm[1]) / 2
        try:
            fit = fit_affine(self.targets, self.raw, reject_px=self.fit_reject_mm * px_per_mm)  # type: ignore[arg-type]
        except FitError:
            self._start()
            self.message = "fit_failed"
            return
        if fit.rejected and self.refit_rounds < MAX_REFIT_ROUNDS:
            self.refit_rounds += 1
            for i in sorted(fit.rejected):
                self.raw[i] = None
                self.queue.append(i)
            self.rejected_taps += len(fit.rejected)
            self.message = "refit_retry"
            return
        self.fit = fit.affine
        self.fit_residuals_mm = residuals_mm(fit.affine, self.targets, self.raw, *self.px_per_mm)  # type: ignore[arg-type]
        kept = fit.kept
        dof = 2 * (len(kept) - 3)
        measured = math.sqrt(sum(self.fit_residuals_mm[i] ** 2 for i in kept) / dof) if dof > 0 else 0.0
        self.scatter_mm = max(SCATTER_FLOOR_MM, measured)
        self._dof = dof
        self._leverage = _inverse_moments([self.raw[i] for i in kept])  # type: ignore[misc]
        grid = [self.fit.inverse().apply((gx + 0.5) / 8 * self.screen.width_px, (gy + 0.5) / 5 * self.screen.height_px)
                for gx in range(8) for gy in range(5)]
        mean_h = sum(_leverage(self._leverage, *g) for g in grid) / len(grid)
        self.predicted_rms_mm = self.scatter_mm * math.sqrt(2 * mean_h)
        self.state = VALIDATE

    def _on_tap_validate(self, now_s: float, x: float, y: float) -> None:
        self._last_input_s = now_s
        j = len(self.validation_raw)
        err = self._mm(self.fit.apply(x, y), self.validation_targets[j])  # type: ignore[union-attr]
        if err > PLAUSIBLE_MM and not self._confirmed_by_pending(now_s, x, y):
            self._refuse(now_s, x, y)
            return
        self._pending = None
        self.message = None
        self.validation_raw.append((x, y))
        self.validation_residuals_mm.append(err)
        if len(self.validation_raw) == len(self.validation_targets):
            self.state = REVIEW
            if not self.passed:
                self.message = "not_passed"

    def _on_accept(self, now_s: float) -> None:
        self._last_input_s = now_s
        if not self.passed:
            self.message = "not_passed"
            return
        self.state = ACCEPTED
        self.outcome = CalibrationOutcome(
            self.fit, self.technician, self.rms_mm, self.max_mm,  # type: ignore[arg-type]
            tuple(self.validation_residuals_mm), tuple(self.fit_residuals_mm), self.validation_offsets_mm,
            self.rejected_taps)

    def _on_retry(self, now_s: float) -> None:
        self._last_input_s = now_s
        self._start()

    # -- events the review screen's buttons send -----------------------------------
    def accept(self, now_s: float) -> str:
        return self._dispatch("accept", now_s)

    def retry(self, now_s: float) -> str:
        return self._dispatch("retry", now_s)

    # -- results -------------------------------------------------------------------
    @property
    def rms_mm(self) -> float:
        return _rms(self.validation_residuals_mm)

    @property
    def max_mm(self) -> float:
        return max(self.validation_residuals_mm, default=0.0)

    @property
    def validation_f(self) -> float:
        """The validation's mean square against the measured scatter (≈ 1 when they agree)."""
        terms = [r * r / (1 + _leverage(self._leverage, *raw))
                 for r, raw in zip(self.validation_residuals_mm, self.validation_raw)]
        return sum(terms) / (2 * len(terms)) / self.scatter_mm ** 2 if terms else 0.0

    @property
    def passed(self) -> bool | None:
        if len(self.validation_residuals_mm) < len(self.validation_targets):
            return None
        limit = F99_8.get(self._dof, F99_8[min(F99_8, key=lambda d: abs(d - self._dof))])
        return self.predicted_rms_mm <= self.drift.check_rms_mm and self.validation_f <= limit

    @property
    def validation_offsets_mm(self) -> tuple[tuple[float, float], ...]:
        """Each validation tap through the new fit minus its target, in mm (x right, y down)."""
        out = []
        for (x, y), (tx, ty) in zip(self.validation_raw, self.validation_targets):
            mx, my = self.fit.apply(x, y)  # type: ignore[union-attr]
            out.append(((mx - tx) / self.px_per_mm[0], (my - ty) / self.px_per_mm[1]))
        return tuple(out)

    def view(self, now_s: float, lang: str = "ja") -> View:
        """What the screen shows now (targets, or the residual map at review)."""
        if self.state == VALIDATE:
            tv = TargetsView(self.validation_targets, self.current, "validate",
                             tuple(self.validation_residuals_mm), message=self.message)
            return View("calibration", lang=lang, targets=tv, seconds_left=int(self.seconds_left(now_s)))
        if self.state in (REVIEW, ACCEPTED):
            tv = TargetsView(self.targets + self.validation_targets, None, "review",
                             tuple(self.fit_residuals_mm) + tuple(self.validation_residuals_mm),
                             round(self.rms_mm, 2), round(self.max_mm, 2), self.passed, self.message)
            return View("calibration_result", lang=lang, targets=tv, seconds_left=int(self.seconds_left(now_s)))
        current = self.current if self.state == COLLECT else None
        tv = TargetsView(self.targets, current, "collect", message=self.message)
        return View("calibration", lang=lang, targets=tv, seconds_left=int(self.seconds_left(now_s)))

    TRANSITIONS: dict[str, dict[str, Callable]] = {
        COLLECT: {"tap": _on_tap_collect, "tick": _Procedure._on_tick, "cancel": _Procedure._on_cancel},
        VALIDATE: {"tap": _on_tap_validate, "tick": _Procedure._on_tick, "cancel": _Procedure._on_cancel},
        REVIEW: {"accept": _on_accept, "retry": _on_retry, "tick": _Procedure._on_tick,
                 "cancel": _Procedure._on_cancel},
        ACCEPTED: {},
        CANCELLED: {},
        TIMED_OUT: {},
    }


# --- drift check ----------------------------------------------------------------
MEASURE = "measure"
DONE = "done"


@dataclass(frozen=True)
class DriftCheckOutcome:
    """A finished drift check: what the screen and the console (``drift_check.result``) show."""

    technician: str
    errors_mm: tuple[float, ...]  # per target
    offsets_mm: tuple[tuple[float, float], ...]  # per target: mapped tap minus target (x right, y down)
    rms_mm: float
    max_mm: float
    passed: bool

    def console_fields(self) -> dict:
        return {"technician": self.technician, "rms_mm": round(self.rms_mm, 2), "max_mm": round(self.max_mm, 2),
                "passed": self.passed, "errors_mm": [round(e, 2) for e in self.errors_mm]}


class DriftCheck(_Procedure):
    """5 targets through the current matrix; measures, changes nothing."""

    screen_id = "drift_check"

    def __init__(self, screen: ScreenConfig, drift: DriftConfig, technician: str, now_s: float,
                 current: Affine) -> None:
        super().__init__(screen, drift, technician, now_s)
        if not current.is_usable():
            raise ValueError("current matrix is not usable")
        self.current_affine = current
        self.targets = targets_px(screen, DRIFT_CHECK_FRACTIONS)
        self.state = MEASURE
        self.offsets_mm: list[tuple[float, float]] = []
        self.outcome: DriftCheckOutcome | None = None
        self.rejected_taps = 0
        self._pending: tuple[float, float] | None = None

    @property
    def current(self) -> int | None:
        return len(self.offsets_mm) if self.state == MEASURE else None

    @property
    def errors_mm(self) -> list[float]:
        return [math.hypot(dx, dy) for dx, dy in self.offsets_mm]

    def _on_tap(self, now_s: float, x: float, y: float) -> None:
        self._last_input_s = now_s
        j = len(self.offsets_mm)
        mx, my = self.current_affine.apply(x, y)
        tx, ty = self.targets[j]
        off = ((mx - tx) / self.px_per_mm[0], (my - ty) / self.px_per_mm[1])
        if math.hypot(*off) > 3 * self.drift.check_max_mm:
            pending = self._pending
            agree = pending is not None and math.hypot(off[0] - pending[0], off[1] - pending[1]) <= PLAUSIBLE_MM
            if not agree:
                self._pending = off
                self.rejected_taps += 1
                self.message = "rejected_retry"
                return
        self._pending = None
        self.message = None
        self.offsets_mm.append(off)
        if len(self.offsets_mm) == len(self.targets):
            errors = self.errors_mm
            rms, mx_ = _rms(errors), max(errors)
            passed = rms <= self.drift.check_rms_mm and mx_ <= self.drift.check_max_mm
            self.outcome = DriftCheckOutcome(self.technician, tuple(errors), tuple(self.offsets_mm),
                                             rms, mx_, passed)
            self.state = DONE

    @property
    def finished(self) -> bool:
        return self.state in (DONE, CANCELLED, TIMED_OUT)

    def view(self, now_s: float, lang: str = "ja") -> View:
        errors = tuple(self.errors_mm)
        o = self.outcome
        tv = TargetsView(self.targets, self.current, "review" if o else "collect", errors,
                         round(o.rms_mm, 2) if o else None, round(o.max_mm, 2) if o else None,
                         o.passed if o else None, self.message)
        return View("drift_check", lang=lang, targets=tv, seconds_left=int(self.seconds_left(now_s)))

    TRANSITIONS: dict[str, dict[str, Callable]] = {
        MEASURE: {"tap": _on_tap, "tick": _Procedure._on_tick, "cancel": _Procedure._on_cancel},
        DONE: {},
        CANCELLED: {},
        TIMED_OUT: {},
    }
