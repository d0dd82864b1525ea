"""The clerk's window under Xvfb against a real kiosk: clicks start a session and log out; screenshots.

The window writes where its buttons are and what its big labels say (``--layout-file``); xdotool
clicks those points like a mouse; what went over the line is read from the null modem's transcript.
Screenshots of the idle, entry, alert and link-down states go to ``$CONSOLE_SHOTS_DIR`` (the ones in
docs/ were made so and looked at) or the test's directory.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kiosk import frames
from support_clerk import Xvfb
from support_kiosk import KioskUnderTest
from support_pty import NullModem, stop_process, wait_for
from support_repo import ROOT

pytestmark = pytest.mark.stack


def sent(modem, type_):
    """Frames of ``type_`` that crossed the null modem, either way."""
    out = []
    for line in bytes(modem.transcript).split(b"\n"):
        try:
            f = frames.decode_line(line)
        except Exception:  # noqa: BLE001 - partial lines and acks of other shapes
            continue
        if f and f.get("type") == type_:
            out.append(f)
    return out


def test_a_clerk_runs_a_session_from_the_window(tmp_path):
    shots = Path(os.environ.get("CONSOLE_SHOTS_DIR") or tmp_path)
    modem = NullModem(tmp_path)
    kiosk = KioskUnderTest(tmp_path, card="sim", modem=modem, calibrated=False)
    x = Xvfb()
    layout = tmp_path / "layout.json"
    window = subprocess.Popen([sys.executable, "-m", "kiosk", "console", "--gui", "--port", str(modem.console_path),
                               "--config", str(kiosk.config), "--layout-file", str(layout)],
                              env=x.env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def shown():
        try:
            return json.loads(layout.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def until(predicate, timeout_s=15.0):
        assert wait_for(lambda: shown() is not None and predicate(shown()), timeout_s), shown()
        return shown()

    def showing(key, text, timeout_s=15.0):
        return until(lambda s: text in s["shown"].get(key, ""), timeout_s)

    try:
        # the kiosk was never calibrated: a red banner until the clerk acknowledges it
        s = until(lambda s: "タッチパネルが校正されていません" in s["shown"]["banner"] and "ack" in s["buttons"])
        assert "回線: 接続中" in s["shown"]["link"] and "端末の起動" in s["shown"]["boot"]
        assert s["shown"]["state"] == "待機中"
        time.sleep(0.3)
        x.screenshot(shots / "console-alert.png")
        x.click(*s["buttons"]["ack"])
        s = until(lambda s: s["shown"]["banner"] == "" and "ack" not in s["buttons"])
        time.sleep(0.3)
        x.screenshot(shots / "console-idle.png")

        # 利用者 照合: the kiosk starts the entry
        x.click(*s["buttons"]["user_auth.verify"])
        s = showing("state", "暗証番号の入力中")
        assert "利用者証明用電子証明書の暗証番号" in s["shown"]["detail"] and "残り3回" in s["shown"]["detail"]
        assert [f["pin_type"] for f in sent(modem, "begin")] == ["user_auth"]
        assert sent(modem, "session.started")
        time.sleep(0.3)
        x.screenshot(shots / "console-entry.png")

        x.click(*s["buttons"]["logout"])
        assert wait_for(lambda: sent(modem, "session.ended"), 10)
        assert sent(modem, "session.ended")[0]["reason"] == "logout"
        assert [f["type"] for f in sent(modem, "logout")] == ["logout"]

        # the kiosk goes away: the window says so in red
        kiosk.finish()
        kiosk.assert_no_pin_anywhere()
        showing("link", "応答なし", timeout_s=20)
        s = showing("state", "端末と通信できません")
        time.sleep(0.3)
        x.screenshot(shots / "console-link-down.png")
    finally:
        out, err = stop_process(window)
        x.close()
        if kiosk.proc.poll() is None:
            kiosk.stop()
        modem.close()
    assert "Traceback" not in err, err
    for name in ("alert", "idle", "entry", "link-down"):
        assert (shots / f"console-{name}.png").stat().st_size > 10_000
