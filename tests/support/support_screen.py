"""Test support for the kiosk screen: the screens the product must work on, and pygame set-up."""
from __future__ import annotations

import os
from pathlib import Path

from kiosk.config import Config, KeypadConfig, ScreenConfig, config_from_dict, load_config

PORTRAIT_TOML = Path(__file__).with_name("support_screen_portrait.toml")

#: The official Raspberry Pi 7" display (800x480, 154.2x85.9 mm): the shipped default.
LANDSCAPE = ScreenConfig(video="dummy", fullscreen=False)
#: A 7" 720x1280 portrait panel (87x155 mm), from tests/support/support_screen_portrait.toml.
PORTRAIT = load_config(PORTRAIT_TOML).screen
#: A 5.5" 720x1280 portrait panel (68x121 mm): digits fit, the 41-key alnum keypad cannot at 12 mm.
SMALL_PORTRAIT = ScreenConfig(width_px=720, height_px=1280, width_mm=68.0, height_mm=121.0,
                              video="dummy", fullscreen=False)
SCREENS = {"landscape": LANDSCAPE, "portrait": PORTRAIT}
KEYPAD = KeypadConfig()


def dummy_sdl() -> None:
    """Headless SDL for tests: no window, no sound, no signal handlers of SDL's own."""
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ["SDL_AUDIODRIVER"] = "dummy"
    os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"


def config_for(screen: ScreenConfig, **keypad: object) -> Config:
    """A whole Config with this screen and keypad settings."""
    import dataclasses
    return config_from_dict({"screen": dataclasses.asdict(screen), "keypad": keypad})
