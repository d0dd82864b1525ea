"""The drift estimator's state in the state directory: the one place it is read and written.

The app loads it at start and saves it after every session and calibration;
``pin-kiosk drift status`` reads it.  Writes are atomic
(``kiosk.durable.write_atomic``); an unusable or foreign state (another key
pitch: the keypad changed) starts a new baseline instead of failing.
"""
from __future__ import annotations

import logging
from pathlib import Path

from calibration.drift import DriftEstimator
from kiosk.config import Config
from kiosk.durable import write_atomic

log = logging.getLogger("pin_kiosk.drift")

STATE_FILE = "drift.json"


def state_path(cfg: Config) -> Path:
    return cfg.state_dir / STATE_FILE


def load_estimator(cfg: Config, key_pitch_mm: float) -> DriftEstimator:
    """The saved estimator, or a fresh one (learning a baseline) when there is none or it is unusable.

    A state saved for another key pitch (the keypad changed) is not reused:
    its baseline was learned on other keys.
    """
    path = state_path(cfg)
    try:
        est = DriftEstimator.from_json(path.read_bytes(), cfg.drift)
    except FileNotFoundError:
        return DriftEstimator(cfg.drift, key_pitch_mm)
    except (OSError, ValueError) as exc:
        log.warning("drift state %s unusable (%s): learning a new baseline", path, exc)
        return DriftEstimator(cfg.drift, key_pitch_mm)
    if abs(est.key_pitch_mm - key_pitch_mm) > 1e-6:
        log.warning("drift state was for a %.2f mm key pitch, keypad now %.2f mm: learning a new baseline",
                    est.key_pitch_mm, key_pitch_mm)
        return DriftEstimator(cfg.drift, key_pitch_mm)
    return est


def save_estimator(cfg: Config, est: DriftEstimator) -> None:
    """Replace the saved state, power-cut safe."""
    write_atomic(state_path(cfg), (est.to_json() + "\n").encode())
