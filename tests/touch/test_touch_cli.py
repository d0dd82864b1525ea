"""``pin-kiosk touch taps``: the technician's replay tool, end to end."""
import json
import os
import subprocess
import sys
import threading

import pytest

from calibration.matrix import Affine
from calibration.store import install
from drivers.touch import AxisRange, Axes, codes
from drivers.touch.events import encode_events, load_evemu
from kiosk.config import ScreenConfig

from support_touch import EXPECTED_TAPS, FIXTURES, Events

pytestmark = pytest.mark.stack

FAST_TAPS = FIXTURES / "Atmel maXTouch Touchscreen.1-finger-fast-taps.events"


def pin_kiosk(*args):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, timeout=60)


def test_taps_of_a_recording_as_json_lines_with_the_installed_calibration(tmp_path):
    # the Atmel panel is 0..799 x 0..479: calibrate it as shifted by +10 px right
    install(tmp_path, Affine(1, 0, 10, 0, 1, 0), {}, axes=Axes(AxisRange(0, 799), AxisRange(0, 479)),
            screen=ScreenConfig())
    r = pin_kiosk("touch", "taps", str(FAST_TAPS), "--fast", "--json", "--state-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    lines = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(lines) == 9 and all(ln["kind"] == "tap" for ln in lines)
    assert lines[0]["raw"] == [340, 242] and lines[0]["px"] == [350, 242] and lines[0]["samples"] == 1
    assert abs(lines[0]["duration_s"] - 0.095572) < 1e-5
    assert "calibration: active" in r.stderr and "9 taps" in r.stderr


def test_taps_text_output_warns_when_uncalibrated(tmp_path):
    r = pin_kiosk("touch", "taps", f"evemu:{FIXTURES / 'QUANTA OpticalTouchScreen.events'}", "--fast",
                  "--state-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert len([ln for ln in r.stdout.splitlines() if ln.startswith("tap ")]) == EXPECTED_TAPS[
        "QUANTA OpticalTouchScreen.events"]
    assert "calibration_missing" in r.stderr and "raw axes: x 0..1920, y 0..1080, multitouch" in r.stderr


def test_taps_of_a_raw_capture_fed_through_a_fifo(tmp_path):
    fifo = tmp_path / "touch.fifo"
    os.mkfifo(fifo)
    e = Events(5.0)
    for i in range(3):
        t = 5.0 + i * 0.3
        e.at(t).slot(0, i + 1, 100 + i, 200).key(codes.BTN_TOUCH, 1).syn()
        e.at(t + 0.05).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    e.at(6.0).slot(0, 9, 50, 50).key(codes.BTN_TOUCH, 1).syn()     # the writer stops mid-touch
    data = encode_events(e.events)

    def writer():
        with open(fifo, "wb") as f:  # blocks until the tool opens its end
            f.write(data)

    th = threading.Thread(target=writer)
    th.start()
    r = pin_kiosk("touch", "taps", f"events:{fifo}", "--json", "--state-dir", str(tmp_path))
    th.join(10)
    assert r.returncode == 0, r.stderr
    kinds = [json.loads(ln)["kind"] for ln in r.stdout.splitlines()]
    assert kinds == ["tap", "tap", "tap", "cancel"]


def test_taps_errors_are_one_line_exit_2(tmp_path):
    for args, msg in [(("touch", "taps", str(tmp_path / "nope")), "No such file"),
                      (("touch", "taps", "evdev:"), "expected evdev:PATH"),
                      (("touch", "taps", "mouse"), "no recording"),
                      (("touch",), "touch taps SOURCE")]:
        r = pin_kiosk(*args, "--state-dir", str(tmp_path))
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
