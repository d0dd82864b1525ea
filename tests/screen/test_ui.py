"""The kiosk screen drawn for real with SDL's dummy driver: pixels, words, dirty rects, display set-up."""
from __future__ import annotations

import dataclasses
import re
import string

import pytest

from support_screen import KEYPAD, LANDSCAPE, PORTRAIT, dummy_sdl
from support_repo import ROOT

dummy_sdl()

import pygame  # noqa: E402
from kiosk.commands.screens import sample_views  # noqa: E402
from kiosk.keypad import SCREEN_BUTTONS, build_layout, build_screen_layout  # noqa: E402
from kiosk.pin import PinType  # noqa: E402
from kiosk.ui.fonts import FontError, Fonts  # noqa: E402
from kiosk.ui.render import CONTRAST_PAIRS, PALETTE, Renderer, contrast_ratio  # noqa: E402
from kiosk.ui.strings import EN, JA, STRINGS  # noqa: E402
from kiosk.view import SCREENS, View  # noqa: E402

FONT = LANDSCAPE.font_path


@pytest.fixture(scope="module")
def shared_fonts():
    pygame.font.init()
    return Fonts(FONT)


@pytest.fixture
def fonts(shared_fonts):
    shared_fonts.overflows.clear()
    return shared_fonts


def surface_for(screen):
    return pygame.Surface((screen.width_px, screen.height_px))


# -- words ----------------------------------------------------------------

def test_both_languages_have_the_same_keys_and_placeholders():
    assert JA.keys() == EN.keys()
    fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
    for key in JA:
        assert fields(JA[key]) == fields(EN[key]), key


def test_every_screen_and_button_has_words_in_both_languages():
    for table in STRINGS.values():
        for screen in SCREENS:
            if screen in ("entry", "calibration", "drift_check", "calibration_result"):
                assert f"{screen}_title" in table or screen == "entry"
            else:
                assert f"{screen}_title" in table and f"{screen}_body" in table, screen
        for buttons in SCREEN_BUTTONS.values():
            for b in buttons:
                assert f"key_{b}" in table
        for t in PinType:
            assert f"name_{t.value}" in table


def test_the_legend_says_what_may_be_typed_in_plain_words():
    assert JA["legend_alnum"].startswith("使える文字：数字（0〜9）と英字の大文字（A〜Z）だけです。")
    assert "数字（0〜9）だけ" in JA["legend_digits"] and "Symbols" in EN["legend_alnum"]
    assert JA["length_fixed"].format(min=4) == "桁数：4桁"
    assert JA["length_range"].format(min=6, max=16) == "文字数：6〜16文字"
    assert JA["session_ended_title"] == "画面を終了しました"


def test_palette_contrast_is_at_least_4_5_to_1():
    for fg, bg in CONTRAST_PAIRS:
        assert contrast_ratio(PALETTE[fg], PALETTE[bg]) >= 4.5, (fg, bg)
    assert contrast_ratio((119, 119, 119), (255, 255, 255)) < 4.5  # the check can fail: #777 on white


# -- fonts ------------------------------------------------------------------

def test_missing_font_and_font_without_japanese_are_one_line_errors(tmp_path):
    with pytest.raises(FontError) as exc:
        Fonts(tmp_path / "nope.ttc")
    assert "screen.font_path" in str(exc.value) and "fonts-noto-cjk" in str(exc.value)
    latin = pygame.font.get_default_font()  # pygame's bundled freesansbold: no kanji
    import os
    path = os.path.join(os.path.dirname(pygame.__file__), latin)
    with pytest.raises(FontError, match="no Japanese glyphs"):
        Fonts(path)
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(FontError, match="not a usable font"):
        Fonts(bad)


# -- drawing ----------------------------------------------------------------

def draw(fonts, screen, view, layout=None):
    layout = layout or build_screen_layout(view.screen, view.pin_type, screen, KEYPAD, view.lang)
    surf = surface_for(screen)
    Renderer(fonts).render(surf, view, layout)
    return surf, layout


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
def test_every_sample_screen_draws_in_both_languages_with_words_on_it(fonts, screen):
    names = set()
    for name, view in sample_views(screen.width_px, screen.height_px):
        names.add(view.screen)
        for lang in ("ja", "en"):
            surf, _ = draw(fonts, screen, dataclasses.replace(view, lang=lang))
            assert fonts.overflows == [], (name, lang)  # every word fits its box, nothing clipped
            ink = pygame.mask.from_threshold(surf, PALETTE["bg"], (1, 1, 1, 255))
            ink.invert()
            assert ink.count() > 2000, (name, lang)  # something legible is drawn, not a blank screen
    assert names == set(SCREENS)


