"""``mouse``: the desktop stand-in for a touchscreen in demos.

There is no fd: SDL's event queue is the input, polled.  ``wakeup_s`` asks
for a ``read`` every ``POLL_S``; ``read`` first drains the queue (``pump``:
button 1 and motion become ``feed_mouse`` calls, and the window's close button
is SIGINT, as Ctrl-C in the terminal would be), so the app treats it as any
source with a wake-up time and knows nothing of the mouse.
Mouse coordinates are screen pixels, taken as raw units over the ``[touch]``
ranges (the shipped configs make those the screen size, so the identity
calibration maps them one to one).  The filter chain and the tap builder are
the same as for a panel, so the demo behaves like the kiosk.
"""
from __future__ import annotations

import os
import signal
from typing import Callable

from drivers.touch.event_stream import config_axes
from drivers.touch.source import TouchSource
from drivers.touch.taps import Contact
from kiosk.config import TouchConfig


class MouseSource(TouchSource):
    SPEC_FORMS = ("mouse",)
    TAKES_PATH = False

    @classmethod
    def open_spec(cls, rest: str, cfg: TouchConfig, *, fast: bool = False) -> "MouseSource":
        return cls(cfg)

    def __init__(self, cfg: TouchConfig) -> None:
        super().__init__("mouse", cfg, config_axes(cfg))
        self.present, self.absent_reason = True, ""
        self._pending: list[Contact] = []
        self._down = False
        self._next_poll_s = 0.0

    def feed_mouse(self, kind: str, x: float, y: float, t_s: float) -> None:
        """A pygame mouse event: ``down`` (button 1 pressed), ``move`` or ``up``."""
        if kind not in ("down", "move", "up"):
            raise ValueError(f"mouse event kind must be down, move or up, not {kind!r}")
        if kind == "down":
            if self._down:
                return
            self._down = True
        elif not self._down:
            return  # motion without a button, or a release we never saw pressed
        elif kind == "up":
            self._down = False
        self._pending.extend(self.pipeline.frames([(kind, t_s, float(x), float(y), None)]))

    #: How often SDL's queue is polled (it gives no fd to wait on: desktop demos only).
    POLL_S = 0.02

    def wakeup_s(self, now_s: float) -> float | None:
        return self._next_poll_s

    def pump(self, on_quit: Callable[[], None], now_s: float) -> None:
        """Hand pygame's pending button-1 and motion events to ``feed_mouse``; QUIT calls ``on_quit``."""
        import pygame
        if not pygame.display.get_init():
            return  # no window: nothing to read (the tests feed the source directly)
        kinds = {pygame.MOUSEBUTTONDOWN: "down", pygame.MOUSEMOTION: "move", pygame.MOUSEBUTTONUP: "up"}
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT:
                on_quit()
            elif ev.type in kinds and (ev.type == pygame.MOUSEMOTION or ev.button == 1):
                self.feed_mouse(kinds[ev.type], ev.pos[0], ev.pos[1], now_s)

    def read(self, now_s: float) -> list[Contact]:
        self._next_poll_s = now_s + self.POLL_S
        self.pump(lambda: os.kill(os.getpid(), signal.SIGINT), now_s)
        out, self._pending = self._pending, []
        return out

    def reopen(self, now_s: float = 0.0) -> bool:
        return True

    def close(self) -> None:
        if self._down:
            self._pending.extend(self.pipeline.cancel(0.0))
        self._down = False
        super().close()
