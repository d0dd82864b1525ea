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
import subprocess
import sys
import time

import pytest

from support_kiosk import NEW_SIG, PIN_ARG, PINS, SECRETS, SIG, UA, KioskUnderTest, kiosk_on_stack
from support_pcsc import running_stack
from support_pty import TestConsole, open_pty, repoint
from kiosk.pin import PinType

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS) as s:
        yield s


@pytest.fixture
def kiosk(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        yield k


def begin(k: KioskUnderTest, pin_type: PinType = UA, action: str = "verify") -> dict:
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
    # the console keeps the audit chain head: the trail on the kiosk must still contain it
    head = ended["audit_head"]
    r = subprocess.run([sys.executable, "-m", "kiosk", "audit", "verify", "--state-dir", str(kiosk.state_dir),
                        "--head", head], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "kiosk", "audit", "verify", "--state-dir", str(kiosk.state_dir),
                        "--head", "ab" * 32], capture_output=True, text=True)
    assert r.returncode == 1  # a head the trail does not contain: rewritten or cut


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
    import json
    trail = [json.loads(line) for line in (kiosk.state_dir / "audit.jsonl").read_text().splitlines()]
    assert [r["state"] for r in trail if r["kind"] == "console.link"] == ["up", "down", "up"]


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
