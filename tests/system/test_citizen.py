"""A citizen at the virtual counter: sessions typed through the uinput panel, seen on the staff PC.

One boot for the module.  Keys are pressed where ``pin-kiosk layout`` in the
guest says they are, through the panel's raw coordinates (the kiosk maps them
back through the panel's absinfo), so the kiosk reads them through evdev from
/dev/kiosk-touch.  The card is the virtual card behind QEMU's USB CCID
reader, driven by pcscd + libccid in the guest.  At each screen the capture is
meant to be compared with what ``pin-kiosk screens`` renders: not yet, because after
the first frame the kiosk's later frames do not reach virtio-gpu's scanout (the
capture still shows the idle screen after ``entry.started``; reported to the
display's owner), so these tests check what the staff console and the card saw.
"""
from __future__ import annotations

import pytest

from drivers.card.virtual import VirtualCard
from support_kiosk import PINS, SECRETS, SIG, UA
from support_pty import pin_leaks
from support_scan import pin_in_logs

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
    n = len(counter.staff.frames("session.ended")) + 1
    counter.say("logout")
    counter.wait_frame("session.ended", count=n)


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
    c.type(RIGHT)
    n = len(c.staff.frames("pin.result")) + 1
    c.press("enter")
    r = c.wait_frame("pin.result", count=n)
    assert (r["result"], r["tries_left"]) == ("ok", 3)
    assert c.vscard.verifies() == verifies + 1  # exactly one PIN check reached the card


def test_wrong_pin_then_right(citizen):
    c = citizen
    begin(c)
    c.type("1111")
    n = len(c.staff.frames("pin.result")) + 1
    c.press("enter")
    r = c.wait_frame("pin.result", count=n)
    assert (r["result"], r["tries_left"]) == ("wrong", 2)
    entries = len(c.staff.frames("entry.started"))
    c.press("retry", screen="wrong_pin")
    assert c.wait_frame("entry.started", count=entries + 1)["tries_left"] == 2
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
        entries = len(c.staff.frames("entry.started"))
        c.press("retry", screen="wrong_pin")
        if left == 1:  # one try left: the citizen confirms the warning before the keypad comes back
            c.wait_frame("status", count=len(c.staff.frames("status")) + 1)
            c.press("continue", screen="last_try_warning")
        c.wait_frame("entry.started", count=entries + 1)  # the keypad is back (a counter read first)
    c.type("1111")
    c.press("enter")
    r = c.wait_frame("pin.result", count=n + 3)
    assert (r["result"], r["tries_left"]) == ("locked", 0)
    assert c.card.slots[UA].tries_left == 0


def test_no_pin_in_anything_the_guest_wrote(counter):
    """Last in the module: a signature session, then every byte the guest wrote is scanned.

    The signature PIN (8 letters and digits) cannot occur by chance, so it is searched in the raw
    bytes of both disks after a clean shutdown (the qcow2 layer holds exactly what the guest
    wrote to its root; the state disk is the data partition), in the journal and in the console
    transcript; the 4-digit PIN typed earlier in this module is searched as a token in the
    journal and field by field in the transcript.
    """
    c = counter
    c.vscard.remove()
    c.vscard.card = c.card = VirtualCard.with_pins(PINS)
    c.vscard.insert()
    n = len(c.staff.frames("entry.started")) + 1
    c.say("begin", pin_type=SIG.value, action="verify", operator="clerk01")
    c.wait_frame("entry.started", count=n)
    c.type(PINS[SIG], SIG)
    results = len(c.staff.frames("pin.result")) + 1
    c.press("enter", SIG)
    assert c.wait_frame("pin.result", count=results)["result"] == "ok"
    c.say("logout")
    c.wait_frame("session.ended", count=len(c.staff.frames("session.ended")))
    journal = c.agent.run("journalctl", "-o", "export", "--no-pager", timeout_s=300)[1].encode()
    transcript = bytes(c.staff.console.raw)
    c.machine.shutdown()
    assert c.staff.frames("pin.result") and len(journal) > 10000  # real output was scanned
    for name, blob in (("journal", journal), ("console transcript", transcript)):
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} in the {name}"
    assert not pin_in_logs(RIGHT, journal), "4-digit PIN in the journal"
    assert pin_leaks(transcript) == []
    for disk in (c.machine.root_disk, c.machine.state_disk):
        for secret in SECRETS:
            assert not _file_contains(disk, secret.encode()), f"{secret} on {disk.name}"


def _file_contains(path, needle: bytes, chunk: int = 1 << 22) -> bool:
    tail = b""
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return False
            if needle in tail + block:
                return True
            tail = block[-len(needle):]
