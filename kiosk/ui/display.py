"""Open the kiosk screen with the chosen SDL driver, and keep SDL's hands off input and signals.

Why each setting:

* ``SDL_VIDEODRIVER`` from ``screen.video`` (``--video``): ``kmsdrm`` on a
  Raspberry Pi without X, ``x11``/``wayland`` on a desktop, ``dummy`` headless.
* ``SDL_NO_SIGNAL_HANDLERS=1``: otherwise SDL turns SIGTERM/SIGINT into an
  SDL_QUIT event nobody reads; ``kiosk.loop.EventLoop`` handles them in Python
  so the PIN is wiped and the screen cleared before exit.
* Cursor hidden in kiosk mode (fullscreen, or any touch source but ``mouse``).
* SDL's own mouse and finger events are blocked unless the touch source is
  ``mouse``: the touch driver reads (and grabs) the panel through evdev, and a
  second reader would be a second, uncalibrated truth.  The app does not wake
  on SDL events at all (no fd to select on); in ``mouse`` mode the touch
  source pumps them.
"""
from __future__ import annotations

import os

from kiosk.config import ScreenConfig
from kiosk.keypad import KeyLayout
from kiosk.view import View

#: SDL events that carry pointer input; blocked unless the touch source is ``mouse``.
POINTER_EVENT_NAMES = ("MOUSEMOTION", "MOUSEBUTTONDOWN", "MOUSEBUTTONUP", "MOUSEWHEEL",
                       "FINGERDOWN", "FINGERUP", "FINGERMOTION", "MULTIGESTURE")


class DisplayError(Exception):
    """The screen could not be opened: one line with the driver and SDL's reason."""


def prepare_sdl_environment(video: str, mouse_input: bool = False) -> None:
    """Set SDL's environment before it initialises (pygame reads it at display.init)."""
    os.environ["SDL_VIDEODRIVER"] = video
    os.environ["SDL_NO_SIGNAL_HANDLERS"] = "1"
    if not mouse_input:  # no synthetic mouse events from touches, nor touches from the mouse
        os.environ["SDL_TOUCH_MOUSE_EVENTS"] = "0"
        os.environ["SDL_MOUSE_TOUCH_EVENTS"] = "0"
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # the kiosk makes no sound
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


class Display:
    """The opened screen, its surface and the renderer that draws Views on it."""

    def __init__(self, screen: ScreenConfig, touch_source: str) -> None:
        prepare_sdl_environment(screen.video, touch_source == "mouse")
        import pygame

        from kiosk.ui.fonts import Fonts
        from kiosk.ui.render import Renderer

        self._pg = pygame
        self.screen = screen
        self.mouse_input = touch_source == "mouse"
        want = (screen.width_px, screen.height_px)
        try:
            pygame.display.init()
            # the dummy driver has no panel to fill: "fullscreen" there would mean its 1024x768 desktop
            flags = pygame.FULLSCREEN if screen.fullscreen and screen.video != "dummy" else 0
            self.surface = pygame.display.set_mode(want, flags)
        except pygame.error as exc:
            pygame.display.quit()
            raise DisplayError(f"cannot open the screen with SDL video driver {screen.video!r}: {exc}") from None
        if self.surface.get_size() != want:
            # keys are placed in configured pixels; a different panel would put every touch off its key
            got = self.surface.get_size()
            pygame.display.quit()
            raise DisplayError(f"the screen is {got[0]}x{got[1]} px but screen.width_px/height_px say "
                               f"{want[0]}x{want[1]}; set them (and width_mm/height_mm) to the panel's")
        pygame.display.set_caption("pin-kiosk")
        kiosk_mode = screen.fullscreen or not self.mouse_input
        pygame.mouse.set_visible(not kiosk_mode)
        pointer = [getattr(pygame, n) for n in POINTER_EVENT_NAMES if hasattr(pygame, n)]
        if self.mouse_input:
            pygame.event.set_allowed(pointer)
        else:
            pygame.event.set_blocked(pointer)
        self.renderer = Renderer(Fonts(screen.font_path))

    def show(self, view: View, layout: KeyLayout) -> list:
        """Draw ``view`` and push only the changed rectangles to the panel."""
        rects = self.renderer.render(self.surface, view, layout)
        if rects:
            self._pg.display.update(rects)
        if not self.mouse_input:
            # nobody reads SDL's queue in kiosk mode: empty it so window/keyboard events cannot pile up
            self._pg.event.clear()
        return rects

    def clear(self) -> None:
        """Blank the panel (on exit: nothing of a session may stay visible)."""
        from kiosk.ui.render import PALETTE
        self.surface.fill(PALETTE["cleared"])
        self._pg.display.flip()
        self.renderer.forget()

    def close(self) -> None:
        self._pg.display.quit()
