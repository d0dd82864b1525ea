"""The technician's two minutes, end to end: drift check finds the drift, calibration fixes it.

``pin-kiosk run`` as a subprocess; the panel has drifted 2.5 mm since the
installed calibration (the finger maps screen points through the drifted
panel).  The technician, from the staff console, runs a drift check (fails),
a calibration (9 targets, 4 validation targets, accept) and a drift check
again (passes).  No card reader is running: the kiosk shows that as a state
and the technician's work does not need it.
"""
from __future__ import annotations

import json

import pytest

from support_kiosk import SKEWED, KioskUnderTest
from calibration.matrix import Affine
from calibration.procedure import CALIBRATION_FRACTIONS, DRIFT_CHECK_FRACTIONS, VALIDATION_FRACTIONS, targets_px
from kiosk.keypad import build_screen_layout

pytestmark = pytest.mark.stack


SHIFT_MM = 2.5


@pytest.fixture
def kiosk(tmp_path):
    k = KioskUnderTest(tmp_path)
    try:
        yield k
    finally:
        k.finish()


def drifted(k: KioskUnderTest) -> Affine:
    """The panel now reports touches as if SHIFT_MM right and down of where the finger is."""
    ppx = k.cfg.screen.width_px / k.cfg.screen.width_mm
    ppy = k.cfg.screen.height_px / k.cfg.screen.height_mm
    a, b, c, d, e, f = SKEWED.as_tuple()
    return Affine(a, b, c - SHIFT_MM * ppx, d, e, f - SHIFT_MM * ppy)


def tap_targets(k: KioskUnderTest, fractions) -> None:
    for x, y in targets_px(k.cfg.screen, fractions):
        k.touch_px(x, y)
        k.console.pump(0.15)  # past the procedure's double-bounce interval


def drift_check(k: KioskUnderTest, n: int) -> dict:
    k.say("drift_check", technician="tech01")
    k.console.pump(0.5)
    tap_targets(k, DRIFT_CHECK_FRACTIONS)
    return k.wait_frame("calibration.result", kind="drift_check", count=n)


def test_drift_check_fails_then_calibration_then_passes(kiosk):
    kiosk.panel = drifted(kiosk)
    first = drift_check(kiosk, 1)
    assert first["ok"] is False and first["rms_mm"] > 2.0 and first["technician"] == "tech01"

    kiosk.say("calibrate", technician="tech01")
    kiosk.console.pump(0.5)
    tap_targets(kiosk, CALIBRATION_FRACTIONS)
    tap_targets(kiosk, VALIDATION_FRACTIONS)
    layout = build_screen_layout("calibration_result", None, kiosk.cfg.screen, kiosk.cfg.keypad, "ja")
    kiosk.touch_px(*layout.key_centre_px("accept"))
    result = kiosk.wait_frame("calibration.result", kind="calibrate")
    assert result["ok"] is True and result["rms_mm"] < 0.5 and result["points"] == 9

    second = drift_check(kiosk, 2)
    assert second["ok"] is True and second["rms_mm"] < 0.5

    # installed atomically with history, and in the audit trail with the technician
    active = json.loads((kiosk.state_dir / "calibration" / "active.json").read_text())
    assert active["meta"]["technician"] == "tech01"
    audit = [json.loads(line) for line in (kiosk.state_dir / "audit.jsonl").read_text().splitlines()]
    kinds = [r["kind"] for r in audit]
    assert kinds.count("drift.check") == 2 and "calibration" in kinds
    cal = next(r for r in audit if r["kind"] == "calibration")
    assert cal["technician"] == "tech01" and cal["outcome"] == "accepted"
    assert cal["matrix_before_sha256"] != cal["matrix_after_sha256"]


def test_calibration_walked_away_from_changes_nothing(kiosk):
    before = (kiosk.state_dir / "calibration" / "active.json").read_bytes()
    kiosk.say("calibrate", technician="tech02")
    kiosk.console.pump(0.5)
    kiosk.touch_px(*targets_px(kiosk.cfg.screen, CALIBRATION_FRACTIONS)[0])
    kiosk.say("cancel")
    r = kiosk.wait_frame("calibration.result", kind="calibrate")
    assert r["ok"] is False
    assert (kiosk.state_dir / "calibration" / "active.json").read_bytes() == before


def test_technician_modes_are_refused_during_a_citizen_session(kiosk):
    kiosk.say("begin", pin_type="user_auth", action="verify")
    kiosk.wait_frame("pin.result")  # no pcscd here: the kiosk says so, as a result
    kiosk.say("calibrate", technician="tech01")
    alert = kiosk.wait_frame("alert", code="busy")
    assert "refused" in alert["message"]


def test_standalone_calibrate_on_the_terminal(tmp_path):
    """``pin-kiosk calibrate --technician`` without the service: the procedure, then exit 0."""
    import os
    import subprocess
    import sys

    from support_kiosk import CONFIG, ROOT
    from drivers.touch.finger import Finger
    from kiosk.config import load_config

    config = tmp_path / "kiosk.toml"
    config.write_text(CONFIG.format(key_file=tmp_path / "no-console.key"))
    cfg = load_config(config)
    fifo = tmp_path / "touch.fifo"
    os.mkfifo(fifo)
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk", "calibrate", "--technician", "tech07", "--config", str(config),
         "--touch", f"events:{fifo}", "--serial", "loop://", "--card", "sim", "--state-dir", str(state)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    finger = Finger(str(fifo))
    import time
    # no calibration installed: the kiosk maps raw 0..4095 over the screen; the panel really is SKEWED
    for x, y in [*targets_px(cfg.screen, CALIBRATION_FRACTIONS), *targets_px(cfg.screen, VALIDATION_FRACTIONS)]:
        finger.tap(*SKEWED.inverse().apply(x, y))
        time.sleep(0.35)
    layout = build_screen_layout("calibration_result", None, cfg.screen, cfg.keypad, "ja")
    # the review screen is hit-tested through the old (uncalibrated) map
    sx, sy = (4096 / cfg.screen.width_px, 4096 / cfg.screen.height_px)
    ax, ay = layout.key_centre_px("accept")
    finger.tap(ax * sx, ay * sy)
    try:
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
        raise AssertionError(err.decode()[-3000:])
    finally:
        finger.lift_off()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-1500:]
    active = json.loads((state / "calibration" / "active.json").read_text())
    assert active["meta"]["technician"] == "tech07"
    installed = Affine(*active["affine"])  # recovered the panel's true map from raw taps
    for x, y in targets_px(cfg.screen, VALIDATION_FRACTIONS):
        got = installed.apply(*SKEWED.inverse().apply(x, y))
        assert abs(got[0] - x) < 1.0 and abs(got[1] - y) < 1.0