def dot_runs(surf, layout) -> int:
    """Runs of the dot colour along the middle row of the field (the field's frame adds 2)."""
    x, y, w, h = layout.regions["field"]
    cy = y + h // 2
    runs, inside = 0, False
    for px in range(x, x + w):
        dark = tuple(surf.get_at((px, cy)))[:3] == PALETTE["dot"]
        runs += dark and not inside
        inside = dark
    return runs - 2


@pytest.mark.parametrize("pin_type,max_len", [(PinType.USER_AUTH, 4), (PinType.SIGNATURE, 16)])
def test_masked_field_shows_one_dot_per_character_and_nothing_else(fonts, pin_type, max_len):
    layout = build_layout(pin_type, LANDSCAPE, KEYPAD)
    for n in range(0, max_len + 1):
        surf, _ = draw(fonts, LANDSCAPE, View("entry", pin_type=pin_type, entered=n), layout)
        assert dot_runs(surf, layout) == n


def test_field_pixels_depend_only_on_the_count(fonts):
    """Whatever key was pressed last, the field looks the same: no character, not even for a moment."""
    layout = build_layout(PinType.SIGNATURE, LANDSCAPE, KEYPAD)
    field = pygame.Rect(*layout.regions["field"])
    images = set()
    for key in ("A", "7", "Z", None):
        surf, _ = draw(fonts, LANDSCAPE, View("entry", pin_type=PinType.SIGNATURE, entered=5,
                                              pressed_key=key), layout)
        images.add(pygame.image.tostring(surf.subsurface(field), "RGB"))
    assert len(images) == 1


