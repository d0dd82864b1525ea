"""``pin-kiosk screens`` and ``pin-kiosk layout``, run in-process through their own parsers.

In-process (not ``python -m kiosk``) so this area's tests do not depend on
every other subcommand module importing cleanly; the CLI frame itself is
covered by tests/ops/test_cli.py.
"""
from __future__ import annotations

import argparse
import json

import pytest

from kiosk.config import ConfigError

from support_screen import PORTRAIT_TOML, dummy_sdl

dummy_sdl()
import pygame  # noqa: E402

from kiosk.cli import UsageError, common_options  # noqa: E402
from kiosk.commands import layout as layout_cmd  # noqa: E402
from kiosk.commands import screens as screens_cmd  # noqa: E402
from kiosk.pin import DIGITS, UPPER  # noqa: E402


def run(module, *argv: str) -> int:
    parser = argparse.ArgumentParser(prog="pin-kiosk", parents=[common_options()])
    module.configure(parser)
    return module.run(parser.parse_args(list(argv)))


@pytest.mark.stack
def test_screens_writes_one_png_per_screen_and_language_at_the_configured_size(tmp_path, capsys):
    assert run(screens_cmd, "--out", str(tmp_path / "ja-en")) == 0
    names = [n for n, _ in screens_cmd.sample_views(800, 480)]
    files = sorted(p.name for p in (tmp_path / "ja-en").iterdir())
    assert files == sorted(f"{lang}-{n}.png" for n in names for lang in ("ja", "en"))
    assert pygame.image.load(str(tmp_path / "ja-en" / "ja-idle.png")).get_size() == (800, 480)
    assert capsys.readouterr().out.count(".png") == len(files)


@pytest.mark.stack
def test_screens_portrait_and_one_language(tmp_path):
    assert run(screens_cmd, "--out", str(tmp_path), "--lang", "en", "--config", str(PORTRAIT_TOML)) == 0
    files = list(tmp_path.iterdir())
    assert files and all(p.name.startswith("en-") for p in files)
    assert pygame.image.load(str(tmp_path / "en-entry_alnum_empty.png")).get_size() == (720, 1280)


@pytest.mark.stack
def test_screens_with_a_missing_font_is_a_one_line_usage_error(tmp_path):
    cfg = tmp_path / "k.toml"
    cfg.write_text(f'[screen]\nfont_path = "{tmp_path}/none.ttc"\n')
    with pytest.raises(UsageError) as exc:
        run(screens_cmd, "--out", str(tmp_path / "o"), "--config", str(cfg))
    assert "screen.font_path" in str(exc.value) and "\n" not in str(exc.value)


def test_layout_json_lists_every_key_in_screen_pixels(capsys):
    assert run(layout_cmd, "--pin-type", "signature", "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["screen"] == {"w": 800, "h": 480}
    ids = {k["id"] for k in doc["keys"]}
    assert ids == set(DIGITS + UPPER) | {"backspace", "clear", "cancel", "enter", "lang"}
    for k in doc["keys"]:
        assert 0 <= k["x"] and k["x"] + k["w"] <= 800 and 0 <= k["y"] and k["y"] + k["h"] <= 480


def test_layout_portrait_and_text_form(capsys):
    assert run(layout_cmd, "--pin-type", "user_auth", "--config", str(PORTRAIT_TOML), "--lang", "en") == 0
    out = capsys.readouterr().out
    assert out.startswith("# user_auth on 720x1280 px") and "enter" in out and "Enter" in out


def test_layout_unknown_pin_type_and_impossible_screen_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="unknown PIN type 'pin'"):
        run(layout_cmd, "--pin-type", "pin", "--json")
    cfg = tmp_path / "small.toml"
    cfg.write_text("[screen]\nwidth_px = 720\nheight_px = 1280\nwidth_mm = 68.0\nheight_mm = 121.0\n")
    # a panel one keypad does not fit is a configuration the kiosk cannot run (issue 21), for every command
    with pytest.raises(ConfigError, match="keypad.alnum_key_mm: no keypad for signature .*does not fit"):
        run(layout_cmd, "--pin-type", "user_auth", "--config", str(cfg))
