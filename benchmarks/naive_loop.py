"""The naive baseline: a plain pygame loop that redraws the whole screen every frame at 60 Hz.

This is the loop most pygame kiosks start as, kept here so the whole-terminal
benchmark (``benchmarks/bench_app.py``) can show the kiosk's figures beside
it.  It uses the same screen size, the same renderer (``kiosk.ui.render``),
the same touch source (``events:`` FIFO, polled once per frame instead of
waited on) and the same calibration, so the only difference measured is the
loop: ``clock.tick(60)`` and a full redraw + ``display.flip()`` every frame,
against the kiosk's ``select`` on file descriptors and dirty rectangles.

Its "application" is the least that shows a dot: the idle screen until the
first touch, then the user-authentication keypad where a digit adds a dot and
backspace removes one (no session, no card, no console).

Frame reports (for the benchmark): when ``--report-fd N`` is given, one line
``ENTERED MONOTONIC_S SCREEN`` is written to that fd after the flip of the
first frame and of every frame whose dot count or screen changed.

    .venv/bin/python benchmarks/naive_loop.py --touch FIFO [--report-fd N] [--config FILE]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Frames per second of the naive loop (the classic ``clock.tick(60)``).
NAIVE_FPS = 60


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--touch", required=True, metavar="FIFO", help="events: FIFO to poll each frame")
    ap.add_argument("--report-fd", type=int, default=None, help="write frame reports to this fd")
    ap.add_argument("--config", default=None, help="TOML configuration (screen size, fonts, touch ranges)")
    args = ap.parse_args(argv)

    from calibration import store
    from drivers.touch import open_touch
    from kiosk.config import load_config
    from kiosk.keypad import build_layout, build_screen_layout
    from kiosk.pin import PIN_RULES, PinType
    from kiosk.ui.display import prepare_sdl_environment
    from kiosk.view import View

    cfg = load_config(args.config, {"video": "dummy", "touch": f"events:{args.touch}"})
    prepare_sdl_environment(cfg.screen.video)
    import pygame

    from kiosk.ui.fonts import Fonts
    from kiosk.ui.render import Renderer

    pygame.display.init()
    surface = pygame.display.set_mode((cfg.screen.width_px, cfg.screen.height_px))
    renderer = Renderer(Fonts(cfg.screen.font_path))
    touch = open_touch(cfg.touch.source, cfg.touch)
    with tempfile.TemporaryDirectory() as empty_state:  # no calibration installed: the default mapping
        affine, _ = store.load_active(empty_state, touch.axes, cfg.screen)
    pin_type = PinType.USER_AUTH
    max_len = PIN_RULES[pin_type].max_len
    idle_layout = build_screen_layout("idle", None, cfg.screen, cfg.keypad, cfg.screen.language)
    entry_layout = build_layout(pin_type, cfg.screen, cfg.keypad, cfg.screen.language)
    # draw the keypad once before the loop, as the kiosk has before its first tap (it draws the
    # keypad at "begin"): the first tap then measures the loop, not the first rasterising of glyphs
    renderer.render(surface, View("entry", lang=cfg.screen.language, pin_type=pin_type, action="verify",
                                  tries_left=PIN_RULES[pin_type].max_tries), entry_layout)
    screen, entered = "idle", 0
    reported: tuple[str, int] | None = None
    clock = pygame.time.Clock()
    running = True
    while running:
        for ev in pygame.event.get():
            if ev.type == pygame.QUIT:
                running = False
        for c in touch.read(time.monotonic()):
            if c.kind == "down" and screen == "idle":
                screen = "entry"
            elif c.kind == "up" and screen == "entry":
                tap = c.tap if c.tap is not None else c
                key = entry_layout.hit(*affine.apply(tap.x_raw, tap.y_raw))
                if key == "backspace":
                    entered = max(0, entered - 1)
                elif key is not None and len(key) == 1:
                    entered = min(max_len, entered + 1)
        if screen == "idle":
            view, layout = View("idle", lang=cfg.screen.language), idle_layout
        else:
            view = View("entry", lang=cfg.screen.language, pin_type=pin_type, action="verify",
                        entered=entered, tries_left=PIN_RULES[pin_type].max_tries)
            layout = entry_layout
        renderer.forget()  # the naive loop draws everything, every frame
        renderer.render(surface, view, layout)
        pygame.display.flip()
        if args.report_fd is not None and reported != (screen, entered):
            os.write(args.report_fd, f"{entered} {time.monotonic():.6f} {screen}\n".encode())
            reported = (screen, entered)
        clock.tick(NAIVE_FPS)
    touch.close()
    pygame.display.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
