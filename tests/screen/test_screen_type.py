"""What a citizen reads, measured on the pixels of every screen, both languages, both panels.

Ink heights are measured on the drawn Surface (tests/support_ink.py), inside
the rectangles the renderer says it drew each line in.  Where a panel has no
room for the required size the renderer says so (``Renderer.undersized``);
the only such screens are listed in ``NO_ROOM`` with the arithmetic, and this
test fails if any other screen shrinks its words.
"""
from __future__ import annotations

import dataclasses

import pytest

from support_ink import ink_height_px, ink_heights_mm
from support_screen import KEYPAD, LANDSCAPE, PORTRAIT, dummy_sdl

dummy_sdl()
import pygame  # noqa: E402

from kiosk.commands.screens import sample_views  # noqa: E402
from kiosk.keypad import build_layout, build_screen_layout  # noqa: E402
from kiosk.pin import PinType  # noqa: E402
from kiosk.ui.fonts import Fonts, wrap  # noqa: E402
from kiosk.ui.render import NON_TEXT_PAIRS, PALETTE, Renderer, contrast_ratio  # noqa: E402
from kiosk.ui.strings import EN, JA, text  # noqa: E402
from kiosk.view import View  # noqa: E402

#: Measured ink may lose a pixel row to antialiasing at either edge.
TOLERANCE_MM = 0.25
TECHNICIAN = ("calibration", "drift_check", "calibration_result")
#: Screens that cannot hold every word at full size.  The letters keypad is 36 characters and
#: four controls in rows of 12 mm keys with 2.5 mm gaps: 4 rows (61.5 mm with the bezel margin)
#: on the 85.9 mm landscape panel, 8 rows (117.5 mm) on the 155 mm portrait one, leaving 24 and
#: 35 mm for the PIN's name, a 56-character legend, the field and the status: at 5 mm ink
#: (7 mm a line) that is five to seven lines, 35-50 mm.  A key of 12 mm cannot hold 「クリア」
#: or "Cancel" at 4 mm ink on one line either.  The digits entry with a countdown carries
#: three status lines in the box sized for two.
NO_ROOM = ("entry_alnum_", "entry_digits_last_try")


@pytest.fixture(scope="module")
def fonts():
    pygame.font.init()
    return Fonts(LANDSCAPE.font_path)


def rendered(fonts, screen, view):
    layout = build_screen_layout(view.screen, view.pin_type, screen, KEYPAD, view.lang)
    surf = pygame.Surface((screen.width_px, screen.height_px))
    r = Renderer(fonts)
    r.render(surf, view, layout)
    return r, surf, layout


def every_screen(screen):
    for name, view in sample_views(screen.width_px, screen.height_px):
        for lang in ("ja", "en"):
            yield name, dataclasses.replace(view, lang=lang)


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
def test_titles_legends_problems_and_bodies_are_at_least_5_mm_and_key_labels_4_mm(fonts, screen):
    checked = 0
    for name, view in every_screen(screen):
        if view.screen in TECHNICIAN or name.startswith(NO_ROOM):
            continue
        r, surf, layout = rendered(fonts, screen, view)
        assert [u for u in r.undersized if not u[0].startswith("key:")] == [], (name, view.lang)
        for role, mm in ink_heights_mm(r, surf, PALETTE, layout.px_per_mm_y).items():
            if role.startswith("key:"):
                if not any(u[0] == role for u in r.undersized):
                    assert mm >= 4.0 - TOLERANCE_MM, (name, view.lang, role, mm)
            else:
                assert mm >= 5.0 - TOLERANCE_MM, (name, view.lang, role, mm)
            checked += 1
    assert checked > 150


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
def test_the_pins_name_is_the_largest_text_on_its_entry_screen(fonts, screen):
    for name, view in every_screen(screen):
        if view.screen != "entry":
            continue
        r, surf, layout = rendered(fonts, screen, view)
        ink = {k: v for k, v in ink_heights_mm(r, surf, PALETTE, layout.px_per_mm_y).items()
               if not k.startswith("key:")}
        for role in ink:
            # no words set taller than the name (one pixel of rounding), where the name had to shrink too
            assert r.ink_mm[role] <= r.ink_mm["title"] + 1 / layout.px_per_mm_y, (name, view.lang, role, r.ink_mm)
        assert text(view.lang, f"name_{view.pin_type.value}") in r.words["title"]


def test_a_screen_that_shrinks_is_reported_and_the_measurement_sees_the_difference(fonts):
    """The check can fail: the signature keypad on the landscape panel does shrink its words."""
    view = View("entry", pin_type=PinType.SIGNATURE, action="verify", tries_left=5, max_tries=5)
    r, surf, layout = rendered(fonts, LANDSCAPE, view)
    assert any(role == "legend" for role, _ in r.undersized)
    assert ink_heights_mm(r, surf, PALETTE, layout.px_per_mm_y)["legend"] < 5.0


