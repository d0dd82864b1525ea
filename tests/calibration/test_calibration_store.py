"""Active calibration on disk: atomic install, history, fallback with alerts; the calibrate command."""
import json
import subprocess
import sys

import pytest

from calibration.matrix import Affine, from_libinput, from_pointercal
from calibration.store import ACTIVE, HISTORY, SUBDIR, history, install, load_active, uncalibrated
from drivers.touch import AxisRange, Axes
from kiosk.config import ScreenConfig
from support_calibration import synthetic_calibration

AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
SCREEN = ScreenConfig()  # 800x480
M1 = Affine(0.2, 0.001, 3.0, -0.002, 0.12, -4.0)
M2 = Affine(0.19, 0.0, 5.0, 0.0, 0.118, -2.0)


def test_never_calibrated_runs_uncalibrated_with_an_alert(tmp_path):
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert affine == uncalibrated(AXES, SCREEN) == Affine.scaled(0, 4095, 0, 4095, 800, 480)
    assert (status.source, status.alert) == ("uncalibrated", "calibration_missing")


def test_install_then_load_and_history_keeps_every_install(tmp_path):
    install(tmp_path, M1, {"by": "test", "n": 1}, axes=AXES, screen=SCREEN)
    install(tmp_path, M2, {"by": "test", "n": 2}, axes=AXES, screen=(800, 480))
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert affine == M2 and status.source == "active" and status.alert is None and status.meta["n"] == 2
    assert [h["meta"]["n"] for h in history(tmp_path)] == [1, 2]
    leftovers = [p.name for p in (tmp_path / SUBDIR).iterdir() if p.name not in (ACTIVE, HISTORY)]
    assert leftovers == []  # no temp file left behind by the atomic write


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),   # torn by a power cut
    lambda p: p.write_bytes(b"\x00\x00\x00garbage"),
    lambda p: p.write_text(json.dumps({"version": 1, "affine": [1, 0, 0, 0, 0, 0]})),  # singular
    lambda p: p.write_text('{"version": 1, "affine": [1, 0, 0, 0, 1, NaN]}'),
    lambda p: p.write_text("[]"),
])
def test_damaged_active_file_falls_back_to_the_last_good_history_entry(tmp_path, damage):
    install(tmp_path, M1, {"n": 1}, axes=AXES, screen=SCREEN)
    install(tmp_path, M2, {"n": 2}, axes=AXES, screen=SCREEN)
    damage(tmp_path / SUBDIR / ACTIVE)
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert affine == M2 and status.source == "history" and status.alert == "calibration_corrupt"


def test_torn_history_tail_and_bad_lines_are_skipped(tmp_path):
    install(tmp_path, M1, {"n": 1}, axes=AXES, screen=SCREEN)
    hist = tmp_path / SUBDIR / HISTORY
    with open(hist, "ab") as f:
        f.write(b'not json\n{"version": 1, "affine": [0.3, 0, 0')   # a bad line and a torn record
    (tmp_path / SUBDIR / ACTIVE).unlink()
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert affine == M1 and status.source == "history" and status.alert == "calibration_corrupt"


def test_everything_damaged_runs_uncalibrated_and_says_so(tmp_path):
    install(tmp_path, M1, {}, axes=AXES, screen=SCREEN)
    (tmp_path / SUBDIR / ACTIVE).write_text("{")
    (tmp_path / SUBDIR / HISTORY).write_text("{\n")
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert affine == uncalibrated(AXES, SCREEN)
    assert (status.source, status.alert) == ("uncalibrated", "calibration_corrupt")


def test_a_calibration_for_another_screen_or_device_is_not_used(tmp_path):
    install(tmp_path, M1, {}, axes=AXES, screen=(1024, 600))
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert status.source == "uncalibrated" and status.alert == "calibration_mismatch" and "1024" in status.detail
    other = Axes(AxisRange(0, 9600), AxisRange(0, 7200))
    install(tmp_path, M1, {}, axes=other, screen=SCREEN)
    affine, status = load_active(tmp_path, AXES, SCREEN)
    assert status.alert == "calibration_mismatch" and "raw ranges" in status.detail


