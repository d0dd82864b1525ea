"""Devices that come and go are states, end to end: the kiosk reports them and carries on.

``pin-kiosk run`` over the real stacks: the touch panel's FIFO writer goes
away and comes back (the same code path as an evdev unplug: read error, absent,
reopen), and pcscd stops and starts again under a running kiosk.
"""
from __future__ import annotations

import pytest

from support_kiosk import PIN_ARG, PINS, SECRETS, UA, KioskUnderTest, kiosk_on_stack
from support_pcsc import running_stack
from support_pty import wait_for
from drivers.touch.finger import Finger

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS) as s:
        yield s


@pytest.fixture
def kiosk(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        yield k


def last_status(k: KioskUnderTest) -> dict:
    return [f for f in k.console.received if f["type"] == "status"][-1]


def test_touch_panel_unplugged_and_back(kiosk):
    kiosk.finger.tap(10, 10)  # the panel is there
    kiosk.console.pump(0.5)
    kiosk.finger.lift_off()  # unplugged: the writer closes the FIFO
    alert = kiosk.wait_frame("alert", code="touch_absent")
    assert "touch panel absent" in alert["message"]
    kiosk.say("status_request")
    assert wait_for(lambda: last_status(kiosk)["touch"] is False, 5, step=kiosk.console.pump)
    kiosk.finger = Finger(str(kiosk.fifo))  # plugged back in
    kiosk.finger.connect()
    kiosk.say("begin", pin_type="user_auth", action="verify")
    kiosk.wait_frame("entry.started")
    kiosk.type(PINS[UA])
    kiosk.press("enter")
    assert kiosk.wait_frame("pin.result")["result"] == "ok"
    kiosk.say("status_request")
    assert wait_for(lambda: last_status(kiosk)["touch"] is True, 5, step=kiosk.console.pump)


def test_pcscd_stops_and_returns_under_a_running_kiosk(kiosk, stack):
    kiosk.console.pump(1.0)
    stack.stop_pcscd()
    alert = kiosk.wait_frame("alert", code="pcscd_down")
    assert alert["message"]
    kiosk.say("begin", pin_type="user_auth", action="verify")
    r = kiosk.wait_frame("pin.result")
    assert r["result"] == "error"  # said on screen (fault) and to the console; nothing crashed
    kiosk.say("logout")
    kiosk.wait_frame("session.ended")
    stack.start_pcscd()
    stack.insert_card("--pins", PIN_ARG)
    kiosk.say("status_request")
    assert wait_for(lambda: last_status(kiosk)["reader"] is True and last_status(kiosk)["card"] is True,
                    10, step=kiosk.console.pump)
    kiosk.say("begin", pin_type="user_auth", action="verify")
    kiosk.wait_frame("entry.started")
    kiosk.type(PINS[UA])
    kiosk.press("enter")
    assert kiosk.wait_frame("pin.result", count=2)["result"] == "ok"


def test_touches_off_the_panels_declared_axes_are_one_alert_and_no_key(kiosk):
    kiosk.say("begin", pin_type="user_auth", action="verify")
    kiosk.wait_frame("entry.started")
    kiosk.finger.tap(-500, -500)      # a panel reporting positions outside its absinfo range
    alert = kiosk.wait_frame("alert", code="touch_axis_mismatch")
    assert "outside" in alert["message"]
    kiosk.finger.tap(-600, -600)      # the same fault again: no second alert
    kiosk.type(PINS[UA])              # in-range touches still type
    kiosk.press("enter")
    assert kiosk.wait_frame("pin.result")["result"] == "ok"
    assert len([f for f in kiosk.console.received
                if f["type"] == "alert" and f.get("code") == "touch_axis_mismatch"]) == 1
