"""The README's first command: ``pin-kiosk demo`` plays every scene headless and finds no PIN."""
import os
import subprocess
import sys

import pytest

from support_repo import ROOT  # noqa: E402

pytestmark = pytest.mark.stack


def test_demo_plays_every_scene_and_leaks_nothing(tmp_path):
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "kiosk", "demo", "--out", str(out), "--timeout-s", "5"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    text = r.stdout
    for n in range(1, 9):
        assert f"===== scene {n}:" in text
    # what the clerk reads
    for line in ("result: user authentication certificate PIN verified, 3 tries left",
                 "result: Basic Resident Register PIN wrong PIN, 2 tries left",
                 "LOCKED, 0 tries left",
                 "card removed",
                 "timed out",
                 "result: signature certificate PIN (signature password) changed",
                 "drift check FAILED",
                 "drift check passed",
                 "session ended (logout), cleared"):
        assert line in text, line
    assert "searched for the signature PINs: none found" in text
    assert "Traceback" not in r.stderr
    shots = sorted(p.name for p in out.glob("*.png"))
    for screen in ("idle", "entry", "wrong_pin", "last_try_warning", "locked", "card_removed", "timed_out",
                   "session_ended", "drift_check", "calibration", "calibration_result"):
        assert any(screen in s for s in shots), screen
