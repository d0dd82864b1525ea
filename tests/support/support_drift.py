"""Test support for the drift and technician-procedure tests (no conftest: nobody edits that)."""
from __future__ import annotations

import random

from calibration.drift import FAR_TAP_MM, DriftEstimator, SessionSummary
from calibration.matrix import Affine
from kiosk.config import DriftConfig, load_config

CFG = load_config()  # the shipped demo config: real screen and keypad sizes
DRIFT = CFG.drift
SCREEN = CFG.screen

#: A raw 12-bit panel mounted slightly off: raw units -> screen px (the "truth" a calibration must find).
PANEL = Affine(800 / 4096 * 1.03, 0.004, -14.0, -0.003, 480 / 4096 * 0.97, 11.0)
#: What the uncalibrated map says (each raw axis stretched over the screen).
UNCALIBRATED = Affine.scaled(0, 4095, 0, 4095, 800, 480)


def raw_for_px(x_px: float, y_px: float, panel: Affine = PANEL) -> tuple[float, float]:
    """Where on the raw panel a finger touching screen point (x_px, y_px) is reported."""
    return panel.inverse().apply(x_px, y_px)


def summaries(rng: random.Random, n_sessions: int, offset_mm=(0.4, 1.5), shift_mm=(0.0, 0.0),
              person_sd_mm: float = 0.6, tap_sd_mm: float = 2.0, taps: int = 5) -> list[SessionSummary]:
    """Synthetic session summaries (no keypad): person offset + drift + tap scatter."""
    out = []
    for _ in range(n_sessions):
        px = rng.gauss(offset_mm[0], person_sd_mm) + shift_mm[0]
        py = rng.gauss(offset_mm[1], person_sd_mm) + shift_mm[1]
        xs = [px + rng.gauss(0, tap_sd_mm) for _ in range(taps)]
        ys = [py + rng.gauss(0, tap_sd_mm) for _ in range(taps)]
        mx, my = sum(xs) / taps, sum(ys) / taps
        spread = (sum((x - mx) ** 2 + (y - my) ** 2 for x, y in zip(xs, ys)) / taps) ** 0.5
        far = sum((x * x + y * y) ** 0.5 > FAR_TAP_MM for x, y in zip(xs, ys))
        out.append(SessionSummary(mx, my, taps, spread, far))
    return out


def learned_estimator(rng: random.Random, cfg: DriftConfig = DRIFT, pitch_mm: float = 15.0,
                      **kw) -> DriftEstimator:
    """An estimator whose baseline has been learned from clean synthetic sessions."""
    est = DriftEstimator(cfg, pitch_mm)
    while est.learning:
        for s in summaries(rng, 1, **kw):
            est.add_session(s, wrong_pin=False)
    return est


def recorded_taps(path: str):
    """The finished taps of an evemu recording, through the real touch driver (``drivers.touch``).

    Returns (taps, uncalibrated affine of that device on the demo screen).
    """
    from calibration.store import uncalibrated
    from drivers.touch import open_touch

    src = open_touch(f"evemu:{path}", CFG.touch, fast=True)
    taps, now_s = [], 0.0
    try:
        while not src.finished and now_s < 600:
            taps += [c.tap for c in src.read(now_s) if c.tap is not None]
            now_s += 0.05
    finally:
        src.close()
    return taps, uncalibrated(src.axes, SCREEN)
