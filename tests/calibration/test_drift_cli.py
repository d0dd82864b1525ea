"""``pin-kiosk drift simulate`` and ``pin-kiosk drift status``, through the real command line."""
import json
import random
import subprocess
import sys

import pytest

from calibration.drift import DriftEstimator
from kiosk.drift_state import load_estimator, save_estimator, state_path
from kiosk.config import load_config
from support_drift import learned_estimator, summaries


def pin_kiosk(*args):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True)


SMALL = ("--runs", "6", "--sessions", "2000")


@pytest.mark.stack
def test_simulate_json_is_seeded_and_has_every_figure():
    a = pin_kiosk("drift", "simulate", "--json", "--seed", "7", *SMALL)
    b = pin_kiosk("drift", "simulate", "--json", "--seed", "7", *SMALL)
    assert a.returncode == 0, a.stderr
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    da.pop("elapsed_s"), db.pop("elapsed_s")
    assert da == db  # same seed, same figures
    assert [s["shift_mm"] for s in da["shifts"]] == [1.0, 2.0, 3.0, 5.0]
    for s in da["shifts"]:
        assert s["runs"] == 6 and set(s["warn_taps"]) == {"median", "p90", "max"}
    assert da["false_alarms"]["sessions"] == 2000 and "warns_per_1000" in da["false_alarms"]
    assert set(da["targets"]) == {"warn_2mm_median_taps_le_40", "false_warns_per_1000_lt_1",
                                  "alert_before_half_pitch_always", "wrapped_drift_reaches_alert"}
    assert da["key_pitch_mm"] < 20 and da["model"]["person_sd_mm"] == 0.6
    c = pin_kiosk("drift", "simulate", "--json", "--seed", "8", *SMALL)
    assert json.loads(c.stdout)["shifts"] != da["shifts"]


@pytest.mark.stack
def test_simulate_text_names_delays_false_alarms_and_targets():
    r = pin_kiosk("drift", "simulate", "--seed", "3", "--person-sd-mm", "0.8", *SMALL)
    assert r.returncode == 0, r.stderr
    for words in ("taps to warn", "false warn", "per 1000", "half a key", "target warn_2mm_median_taps_le_40",
                  "offset sd 0.8 mm"):
        assert words in r.stdout, words


@pytest.mark.stack
def test_bad_arguments_are_one_line_exit_2():
    for args in (("--runs", "0"), ("--sessions", "5"), ("--person-sd-mm", "-1")):
        r = pin_kiosk("drift", "simulate", *args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    r = pin_kiosk("drift")
    assert r.returncode == 2 and "simulate or status" in r.stderr


@pytest.mark.stack
def test_status_without_state_says_so(tmp_path):
    r = pin_kiosk("drift", "status", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "no drift state yet" in r.stdout
    r = pin_kiosk("drift", "status", "--json", "--state-dir", str(tmp_path))
    assert json.loads(r.stdout) == {"state_file": str(tmp_path / "drift.json"), "present": False}


@pytest.mark.stack
def test_status_shows_the_saved_state(tmp_path):
    cfg = load_config(None, {"state_dir": str(tmp_path)})
    rng = random.Random(1)
    est = learned_estimator(rng, cfg.drift)
    for s in summaries(rng, 30, shift_mm=(5.0, 0.0)):
        est.add_session(s)
    save_estimator(cfg, est)
    r = pin_kiosk("drift", "status", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "drift level alert" in r.stdout and "because of shift" in r.stdout
    doc = json.loads(pin_kiosk("drift", "status", "--json", "--state-dir", str(tmp_path)).stdout)
    assert doc["level"] == "alert" and doc["present"] and doc["shift_mm"] > 3


@pytest.mark.stack
def test_status_of_a_corrupt_state_is_one_line_exit_1(tmp_path):
    (tmp_path / "drift.json").write_text('{"version": 1, "level": ')
    r = pin_kiosk("drift", "status", "--state-dir", str(tmp_path))
    assert r.returncode == 1 and "unusable" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_load_estimator_survives_missing_corrupt_and_other_keypad(tmp_path):
    cfg = load_config(None, {"state_dir": str(tmp_path)})
    fresh, notice = load_estimator(cfg, 15.0)
    assert fresh.learning and fresh.sessions == 0 and notice is None
    est = learned_estimator(random.Random(2), cfg.drift, pitch_mm=15.0)
    save_estimator(cfg, est)
    assert load_estimator(cfg, 15.0)[0].to_json() == est.to_json()
    assert load_estimator(cfg, 18.0)[0].learning  # keypad changed: baseline not reused
    state_path(cfg).write_bytes(b"\x00\xff garbage")
    reset, notice = load_estimator(cfg, 15.0)
    assert reset.learning and isinstance(reset, DriftEstimator) and notice is None  # a reader moves nothing
    reset, notice = load_estimator(cfg, 15.0, set_aside_corrupt=True)  # the kiosk at start does
    assert reset.learning and notice.file == "drift.json" and notice.kept_as.startswith("drift.json.corrupt-")
    assert not state_path(cfg).exists() and (tmp_path / notice.kept_as).read_bytes() == b"\x00\xff garbage"
