"""The loop and the screen together, as the app wires them: an fd wakes the loop, the screen
redraws only what changed, and SIGTERM clears the screen and wipes the PIN before run() returns."""
from __future__ import annotations

import dataclasses
import os
import signal
import threading

import pytest

from support_screen import KEYPAD, LANDSCAPE, dummy_sdl

dummy_sdl()
import pygame  # noqa: E402

from kiosk.keypad import PressTracker, build_screen_layout  # noqa: E402
from kiosk.loop import EventLoop  # noqa: E402
from kiosk.pin import Pin, PinType  # noqa: E402
from kiosk.ui.display import Display  # noqa: E402
from kiosk.ui.render import PALETTE  # noqa: E402
from kiosk.view import View  # noqa: E402

pytestmark = pytest.mark.stack


def test_touch_fd_drives_dirty_redraws_and_sigterm_clears_and_wipes():
    display = Display(dataclasses.replace(LANDSCAPE, fullscreen=False), "evdev:/dev/kiosk-touch")
    r, w = os.pipe()
    pin = Pin()
    view = View("entry", pin_type=PinType.USER_AUTH, tries_left=3)
    layout = build_screen_layout("entry", PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    tracker = PressTracker.from_config(layout, KEYPAD)
    drawn: list[list] = [display.show(view, layout)]
    cleared = []

    def on_touch(now_s: float) -> None:
        # a stand-in touch driver: each byte is one tap on the key whose index it is
        nonlocal view
        for b in os.read(r, 16):
            key = layout.keys[b]
            x, y = layout.key_centre_px(key.id)
            tracker.down(x, y, now_s)
            view = dataclasses.replace(view, pressed_key=tracker.highlighted)
            drawn.append(display.show(view, build_screen_layout("entry", PinType.USER_AUTH, LANDSCAPE, KEYPAD)))
            committed = tracker.up(x, y, now_s + 0.05)
            if committed and committed.isdigit():
                pin.append(committed)
            view = dataclasses.replace(view, pressed_key=None, entered=len(pin))
            drawn.append(display.show(view, layout))

    def on_signal(signum: int, now_s: float) -> None:
        pin.wipe()
        display.clear()
        cleared.append((signum, tuple(display.surface.get_at((400, 240)))[:3]))

    loop = EventLoop(on_signal=on_signal)
    loop.add_reader(r, on_touch)
    idx = {k.id: i for i, k in enumerate(layout.keys)}
    threading.Timer(0.05, os.write, (w, bytes([idx["1"]]))).start()
    threading.Timer(0.40, os.write, (w, bytes([idx["2"]]))).start()
    threading.Timer(0.70, os.kill, (os.getpid(), signal.SIGTERM)).start()
    try:
        assert loop.run() == signal.SIGTERM
    finally:
        os.close(r)
        os.close(w)
        display.close()
    full = pygame.Rect(0, 0, LANDSCAPE.width_px, LANDSCAPE.height_px)
    assert drawn[0] == [full]
    # every later redraw is a few small rectangles, never the whole screen
    for rects in drawn[1:]:
        assert rects and all(r.w * r.h < full.w * full.h / 4 for r in rects)
    assert cleared == [(signal.SIGTERM, PALETTE["cleared"])] and pin.wiped
    assert loop.wakeups <= 4  # two taps, the signal (and at most one EINTR retry): no polling
