"""A citizen at the virtual counter: sessions typed through the uinput panel, seen on the staff PC.

One boot for the module.  Keys are pressed where ``pin-kiosk layout`` in the
guest says they are, through the panel's raw coordinates (the kiosk maps them
back through the panel's absinfo), so the kiosk reads them through evdev from
/dev/kiosk-touch.  The card is the virtual card behind QEMU's USB CCID
reader, driven by pcscd + libccid in the guest.  At each screen the capture is
compared with what ``pin-kiosk screens`` renders.
"""
from __future__ import annotations

import pytest

from drivers.card.virtual import VirtualCard
from support_kiosk import PINS, UA
from vm import screens

RIGHT = PINS[UA]

pytestmark = pytest.mark.system


@pytest.fixture
def citizen(counter):
    """A fresh card in the reader (full counters), the counter idle; idle again afterwards."""
    counter.vscard.remove()
    counter.vscard.card = counter.card = VirtualCard.with_pins(PINS)
    counter.vscard.insert()
    counter.wait_frame("status", timeout_s=60, count=len(counter.staff.frames("status")) + 1)
    yield counter
    counter.say("logout")
    screens.wait_screen(counter, "idle", timeout_s=120)


def begin(c) -> dict:
    n = len(c.staff.frames("entry.started")) + 1
    c.say("begin", pin_type=UA.value, action="verify", operator="clerk01")
    return c.wait_frame("entry.started", count=n)


def result(c) -> dict:
    return c.wait_frame("pin.result", count=len(c.staff.frames("pin.result")) + 1)


def test_right_pin(citizen):
    c = citizen
    verifies = c.vscard.verifies()
    started = begin(c)
    assert started["tries_left"] == 3
    screens.wait_screen(c, "entry_digits_empty")
    c.type(RIGHT)
    screens.wait_screen(c, "entry_digits_full")
    n = len(c.staff.frames("pin.result")) + 1
    c.press("enter")
    r = c.wait_frame("pin.result", count=n)
    assert (r["result"], r["tries_left"]) == ("ok", 3)
    screens.wait_screen(c, "result_ok")
    assert c.vscard.verifies() == verifies + 1  # exactly one PIN check reached the card


def test_wrong_pin_then_right(citizen):
    c = citizen
    begin(c)
    c.type("1111")
    n = len(c.staff.frames("pin.result")) + 1
    c.press("enter")
    r = c.wait_frame("pin.result", count=n)
    assert (r["result"], r["tries_left"]) == ("wrong", 2)
    c.press("retry", screen="wrong_pin")
    assert c.wait_frame("entry.started", count=len(c.staff.frames("entry.started")) + 0)["tries_left"] == 2
    c.type(RIGHT)
    c.press("enter")
    assert c.wait_frame("pin.result", count=n + 1)["result"] == "ok"


def test_last_try_and_lock(citizen):
    c = citizen
    begin(c)
    n = len(c.staff.frames("pin.result"))
    for attempt, left in ((1, 2), (2, 1)):
        c.type("1111")
        c.press("enter")
        r = c.wait_frame("pin.result", count=n + attempt)
        assert (r["result"], r["tries_left"]) == ("wrong", left)
        c.press("retry", screen="wrong_pin")
    c.type("1111")
    c.press("enter")
    r = c.wait_frame("pin.result", count=n + 3)
    assert (r["result"], r["tries_left"]) == ("locked", 0)
    screens.wait_screen(c, "locked")
    assert c.card.slots[UA].tries_left == 0