def test_install_refuses_a_singular_matrix(tmp_path):
    with pytest.raises(ValueError):
        install(tmp_path, Affine(1, 2, 0, 2, 4, 0), {}, axes=AXES, screen=SCREEN)
    assert not (tmp_path / SUBDIR).exists()


# -- pin-kiosk calibrate --------------------------------------------------------------
def pin_kiosk(*args):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=60)


def taps_file(tmp_path, misclicks=(4,), seed=5):
    true, targets, raws, samples = synthetic_calibration(seed, misclicks)
    doc = {"screen": {"w": 800, "h": 480}, "axes": {"x": [0, 4095], "y": [0, 4095]},
           "points": [{"target": list(t), "raw": [list(s) for s in ss]} for t, ss in zip(targets, samples)]}
    path = tmp_path / "taps.json"
    path.write_text(json.dumps(doc))
    return path, true


@pytest.mark.stack
def test_calibrate_from_taps_prints_all_three_forms_and_installs(tmp_path):
    path, true = taps_file(tmp_path)
    state = tmp_path / "state"
    r = pin_kiosk("calibrate", "--from-taps", str(path), "--state-dir", str(state), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rejected"] == [4] and out["points"][4]["rejected"] and out["points"][4]["residual_mm"] > 5
    assert out["max_mm"] < 0.5 and len(out["points"]) == 9 and out["points"][0]["samples"] == 12
    fitted = Affine(*out["affine"])
    assert abs(fitted.apply(2048, 2048)[0] - true.apply(2048, 2048)[0]) < 1
    # the three forms describe the same map
    assert from_libinput(out["libinput"], 0, 4095, 0, 4095, 800, 480).apply(100, 200) == pytest.approx(fitted.apply(100, 200))
    assert from_pointercal(out["pointercal"], 800, 480).apply(100, 200) == pytest.approx(fitted.apply(100, 200), abs=0.01)
    affine, status = load_active(state, AXES, SCREEN)
    assert status.source == "active" and affine == fitted and status.meta["method"] == "from-taps"
    assert out["installed"].endswith("calibration/active.json")


@pytest.mark.stack
def test_calibrate_from_taps_is_the_kiosks_install_step_record_and_fresh_drift_baseline(tmp_path):
    """Every path that installs a calibration writes the same audit record and resets the drift baseline."""
    from calibration.drift import DriftEstimator
    from kiosk.config import config_from_dict
    from kiosk.drift_state import load_estimator, save_estimator
    from kiosk.terminal import drift_key_pitch_mm, matrix_sha256
    from support_ops import audit_lines

    path, _ = taps_file(tmp_path)
    state = tmp_path / "state"
    cfg = config_from_dict({"state": {"dir": str(state)}})
    drifted = DriftEstimator(cfg.drift, drift_key_pitch_mm(cfg))
    drifted.level = "alert"
    state.mkdir()
    save_estimator(cfg, drifted)
    r = pin_kiosk("calibrate", "--from-taps", str(path), "--state-dir", str(state), "--json")
    assert r.returncode == 0, r.stderr
    fitted = Affine(*json.loads(r.stdout)["affine"])
    records = [json.loads(line) for line in audit_lines(state)]
    (cal,) = [rec for rec in records if rec["kind"] == "calibration"]
    assert cal["outcome"] == "accepted" and cal["technician"].startswith("cli")
    assert cal["points"] == 9 and cal["rejected_taps"] == 1
    assert cal["matrix_after_sha256"] == matrix_sha256(fitted)
    assert cal["matrix_before_sha256"] == matrix_sha256(uncalibrated(AXES, SCREEN))
    (level,) = [rec for rec in records if rec["kind"] == "drift.level"]
    assert (level["level_from"], level["level_to"]) == ("alert", "ok")
    assert load_estimator(cfg, drift_key_pitch_mm(cfg))[0].level == "ok"


@pytest.mark.stack
def test_calibrate_text_output_and_dry_run(tmp_path):
    path, _ = taps_file(tmp_path)
    r = pin_kiosk("calibrate", "--from-taps", str(path), "--state-dir", str(tmp_path / "s"), "--dry-run")
    assert r.returncode == 0, r.stderr
    for word in ("affine:", "LIBINPUT_CALIBRATION_MATRIX", "pointercal:", "REJECTED (misclick)", "rms", "--dry-run"):
        assert word in r.stdout
    assert not (tmp_path / "s").exists()


@pytest.mark.stack
def test_calibrate_imports_tslib_and_libinput(tmp_path):
    pc = tmp_path / "pointercal"
    pc.write_text("65536 0 655360 0 65536 -196608 65536 800 480 0\n")
    r = pin_kiosk("calibrate", "--import-pointercal", str(pc), "--state-dir", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["affine"] == [1, 0, 10, 0, 1, -3]
    r = pin_kiosk("calibrate", "--import-libinput", "1 0 0.01 0 1 -0.005", "--state-dir", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    # the demo config's raw ranges are 0..799 x 0..479 on an 800x480 screen
    assert json.loads(r.stdout)["affine"] == pytest.approx([1, 0, 8, 0, 1, -2.4])
    assert [h["meta"]["method"] for h in history(tmp_path)] == ["import-pointercal", "import-libinput"]


@pytest.mark.stack
def test_imports_that_no_panel_needs_are_refused_in_one_line(tmp_path):
    """Issue 16, fact 9: each of these used to be installed (or crashed with OverflowError)."""
    pc = tmp_path / "pointercal"
    pc.write_text("65536 0 0 0 65536 0 65536 800 480 0\n")
    assert pin_kiosk("calibrate", "--import-pointercal", str(pc), "--state-dir", str(tmp_path)).returncode == 0
    cases = [
        (["--import-pointercal", "tiny"], "1 0 0 0 1 0 65536 800 480 0\n", "would cover"),  # into 0.012 px
        (["--import-pointercal", "huge"], "9" * 400 + " 0 0 0 65536 0 65536 800 480 0\n", "out of range"),
        (["--import-libinput", "1 0 0.1 0 1 0"], None, "key centre would move"),  # about one key
        (["--import-libinput", "-1 0 1 0 1 0"], None, "mirrors"),
        (["--import-libinput", "0.94 -0.34 0.2 0.34 0.94 -0.15"], None, "turns"),
    ]
    for args, text, message in cases:
        if text is not None:
            (tmp_path / args[1]).write_text(text)
            args = [args[0], str(tmp_path / args[1])]
        r = pin_kiosk("calibrate", *args, "--state-dir", str(tmp_path))
        assert r.returncode == 1 and message in r.stderr and r.stderr.count("\n") == 1, (args, r.stderr)
        assert "Traceback" not in r.stderr and "nothing installed" in r.stderr
    assert len(history(tmp_path)) == 1  # nothing of it was installed


@pytest.mark.parametrize("doc,exit_code,message", [
    ("not json", 2, "not valid JSON"),
    ({"points": []}, 2, "screen"),
    ({"screen": {"w": 800, "h": 480}, "points": [{"target": [1, 2], "raw": []}]}, 2, "points[0].raw"),
    ({"screen": {"w": 800, "h": 480}, "points": [{"target": [1], "raw": [[1, 2]]}]}, 2, "points[0].target"),
    ({"screen": {"w": 800, "h": 480}, "points": [{"target": [1, 1], "raw": [[1, 1]]},
                                                  {"target": [2, 2], "raw": [[2, 2]]}]}, 1, "at least 3 points"),
    ({"screen": {"w": 800, "h": 480}, "points": [{"target": [t, t], "raw": [[t, t]]} for t in (1, 2, 3)]},
     1, "on a line"),
])
@pytest.mark.stack
def test_calibrate_bad_input_is_one_line_and_installs_nothing(tmp_path, doc, exit_code, message):
    path = tmp_path / "taps.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    r = pin_kiosk("calibrate", "--from-taps", str(path), "--state-dir", str(tmp_path / "s"))
    assert r.returncode == exit_code and message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()


@pytest.mark.stack
def test_calibrate_without_a_mode_is_a_usage_error(tmp_path):
    r = pin_kiosk("calibrate", "--state-dir", str(tmp_path))
    assert r.returncode == 2 and "--from-taps" in r.stderr
