"""The counter's devices come and go under a running kiosk: console adapter, reader, card, panel.

One boot for the module; each test leaves the counter idle with every device
back.  Unplugging is QEMU's ``device_del`` (the guest kernel sees a USB
disconnect), replugging ``device_add`` of the same device; the panel is the
uinput device destroyed and made again.
"""
from __future__ import annotations

import pytest

from drivers.card.virtual import VirtualCard
from support_kiosk import PINS, UA
from vm import screens

RIGHT = PINS[UA]

pytestmark = pytest.mark.system


@pytest.fixture
def idle(counter):
    counter.wait_frame("status", timeout_s=120, count=len(counter.staff.frames("status")) + 1, state="idle")
    yield counter


def begin(c) -> None:
    n = len(c.staff.frames("entry.started")) + 1
    c.say("begin", pin_type=UA.value, action="verify", operator="clerk01")
    c.wait_frame("entry.started", count=n)


def test_console_adapter_unplugged_mid_session_and_back(idle):
    c = idle
    begin(c)
    hellos = len(c.staff.frames("hello"))
    c.machine.device_del("console-adapter")
    c.type(RIGHT)  # the citizen goes on: the result waits in the journal
    c.press("enter")
    c.machine.device_add("usb-serial", bus="xhci.0", chardev="staffpc", id="console-adapter",
                         **{"always-plugged": True})
    c.wait_frame("hello", timeout_s=120, count=hellos + 1)
    r = c.wait_frame("pin.result", timeout_s=120)
    assert r["result"] == "ok"
    c.say("logout")
    c.wait_frame("session.ended", timeout_s=60)
    # nothing lost, nothing doubled: every (boot, seq) the kiosk sent reached the console once
    seqs = [(f.get("boot"), f.get("seq")) for f in c.staff.frames() if f["type"] != "status"]
    assert len(seqs) == len(set(seqs))
    assert [f["type"] for f in c.staff.frames() if f["type"] in ("pin.result", "session.ended")][-2:] == [
        "pin.result", "session.ended"]


def test_card_removed_during_verify_wastes_no_try(idle):
    c = idle
    begin(c)
    verifies = c.vscard.verifies()
    tries = c.card.slots[UA].tries_left
    c.type(RIGHT)
    c.press("enter")
    c.vscard.remove()
    ended = c.wait_frame("session.ended", timeout_s=120)
    assert ended["reason"] == "card_removed"
    assert c.vscard.verifies() <= verifies + 1  # never resent
    c.vscard.card = c.card = VirtualCard.with_pins(PINS)
    c.vscard.insert()
    assert c.card.slots[UA].tries_left == tries


def test_reader_unplugged_during_entry(idle):
    c = idle
    begin(c)
    c.type(RIGHT[:2])
    verifies = c.vscard.verifies()
    c.machine.device_del("reader")
    ended = c.wait_frame("session.ended", timeout_s=120)
    assert ended["reason"] in ("card_removed", "reader_gone", "fault")
    assert c.vscard.verifies() == verifies  # the half-typed PIN never went anywhere
    c.machine.device_add("usb-ccid", bus="xhci.0", id="reader")
    c.machine.device_add("ccid-card-passthru", chardev="vscard", bus="reader.0", id="card")
    c.vscard.insert()
    c.wait_frame("status", timeout_s=120, reader=True, count=1)


def test_touch_panel_removed_and_recreated(idle):
    c = idle
    alerts = len(c.staff.frames("alert"))
    c.panel_destroy()
    alert = c.wait_frame("alert", timeout_s=120, count=alerts + 1)
    assert "touch" in str(alert)
    c.panel_create()
    c.wait_frame("status", timeout_s=120, touch=True, count=1)
    begin(c)
    c.type(RIGHT)
    c.press("enter")
    assert c.wait_frame("pin.result", timeout_s=120)["result"] == "ok"
    c.say("logout")
    screens.wait_screen(c, "idle", timeout_s=120)
