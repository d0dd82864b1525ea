"""Open the kiosk screen with the chosen SDL driver, and keep SDL's hands off input and signals.

Why each setting:

* ``screen.video`` (``--video``): ``kms`` on a terminal (Raspberry Pi without X):
  pygame draws on SDL's ``dummy`` surface and ``kiosk.ui.kms`` shows the changed
  rectangles on the panel through a DRM dumb buffer, with no EGL, no GBM, no SDL
  KMSDRM driver (which pip's pygame lacks and Debian's fails with "EGL not
  initialized": see the README).  Any other value is an SDL video driver:
  ``x11``/``wayland`` on a desktop, ``dummy`` headless, ``kmsdrm`` if an SDL has it.
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


#: ``screen.video`` value for the kiosk's own KMS presenter (SDL renders off-screen).
KMS = "kms"


def prepare_sdl_environment(video: str, mouse_input: bool = False) -> None:
    """Set SDL's environment before it initialises (pygame reads it at display.init)."""
    os.environ["SDL_VIDEODRIVER"] = "dummy" if video == KMS else video
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
            flags = pygame.FULLSCREEN if screen.fullscreen and screen.video not in ("dummy", KMS) else 0
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
        self.kms = None
        if screen.video == KMS:
            self._open_kms(want)
        pygame.display.set_caption("pin-kiosk")
        kiosk_mode = screen.fullscreen or not self.mouse_input
        pygame.mouse.set_visible(not kiosk_mode)
        pointer = [getattr(pygame, n) for n in POINTER_EVENT_NAMES if hasattr(pygame, n)]
        if self.mouse_input:
            pygame.event.set_allowed(pointer)
        else:
            pygame.event.set_blocked(pointer)
        self.renderer = Renderer(Fonts(screen.font_path))

    def _open_kms(self, want: tuple[int, int]) -> None:
        from kiosk.ui.kms import XRGB8888_MASKS, KmsError, open_kms_screen
        pg = self._pg
        try:
            self.kms = open_kms_screen(want)
        except KmsError as exc:
            pg.display.quit()
            raise DisplayError(f"cannot open the screen through KMS: {exc}") from None
        # the panel's buffer is XRGB8888; SDL's dummy surface normally is too (no conversion)
        if self.surface.get_bitsize() == 32 and tuple(self.surface.get_masks()) == XRGB8888_MASKS:
            self._kms_source = self.surface
        else:
            self._kms_source = pg.Surface(want, 0, 32, XRGB8888_MASKS)

    def _present(self, rects: list) -> None:
        """Push ``rects`` to the panel: SDL's window, or the KMS dumb buffer."""
        if self.kms is None:
            self._pg.display.update(rects)
            return
        src = self._kms_source
        boxes = [tuple(self._pg.Rect(r)) for r in rects]
        if src is not self.surface:
            for r in boxes:
                src.blit(self.surface, r, r)
        view = src.get_view("1")
        pixels = memoryview(view)
        try:
            self.kms.present(pixels, src.get_pitch(), boxes)
        finally:
            pixels.release()
            del view  # unlocks the surface for the next frame's drawing

    def show(self, view: View, layout: KeyLayout) -> list:
        """Draw ``view`` and push only the changed rectangles to the panel."""
        rects = self.renderer.render(self.surface, view, layout)
        if rects:
            self._present(rects)
        if not self.mouse_input:
            # nobody reads SDL's queue in kiosk mode: empty it so window/keyboard events cannot pile up
            self._pg.event.clear()
        return rects

    def clear(self) -> None:
        """Blank the panel (on exit: nothing of a session may stay visible)."""
        from kiosk.ui.render import PALETTE
        self.surface.fill(PALETTE["cleared"])
        if self.kms is None:
            self._pg.display.flip()
        else:
            self._present([self.surface.get_rect()])
        self.renderer.forget()

    def close(self) -> None:
        if self.kms is not None:
            self.kms.close()
            self.kms = None
        self._pg.display.quit()