def key_face(surf, key):
    return tuple(surf.get_at((key.x + key.w // 2, key.y + max(8, key.h // 8))))[:3]


def test_enter_looks_disabled_until_the_view_enables_it_and_pressed_key_is_highlighted(fonts):
    layout = build_layout(PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    off, _ = draw(fonts, LANDSCAPE, View("entry", pin_type=PinType.USER_AUTH, entered=3), layout)
    on, _ = draw(fonts, LANDSCAPE, View("entry", pin_type=PinType.USER_AUTH, entered=4, enter_enabled=True,
                                        pressed_key="5"), layout)
    assert key_face(off, layout.key("enter")) == PALETTE["disabled_face"]
    assert key_face(on, layout.key("enter")) == PALETTE["enter_face"]
    assert key_face(on, layout.key("5")) == PALETTE["pressed_face"]
    assert key_face(off, layout.key("5")) == PALETTE["digit_face"]


def test_only_what_changed_is_redrawn(fonts):
    layout = build_layout(PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    surf = surface_for(LANDSCAPE)
    r = Renderer(fonts)
    base = View("entry", pin_type=PinType.USER_AUTH, tries_left=3)
    assert r.render(surf, base, layout) == [surf.get_rect()]
    assert r.render(surf, base, layout) == []  # idle redraw costs nothing
    pressed = dataclasses.replace(base, pressed_key="5")
    assert r.render(surf, pressed, layout) == [pygame.Rect(*layout.regions["field"])][:0] + [
        pygame.Rect(k.x, k.y, k.w, k.h) for k in layout.keys if k.id == "5"]
    typed = dataclasses.replace(base, entered=1)
    dirty = r.render(surf, typed, layout)
    assert pygame.Rect(*layout.regions["field"]) in dirty and len(dirty) == 2  # field + the 5 released
    full = r.render(surf, View("verifying", lang="ja"), build_screen_layout("verifying", None, LANDSCAPE, KEYPAD))
    assert full == [surf.get_rect()]
    # a partial redraw ends with the same pixels as a full one
    surf2, _ = draw(fonts, LANDSCAPE, typed, layout)
    r2 = Renderer(fonts)
    r2.render(surf, base, layout)
    r2.render(surf, typed, layout)
    assert pygame.image.tostring(surf, "RGB") == pygame.image.tostring(surf2, "RGB")


def test_language_key_switches_every_word(fonts):
    ja, layout = draw(fonts, LANDSCAPE, View("idle", lang="ja"))
    en, _ = draw(fonts, LANDSCAPE, View("idle", lang="en"), layout)
    lang = layout.key("lang")
    box = pygame.Rect(lang.x, lang.y, lang.w, lang.h)
    assert pygame.image.tostring(ja.subsurface(box), "RGB") != pygame.image.tostring(en.subsurface(box), "RGB")


# -- display ----------------------------------------------------------------

@pytest.mark.stack
def test_display_hides_cursor_and_blocks_sdl_pointer_events_unless_mouse():
    from kiosk.ui.display import Display
    import os
    kiosk = dataclasses.replace(LANDSCAPE, fullscreen=False)
    d = Display(kiosk, "evdev:/dev/kiosk-touch")
    try:
        assert os.environ["SDL_NO_SIGNAL_HANDLERS"] == "1"
        assert pygame.mouse.get_visible() is False
        assert pygame.event.get_blocked(pygame.MOUSEBUTTONDOWN) and pygame.event.get_blocked(pygame.FINGERDOWN)
        view = View("idle")
        layout = build_screen_layout("idle", None, kiosk, KEYPAD)
        assert d.show(view, layout) == [d.surface.get_rect()]
        assert d.show(view, layout) == []
        d.clear()
        assert tuple(d.surface.get_at((400, 240)))[:3] == PALETTE["cleared"]
    finally:
        d.close()
    d = Display(kiosk, "mouse")
    try:
        assert pygame.mouse.get_visible() is True
        assert not pygame.event.get_blocked(pygame.MOUSEBUTTONDOWN)
    finally:
        d.close()


@pytest.mark.stack
def test_sdl_installs_no_signal_handler_of_its_own(tmp_path):
    """SIGTERM after the display is open still reaches Python (SDL would swallow it into SDL_QUIT)."""
    import subprocess
    import sys
    code = (
        "import os, signal, time, sys\n"
        "sys.path.insert(0, 'tests/support')\n"
        "from support_screen import LANDSCAPE\n"
        "from kiosk.ui.display import Display\n"
        "d = Display(LANDSCAPE, 'evdev:/dev/x')\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(1)\n"
        "print('SDL swallowed SIGTERM')\n")
    root = ROOT
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=30)
    assert r.returncode == -15, (r.returncode, r.stdout, r.stderr)


def test_no_string_can_show_a_pin():
    """The words never carry a placeholder a PIN could be formatted into."""
    for table in STRINGS.values():
        for key, value in table.items():
            assert not re.search(r"\{(pin|value|chars?)\}", value), key


def test_wrapping_keeps_japanese_punctuation_and_brackets_in_place(fonts):
    from kiosk.ui.fonts import wrap
    font = fonts.get(20)
    text = JA["legend_alnum"] + JA["locked_body"]
    for width in range(120, 700, 7):
        lines = wrap(font, text, width)
        assert "".join(lines) == text.replace("\n", "")
        for line in lines:
            assert not line.startswith(("。", "、", "）", "・")) and not line.endswith("（"), (width, line)
    words = wrap(font, EN["idle_body"], 200)
    assert all(not w.startswith(" ") and font.size(w)[0] <= 200 for w in words)
    assert " ".join(words).replace("\n", " ") == EN["idle_body"].replace("\n", " ")


def test_fit_shrinks_until_the_words_fit_and_avoids_a_lone_last_character(fonts):
    font, lines = fonts.fit(JA["entry_verify"].format(name=JA["name_user_auth"]), 299, 130, 45, 18, bold=True)
    assert len(lines) * fonts.line_pitch(font) <= 130 and all(font.size(x)[0] <= 299 for x in lines)
    assert len(lines[-1]) > 2


def test_every_problem_and_technician_message_code_has_words():
    from kiosk.pin import ENTRY_PROBLEMS
    for table in STRINGS.values():
        for code in (*ENTRY_PROBLEMS, "mismatch"):
            assert f"problem_{code}" in table, code
        for code in ("rejected_retry", "bounce", "timed_out", "fit_failed", "refit_retry", "not_passed"):
            assert f"message_{code}" in table, code
        for code in ("no_reader", "touch_absent", "link_down", "card_error"):
            assert f"fault_{code}" in table, code


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
def test_worst_case_entry_words_fit_every_pin_type_step_and_problem(fonts, screen):
    """Title of each step, a problem, the last try and a countdown all at once: nothing clipped."""
    from kiosk.pin import ENTRY_PROBLEMS
    for pin_type in PinType:
        layout_by_lang = {lang: build_layout(pin_type, screen, KEYPAD, lang) for lang in ("ja", "en")}
        for action, step in (("verify", None), ("change", "current"), ("change", "new"), ("change", "confirm")):
            for problem in (None, *ENTRY_PROBLEMS, "mismatch"):
                for lang, layout in layout_by_lang.items():
                    view = View("entry", lang=lang, pin_type=pin_type, action=action, step=step, entered=3,
                                problem=problem, tries_left=1, seconds_left=9)
                    draw(fonts, screen, view, layout)
                    assert fonts.overflows == [], (pin_type, step, problem, lang)


def test_property_partial_redraws_always_end_in_the_same_pixels_as_a_full_draw(shared_fonts):
    """Any sequence of entry changes drawn incrementally equals drawing the last View from scratch."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from kiosk.pin import ENTRY_PROBLEMS

    layout = build_layout(PinType.SIGNATURE, LANDSCAPE, KEYPAD)
    views = st.builds(
        lambda n, key, ok, problem, tries, secs: View(
            "entry", pin_type=PinType.SIGNATURE, entered=n, pressed_key=key, enter_enabled=ok,
            problem=problem, tries_left=tries, seconds_left=secs),
        st.integers(0, 16), st.sampled_from([None, "A", "Z", "0", "enter", "backspace", "lang"]),
        st.booleans(), st.sampled_from([None, *ENTRY_PROBLEMS]), st.integers(1, 5),
        st.sampled_from([None, 9, 3]))

    @settings(max_examples=25, deadline=None)
    @given(st.lists(views, min_size=1, max_size=5))
    def check(sequence):
        live = surface_for(LANDSCAPE)
        r = Renderer(shared_fonts)
        for v in sequence:
            r.render(live, v, layout)
        fresh = surface_for(LANDSCAPE)
        Renderer(shared_fonts).render(fresh, sequence[-1], layout)
        assert pygame.image.tostring(live, "RGB") == pygame.image.tostring(fresh, "RGB")

    check()


def test_japanese_lines_break_between_phrases_not_inside_words(fonts):
    from kiosk.ui.fonts import wrap
    font = fonts.get(24)
    text = JA["last_try_warning_body"] + JA["locked_body"]
    for width in range(260, 700, 13):  # every phrase fits a line from 10 characters on
        joined = "|".join(wrap(font, text, width))
        for word in ("暗証番号", "ロック", "職員", "中止", "使えなくなりました"):
            assert word in joined.replace("\n", ""), (width, joined)  # never 暗|証番号
        assert "ご|" not in joined and "お|" not in joined  # ご相談, お声かけ stay whole


@pytest.mark.stack
def test_display_size_must_match_the_configured_panel(monkeypatch):
    from kiosk.ui.display import Display, DisplayError
    d = Display(dataclasses.replace(LANDSCAPE, fullscreen=True), "evdev:/dev/kiosk-touch")
    try:
        assert d.surface.get_size() == (800, 480)  # dummy driver: fullscreen ignored, configured size
    finally:
        d.close()
    # A panel of another size cannot exist on this headless machine: stand in for set_mode only.
    real_set_mode = pygame.display.set_mode
    monkeypatch.setattr(pygame.display, "set_mode", lambda size, flags=0: real_set_mode((1024, 600), flags))
    with pytest.raises(DisplayError, match="1024x600 px but screen.width_px/height_px say 800x480"):
        Display(LANDSCAPE, "evdev:/dev/kiosk-touch")


@pytest.mark.stack
def test_unavailable_video_driver_is_a_one_line_error():
    from kiosk.ui.display import Display, DisplayError
    with pytest.raises(DisplayError) as exc:
        Display(dataclasses.replace(LANDSCAPE, video="nosuchdriver"), "evdev:/dev/kiosk-touch")
    assert "'nosuchdriver'" in str(exc.value) and "\n" not in str(exc.value)
    dummy_sdl()  # the environment back to headless for the other tests
