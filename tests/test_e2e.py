"""The citizen session end to end, headless, over the real stack.

The kiosk is ``pin-kiosk run`` as a subprocess with ``--video dummy``; the
card is the virtual card in pcscd through vpcd (``pin-kiosk simcard``); the
staff console is the test, over a real pty; the finger writes raw kernel
input events into a FIFO at key centres mapped through the inverse of an
installed, deliberately skewed calibration matrix.  After every scenario
every byte the kiosk wrote (stdout, stderr, the serial transcript, the state
directory) and pcscd's log are scanned for the PINs.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support_pcsc import PcscStack, pin_in_logs  # noqa: E402  (sets PCSCLITE_CSOCK_NAME first)
from support_pty import TestConsole, open_pty, pin_leaks, repoint, wait_for  # noqa: E402

from calibration import store
from calibration.matrix import Affine
from drivers.touch.events import AxisRange, Axes
from drivers.touch.finger import Finger
from kiosk.config import load_config
from kiosk.keypad import build_layout, build_screen_layout
from kiosk.pin import PinType

ROOT = Path(__file__).resolve().parent.parent
UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT
# 4-digit PINs are scanned field by field (pin_leaks); the signature PINs anywhere, byte for byte.
PINS = {UA: "4821", SIG: "K7QX2P9M", RR: "4821", CI: "4821"}
PIN_ARG = ",".join(f"{t}={p}" for t, p in PINS.items())
NEW_SIG = "N3WPIN7Q"
WRONG_SIG = "WR0NGPIN"
SECRETS = ["K7QX2P9M", NEW_SIG, WRONG_SIG]

CONFIG = """
[terminal]
id = "e2e-1"
[screen]
video = "dummy"
fullscreen = false
[touch]
x_min = 0
x_max = 4095
y_min = 0
y_max = 4095
[session]
inactivity_timeout_s = 5.0
ended_screen_s = 1.0
[console]
retransmit_s = 0.3
heartbeat_s = 2.0
reopen_max_s = 0.5
"""
#: The panel's raw range is 0..4095 on both axes; the installed matrix adds skew and an offset,
#: so a finger that ignored calibration would land on the wrong keys.
SKEWED = Affine(800 / 4096 * 0.97, 0.01, 6.0, -0.008, 480 / 4096 * 1.02, -4.0)


@pytest.fixture(scope="module")
def stack():
    s = PcscStack()
    s.start_pcscd()
    try:
        yield s
    finally:
        logs = s.cleanup()
        for secret in SECRETS:
            assert not pin_in_logs(secret, logs), "a PIN reached pcscd's or the card's output"


class Kiosk:
    """``pin-kiosk run`` in a subprocess, its console (the test) and its finger."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.state_dir = tmp / "state"
        self.config = tmp / "kiosk.toml"
        self.config.write_text(CONFIG)
        self.cfg = load_config(self.config)
        axes = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
        store.install(self.state_dir, SKEWED, {"technician": "e2e"}, axes=axes, screen=self.cfg.screen)
        self.fifo = tmp / "touch.fifo"
        os.mkfifo(self.fifo)
        self.port_link = tmp / "kiosk-console"  # the udev symlink
        self.master, slave = open_pty()
        repoint(self.port_link, slave)
        self.console = TestConsole(self.master, retransmit_s=0.3)
        self.stdout = open(tmp / "stdout", "wb")
        self.stderr = open(tmp / "stderr", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "run", "--config", str(self.config), "--touch", f"events:{self.fifo}",
             "--card", "pcsc", "--serial", str(self.port_link), "--state-dir", str(self.state_dir)],
            cwd=ROOT, stdout=self.stdout, stderr=self.stderr, stdin=subprocess.DEVNULL,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
        self.finger = Finger(str(self.fifo))  # blocks until the kiosk opened the FIFO
        self.transcript = bytearray()
        self.wait_frame("hello", 20)
        self.lang = "ja"

    # -- the console ---------------------------------------------------------------
    def frames(self, type_: str) -> list[dict]:
        return [f for f in self.console.received if f["type"] == type_]

    def wait_frame(self, type_: str, timeout_s: float = 10.0, count: int = 1, **match) -> dict:
        def found():
            hits = [f for f in self.frames(type_) if all(f.get(k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None
        ok = wait_for(lambda: found() is not None, timeout_s, step=self.console.pump)
        assert ok, f"no {type_} {match} (#{count}); got {self.console.types()}; stderr: {self.err()[-800:]}"
        return found()

    def say(self, type_: str, **fields) -> None:
        self.console.command(type_, **fields)
        self.console.pump(0.05)

    def err(self) -> str:
        return (self.tmp / "stderr").read_text(errors="replace")

    # -- the finger ----------------------------------------------------------------
    def press(self, key_id: str, screen: str = "entry", pin_type: PinType = UA, pump: bool = True) -> None:
        if screen == "entry":
            layout = build_layout(pin_type, self.cfg.screen, self.cfg.keypad, self.lang)
        else:
            layout = build_screen_layout(screen, pin_type, self.cfg.screen, self.cfg.keypad, self.lang)
        self.finger.tap(*SKEWED.inverse().apply(*layout.key_centre_px(key_id)))
        if pump:
            self.console.pump(0.3)  # a person's pace, past the same-key bounce interval
        else:
            time.sleep(0.3)

    def type(self, text: str, pin_type: PinType = UA) -> None:
        for ch in text:
            self.press(ch, pin_type=pin_type)

    # -- the end -------------------------------------------------------------------
    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.finger.lift_off()
            self.console.pump(0.1)
            os.close(self.console.fd)
            self.stdout.close()
            self.stderr.close()
        return rc

    def everything_written(self) -> dict[str, bytes]:
        blobs = {"stdout": (self.tmp / "stdout").read_bytes(), "stderr": (self.tmp / "stderr").read_bytes(),
                 "serial": bytes(self.console.raw)}
        for path in self.state_dir.rglob("*"):
            if path.is_file():
                blobs[str(path.relative_to(self.tmp))] = path.read_bytes()
        return blobs

    def assert_no_pin_anywhere(self) -> None:
        blobs = self.everything_written()
        assert blobs["stderr"] and blobs["serial"] and any("audit" in k for k in blobs)  # real output scanned
        for name, data in blobs.items():
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret} in {name}"
        assert pin_leaks(blobs["serial"]) == []
        # the 4-digit PIN outside hashes, ids and times: in words of the logs and audit values
        for name, data in blobs.items():
            if name == "serial":
                continue
            text = re.sub(rb"[0-9a-f]{16,}", b"", data)  # hashes and boot ids
            text = re.sub(rb"\d{4}-\d\d-\d\dT[\d:.]+Z?", b"", text)  # timestamps
            assert b"4821" not in text, f"4-digit PIN in {name}"


@pytest.fixture
def kiosk(stack, tmp_path):
    if stack.pcscd is None:
        stack.start_pcscd()
    stack.insert_card("--pins", PIN_ARG)
    k = Kiosk(tmp_path)
    try:
        yield k
    finally:
        rc = k.stop()
        assert rc == 0, k.err()[-2000:]
        assert "Traceback" not in k.err()
        k.assert_no_pin_anywhere()
        stack.remove_card()


def begin(k: Kiosk, pin_type: PinType = UA, action: str = "verify") -> dict:
    count = len(k.frames("entry.started")) + 1
    k.say("begin", pin_type=pin_type.value, action=action, operator="clerk01")
    return k.wait_frame("entry.started", count=count)


def test_right_pin(kiosk):
    started = begin(kiosk)
    assert started["tries_left"] == 3 and started["pin_type"] == "user_auth"
    kiosk.type("4821")
    kiosk.press("enter")
    r = kiosk.wait_frame("pin.result")
    assert (r["result"], r["tries_left"]) == ("ok", 3)
    kiosk.say("logout")
    ended = kiosk.wait_frame("session.ended")
    assert ended["reason"] == "logout" and ended["cleared"] is True
    assert [f["type"] for f in kiosk.console.received if f["type"] != "status"] == [
        "hello", "session.started", "entry.started", "pin.result", "session.ended"]


def test_wrong_pin_then_right_after_an_explicit_tap(kiosk):
    begin(kiosk)
    kiosk.type("1111")
    kiosk.press("enter")
    r = kiosk.wait_frame("pin.result")
    assert (r["result"], r["tries_left"]) == ("wrong", 2)
    kiosk.console.pump(1.0)
    assert len(kiosk.frames("entry.started")) == 1  # nothing happens until the citizen taps
    kiosk.press("retry", screen="wrong_pin")
    assert kiosk.wait_frame("entry.started", count=2)["tries_left"] == 2
    kiosk.type("4821")
    kiosk.press("enter")
    assert kiosk.wait_frame("pin.result", count=2)["result"] == "ok"


def test_last_try_warning_then_locked_then_nothing_is_sent(kiosk, stack):
    stack.insert_card("--pins", PIN_ARG, "--tries", "user_auth=1")
    started = begin(kiosk)
    assert started["tries_left"] == 1
    kiosk.type("1111")  # the warning screen has no keypad: nothing is typed
    kiosk.press("continue", screen="last_try_warning")
    kiosk.type("1111")
    kiosk.press("enter")
    r = kiosk.wait_frame("pin.result")
    assert (r["result"], r["tries_left"]) == ("locked", 0)
    kiosk.say("logout")
    kiosk.wait_frame("session.ended")
    begin_locked = kiosk.frames("entry.started")
    kiosk.say("begin", pin_type="user_auth", action="verify")
    r = kiosk.wait_frame("pin.result", count=2)
    assert r["result"] == "locked" and len(kiosk.frames("entry.started")) == len(begin_locked)


def test_card_pulled_mid_entry(kiosk, stack):
    begin(kiosk)
    kiosk.type("48")
    stack.kill_card()
    r = kiosk.wait_frame("pin.result")
    assert r["result"] == "card_removed"
    assert kiosk.wait_frame("session.ended")["reason"] == "card_removed"


def test_no_card(kiosk, stack):
    stack.remove_card()
    kiosk.say("begin", pin_type="user_auth", action="verify")
    assert kiosk.wait_frame("pin.result")["result"] == "no_card"


def test_timeout_wipes_and_ends(kiosk):
    begin(kiosk)
    kiosk.type("48")
    r = kiosk.wait_frame("pin.result", timeout_s=10)
    assert r["result"] == "timeout"
    assert kiosk.wait_frame("session.ended")["reason"] == "timeout"


def test_console_cut_mid_session_loses_nothing(kiosk):
    begin(kiosk)
    kiosk.type("4821")
    # the staff PC's adapter is pulled: the kiosk's pty vanishes, a new one appears later
    os.close(kiosk.console.fd)
    kiosk.press("enter", pump=False)  # the citizen finishes while the link is down
    time.sleep(0.5)
    master, slave = open_pty()
    repoint(kiosk.port_link, slave)
    old = kiosk.console
    kiosk.console = TestConsole(master, retransmit_s=0.3)
    kiosk.console.raw[:0] = old.raw
    r = kiosk.wait_frame("pin.result", timeout_s=15)
    assert r["result"] == "ok"
    kiosk.console.pump(1.5)
    seen = [(f["boot"], f["seq"]) for f in kiosk.console.received if f["type"] == "pin.result"]
    assert len(seen) == 1  # exactly once


def test_change_signature_pin_then_verify_the_new_one(kiosk):
    begin(kiosk, SIG, "change")
    kiosk.type(PINS[SIG], SIG)
    kiosk.press("enter", pin_type=SIG)
    kiosk.type(NEW_SIG, SIG)
    kiosk.press("enter", pin_type=SIG)
    kiosk.type(NEW_SIG, SIG)
    kiosk.press("enter", pin_type=SIG)
    r = kiosk.wait_frame("pin.result")
    assert (r["result"], r["action"]) == ("ok", "change")
    kiosk.say("logout")
    kiosk.wait_frame("session.ended")
    begin(kiosk, SIG)
    kiosk.type(NEW_SIG, SIG)
    kiosk.press("enter", pin_type=SIG)
    assert kiosk.wait_frame("pin.result", count=2)["result"] == "ok"
