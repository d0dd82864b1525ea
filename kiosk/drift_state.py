"""The drift estimator's state in the state directory: the one place it is read and written.

The app loads it at start and saves it after every session and calibration;
``pin-kiosk drift status`` reads it.  Writes are atomic
(``kiosk.durable.write_atomic``).  A state that does not load
(``DriftEstimator.from_json`` reads it strictly, see ``kiosk.state_files``) is
moved aside and a new baseline is learned from now; a foreign state (another
key pitch: the keypad changed) is valid data of another keypad, and is simply
not reused.
"""
from __future__ import annotations

import logging
from pathlib import Path

from calibration.drift import DriftEstimator
from kiosk.config import Config
from kiosk.durable import write_atomic
from kiosk.state_files import SetAside, set_aside

log = logging.getLogger("pin_kiosk.drift")

STATE_FILE = "drift.json"
#: What the kiosk does instead of a drift state it cannot use.
RESET = "drift baseline learned again from now"


def state_path(cfg: Config) -> Path:
    return cfg.state_dir / STATE_FILE


def load_estimator(cfg: Config, key_pitch_mm: float, *,
                   keypad_box_mm: tuple[float, float, float, float] | None = None,
                   set_aside_corrupt: bool = False) -> tuple[DriftEstimator, SetAside | None]:
    """The saved estimator, or a fresh one (learning a baseline) when there is none or it is unusable.

    A state saved for another key pitch (the keypad changed) is not reused:
    its baseline was learned on other keys.  With ``set_aside_corrupt`` (the
    kiosk at start) an unusable file is moved to ``drift.json.corrupt-<time>``
    and the notice is returned.
    """
    path = state_path(cfg)
    try:
        est = DriftEstimator.from_json(path.read_bytes(), cfg.drift, keypad_box_mm)
    except FileNotFoundError:
        return DriftEstimator(cfg.drift, key_pitch_mm, keypad_box_mm), None
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        if set_aside_corrupt:
            return DriftEstimator(cfg.drift, key_pitch_mm, keypad_box_mm), set_aside(path, cfg.state_dir, why, RESET)
        log.warning("drift state %s unusable (%s): learning a new baseline", path, why)
        return DriftEstimator(cfg.drift, key_pitch_mm, keypad_box_mm), None
    if abs(est.key_pitch_mm - key_pitch_mm) > 1e-6:
        log.warning("drift state was for a %.2f mm key pitch, keypad now %.2f mm: learning a new baseline",
                    est.key_pitch_mm, key_pitch_mm)
        return DriftEstimator(cfg.drift, key_pitch_mm, keypad_box_mm), None
    return est, None


def save_estimator(cfg: Config, est: DriftEstimator) -> None:
    """Replace the saved state, power-cut safe."""
    write_atomic(state_path(cfg), (est.to_json() + "\n").encode())