def test_non_text_parts_reach_3_to_1_and_the_rings_as_drawn_do_too(fonts):
    for fg, bg in NON_TEXT_PAIRS:
        assert contrast_ratio(PALETTE[fg], PALETTE[bg]) >= 3.0, (fg, bg)
    assert contrast_ratio((150, 150, 150), (255, 255, 255)) < 3.0  # main's old ring colour fails
    view = View("entry", pin_type=PinType.USER_AUTH, action="verify", entered=1, tries_left=3, max_tries=3)
    for screen in (LANDSCAPE, PORTRAIT):
        r, surf, layout = rendered(fonts, screen, view)
        x, y, w, h = layout.regions["field"]
        row = [tuple(surf.get_at((px, y + h // 2)))[:3] for px in range(x, x + w)]
        darkest_ring = min((c for c in row if c != PALETTE["dot"] and c != PALETTE["field_border"]),
                           key=sum)
        assert contrast_ratio(darkest_ring, PALETTE["field_face"]) >= 3.0


def test_the_count_stands_beside_the_dots(fonts):
    for entered, ja, en in ((9, "9文字", "9 characters"), (1, "1文字", "1 character")):
        for lang, words in (("ja", ja), ("en", en)):
            view = View("entry", lang=lang, pin_type=PinType.SIGNATURE, action="verify", entered=entered)
            r, surf, layout = rendered(fonts, PORTRAIT, view)
            assert r.words["count"] == words
            for rect, colour in r.text_lines["count"]:
                assert pygame.Rect(*layout.regions["field"]).contains(rect)
            assert max(ink_height_px(surf, rect, PALETTE[c]) for rect, c in r.text_lines["count"]) > 0


def test_the_signature_legend_says_exactly_which_characters_and_names_the_underscore():
    assert JA["legend_alnum"] == ("使える文字：数字（0〜9）と英字の大文字（A〜Z）だけです。"
                                  "『_』（アンダーバー）などの記号や小文字は使えません。")
    assert JA["length_range"].format(min=6, max=16) == "文字数：6〜16文字"
    assert "桁" not in JA["legend_alnum"] + JA["length_range"] + JA["problem_too_short"]
    assert "underscore" in EN["legend_alnum"] and "lowercase" in EN["legend_alnum"]
    assert "署名用パスワード" in JA["name_signature"]


def test_problems_say_what_to_do(fonts):
    view = View("entry", pin_type=PinType.SIGNATURE, action="verify", entered=4, problem="too_short")
    r, _, _ = rendered(fonts, PORTRAIT, view)
    assert "あと2文字以上入力してください" in r.words["status"]
    r, _, _ = rendered(fonts, PORTRAIT, dataclasses.replace(view, lang="en", entered=5))
    assert "Please type at least 1 more character" in r.words["status"]
    digits = View("entry", pin_type=PinType.USER_AUTH, action="verify", entered=3, problem="too_short")
    r, _, _ = rendered(fonts, PORTRAIT, digits)
    assert "あと1桁入力してください" in r.words["status"]


def test_english_reads_as_a_careful_writer_would():
    assert [EN[f"key_{k}"] for k in ("cancel", "enter", "backspace", "clear")] == ["Cancel", "Enter", "Back", "Clear"]
    assert EN["session_ended_title"] == "Your session has ended"
    assert text("en", "tries_left", n=1) == "1 try left before the PIN locks"
    assert text("en", "tries_left", n=2) == "2 tries left before the PIN locks"
    assert EN["name_resident_registry"] == "Basic Resident Register PIN"
    assert "small letters" not in " ".join(EN.values()) and "Stop" not in " ".join(EN.values())


def test_pin_change_shows_its_step_and_tries_left_only_on_the_current_pin_step(fonts):
    base = View("entry", pin_type=PinType.SIGNATURE, action="change", tries_left=5, max_tries=5)
    seen = {}
    for step, label in (("current", "1/3　いまの暗証番号"), ("new", "2/3　新しい暗証番号"), ("confirm", "3/3　もう一度")):
        r, _, _ = rendered(fonts, PORTRAIT, dataclasses.replace(base, step=step))
        assert r.words["status"].startswith(label)
        seen[step] = "ロック" in r.words["status"]
        if step != "current":  # the new-PIN rule from the start, not only after an error
            assert JA["legend_new_alnum"] in r.words["status"]
    assert seen == {"current": True, "new": False, "confirm": False}


def test_names_break_between_phrases_never_inside_a_word(fonts):
    names = [JA[f"entry_{w}"].format(name=JA[f"name_{t.value}"])
             for t in PinType for w in ("verify", "change_current", "change_new", "change_confirm")]
    words = ("電子証明書", "利用者証明用", "署名用", "暗証番号", "パスワード", "券面事項", "入力補助用",
             "住民基本台帳用", "入力して", "大文字", "アンダーバー")
    font = fonts.get(40, bold=True)
    for name in names + [JA["legend_alnum"]]:
        for width in range(360 if name in names else 520, 800, 20):
            lines = wrap(font, name, width)
            if any(font.size(line)[0] > width for line in lines):
                continue  # a phrase wider than the line: broken by characters, on purpose
            joined = "|".join(lines)
            for word in words:
                if word in name:
                    assert word in joined, (width, joined)


def test_digits_and_letters_are_told_apart_0_from_o_and_1_from_i(fonts):
    view = View("entry", pin_type=PinType.SIGNATURE, action="verify")
    for screen in (LANDSCAPE, PORTRAIT):
        layout = build_layout(PinType.SIGNATURE, screen, KEYPAD)
        r, surf, _ = rendered(fonts, screen, view)
        face = lambda k: tuple(surf.get_at((k.x + k.w // 2, k.y + 6)))[:3]  # noqa: E731
        for digit, letter in (("0", "O"), ("1", "I")):
            assert face(layout.key(digit)) == PALETTE["digit_face"]
            assert face(layout.key(letter)) == PALETTE["key_face"]
