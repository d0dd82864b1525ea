"""``pin-kiosk screens``: every screen, keypad and state as PNG files, headless.

One PNG per screen state and language, drawn by the real renderer at the
configured resolution with SDL's ``dummy`` driver, so reviewers (and tests)
see exactly what a citizen would see.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from kiosk.cli import UsageError, config_from_args
from kiosk.pin import PinType
from kiosk.view import TargetsView, View

UA, SIG = PinType.USER_AUTH, PinType.SIGNATURE


def _targets_px(w: int, h: int) -> tuple[tuple[int, int], ...]:
    """Nine targets at 10 %, 50 % and 90 % of each axis (as a calibration would use)."""
    return tuple((round(w * fx), round(h * fy)) for fy in (0.1, 0.5, 0.9) for fx in (0.1, 0.5, 0.9))


def sample_views(w_px: int, h_px: int) -> list[tuple[str, View]]:
    """(name, View) for every screen and the entry states worth looking at."""
    pts = _targets_px(w_px, h_px)
    res = (0.4, 0.7, 0.5, 0.9, 0.3, 1.2, 0.6, 3.4, 0.8)
    ua = dict(pin_type=UA, action="verify", max_tries=3)
    sig = dict(pin_type=SIG, action="verify", max_tries=5)
    return [
        ("idle", View("idle")),
        ("card_check", View("card_check", tries_left=None, **ua)),
        ("no_card", View("no_card", **ua)),
        ("entry_digits_empty", View("entry", tries_left=3, **ua)),
        ("entry_digits_2_pressed", View("entry", entered=2, tries_left=3, pressed_key="5", **ua)),
        ("entry_digits_full", View("entry", entered=4, enter_enabled=True, tries_left=3, **ua)),
        ("entry_digits_last_try", View("entry", entered=1, tries_left=1, seconds_left=8, **ua)),
        ("entry_resident_registry", View("entry", pin_type=PinType.RESIDENT_REGISTRY, action="verify",
                                         entered=3, tries_left=2, max_tries=3)),
        ("entry_card_info_input", View("entry", pin_type=PinType.CARD_INFO_INPUT, action="verify",
                                       tries_left=3, max_tries=3)),
        ("entry_alnum_empty", View("entry", tries_left=5, **sig)),
        ("entry_alnum_7_pressed", View("entry", entered=7, enter_enabled=True, tries_left=5,
                                       pressed_key="K", **sig)),
        ("entry_alnum_16", View("entry", entered=16, enter_enabled=True, tries_left=4, **sig)),
        ("entry_alnum_change_problem", View("entry", pin_type=SIG, action="change", step="new", entered=6,
                                            problem="needs_letter_and_digit", tries_left=5, max_tries=5)),
        ("last_try_warning", View("last_try_warning", tries_left=1, **ua)),
        ("verifying", View("verifying", **ua)),
        ("result_ok", View("result_ok", tries_left=3, **ua)),
        ("result_ok_changed", View("result_ok", pin_type=SIG, action="change", tries_left=5, max_tries=5)),
        ("wrong_pin", View("wrong_pin", tries_left=2, **ua)),
        ("locked", View("locked", tries_left=0, **ua)),
        ("timed_out", View("timed_out")),
        ("card_removed", View("card_removed")),
        ("card_removed_verifying", View("card_removed_verifying")),
        ("session_ended", View("session_ended")),
        ("session_ending_countdown", View("wrong_pin", tries_left=2, seconds_left=7, **ua)),
        ("calibration", View("calibration", seconds_left=87, targets=TargetsView(pts, 4, "collect", res[:4]))),
        ("calibration_retry", View("calibration", seconds_left=80, targets=TargetsView(
            pts, 2, "collect", res[:2], message="rejected_retry"))),
        ("drift_check", View("drift_check", targets=TargetsView(pts, 1, "validate", res[:1]))),
        ("calibration_result", View("calibration_result", targets=TargetsView(
            pts, None, "review", res, rms_mm=1.3, max_mm=3.4, passed=False))),
        ("calibration_result_ok", View("calibration_result", targets=TargetsView(
            pts, None, "review", res[:7] + (0.5, 0.8), rms_mm=0.6, max_mm=1.2, passed=True))),
        ("fault", View("fault", fault="no_reader")),
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the PNG files (created)")
    parser.add_argument("--lang", choices=("ja", "en", "all"), default="all", help="which language(s)")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from kiosk.keypad import LayoutError, build_screen_layout
    from kiosk.ui.display import Display, DisplayError
    from kiosk.ui.fonts import FontError

    cfg = config_from_args(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: {exc.strerror}") from None
    screen = dataclasses.replace(cfg.screen, video="dummy", fullscreen=False)
    try:
        display = Display(screen, "mouse")
    except (FontError, DisplayError) as exc:
        raise UsageError(str(exc)) from None
    import pygame

    langs = ("ja", "en") if args.lang == "all" else (args.lang,)
    written = 0
    try:
        for name, view in sample_views(screen.width_px, screen.height_px):
            for lang in langs:
                v = dataclasses.replace(view, lang=lang)
                try:
                    layout = build_screen_layout(v.screen, v.pin_type, screen, cfg.keypad, lang)
                except LayoutError as exc:
                    raise UsageError(f"{cfg.source}: {name}: {exc}") from None
                display.renderer.render(display.surface, v, layout)
                path = out / f"{lang}-{name}.png"
                pygame.image.save(display.surface, str(path))
                print(path)
                written += 1
    finally:
        display.close()
    return 0 if written else 1
