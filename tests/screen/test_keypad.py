"""Keypad geometry and press semantics: pure model, property-tested."""
from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk.config import KeypadConfig, ScreenConfig
from kiosk.keypad import (
    MARGIN_MM, MIN_KEY_MM, SCREEN_BUTTONS, Key, LayoutError, PressTracker, build_layout, build_screen_layout,
)
from kiosk.pin import DIGITS, PIN_RULES, UPPER, PinType
from kiosk.view import SCREENS
from support_screen import KEYPAD, LANDSCAPE, PORTRAIT, SMALL_PORTRAIT

CONTROLS = {"backspace", "clear", "cancel", "enter", "lang"}
CHAR_KEYS = set(DIGITS + UPPER)


def overlap(a, b) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def gap_between_mm(a, b, layout) -> float:
    """Separation of two disjoint rectangles in mm (largest of the axis gaps)."""
    dx = max(b.x - (a.x + a.w), a.x - (b.x + b.w)) / layout.px_per_mm_x
    dy = max(b.y - (a.y + a.h), a.y - (b.y + b.h)) / layout.px_per_mm_y
    return max(dx, dy)


def check_geometry(layout, min_key_mm: float, gap_mm: float) -> None:
    mx, my = MARGIN_MM * layout.px_per_mm_x - 1e-6, MARGIN_MM * layout.px_per_mm_y - 1e-6
    for k in layout.keys:  # inside the screen and off the bezel, where touches are unreliable
        assert mx <= k.x and my <= k.y, k
        assert k.x + k.w <= layout.screen_w_px - mx and k.y + k.h <= layout.screen_h_px - my, k
        assert k.w / layout.px_per_mm_x >= min_key_mm - 1e-9, k
        assert k.h / layout.px_per_mm_y >= min_key_mm - 1e-9, k
    for a, b in itertools.combinations(layout.keys, 2):
        assert not overlap(a, b), (a, b)
        assert gap_between_mm(a, b, layout) >= gap_mm - 1e-9, (a, b)
    for name, (x, y, w, h) in layout.regions.items():
        assert w > 0 and h > 0, name
        box = Key(name, "", x, y, w, h)
        for k in layout.keys:
            assert not overlap(box, k), (name, k)


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("pin_type", list(PinType))
def test_every_keypad_fits_both_shipped_screens(screen, pin_type):
    layout = build_layout(pin_type, screen, KEYPAD)
    rule = PIN_RULES[pin_type]
    assert set(layout.ids) == set(rule.charset) | CONTROLS
    floor = KEYPAD.digit_key_mm if rule.keypad == "digits" else MIN_KEY_MM
    check_geometry(layout, floor, KEYPAD.gap_mm)
    assert set(layout.regions) == {"title", "legend", "field", "status"}
    # room for the words: the info boxes are tall enough for large type
    for name in ("title", "legend", "field"):
        assert layout.regions[name][3] / layout.px_per_mm_y >= 5.0, name


def test_digit_keypad_is_in_telephone_order_with_zero_under_eight():
    layout = build_layout(PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    k = layout.key
    for row in ("123", "456", "789"):
        ys = {k(c).y for c in row}
        assert len(ys) == 1 and k(row[0]).x < k(row[1]).x < k(row[2]).x
    assert k("1").y < k("4").y < k("7").y < k("0").y
    assert k("0").x == k("8").x
    assert [k(i).label for i in ("backspace", "clear", "cancel", "enter")] == ["訂正", "クリア", "中止", "確定"]


def test_alnum_keypad_has_only_digits_and_capitals_in_alphabetical_or_qwerty_order():
    alpha = build_layout(PinType.SIGNATURE, LANDSCAPE, KEYPAD)
    chars = [k for k in alpha.keys if k.id not in CONTROLS]
    assert {k.id for k in chars} == CHAR_KEYS and all(k.label == k.id for k in chars)
    reading = sorted(chars, key=lambda k: (k.y, k.x))
    assert "".join(k.id for k in reading) == DIGITS + UPPER
    for banned in "_-abcz!@ ":
        assert banned not in alpha.ids
    qwerty = build_layout(PinType.SIGNATURE, LANDSCAPE, dataclasses.replace(KEYPAD, alnum_order="qwerty"))
    row = sorted((k for k in qwerty.keys if k.y == qwerty.key("Q").y), key=lambda k: k.x)
    assert "".join(k.id for k in row) == "QWERTYUIOP"
    assert set(qwerty.ids) == set(alpha.ids)


def test_configured_key_size_is_honoured_and_an_impossible_one_is_a_clear_error():
    big = build_layout(PinType.USER_AUTH, LANDSCAPE, dataclasses.replace(KEYPAD, digit_key_mm=18.0))
    assert big.key_mm >= 18.0
    with pytest.raises(LayoutError, match="at least 30 mm"):
        build_layout(PinType.USER_AUTH, LANDSCAPE, dataclasses.replace(KEYPAD, digit_key_mm=30.0))


def test_small_portrait_panel_fits_digits_and_refuses_alnum_with_a_reason():
    check_geometry(build_layout(PinType.USER_AUTH, SMALL_PORTRAIT, KEYPAD), 15.0, 2.5)
    with pytest.raises(LayoutError) as exc:
        build_layout(PinType.SIGNATURE, SMALL_PORTRAIT, KEYPAD)
    assert "68x121 mm" in str(exc.value) and "12 mm" in str(exc.value) and "\n" not in str(exc.value)


def test_gaps_and_info_boxes_press_nothing_and_centres_press_their_key():
    layout = build_layout(PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    one, two = layout.key("1"), layout.key("2")
    assert layout.hit(one.x + one.w + 1, one.y + 5) is None  # in the gap between 1 and 2
    assert layout.hit(0, 0) is None
    x, y, w, h = layout.regions["field"]
    assert layout.hit(x + w / 2, y + h / 2) is None
    for key in layout.keys:
        assert layout.hit(*layout.key_centre_px(key.id)) == key.id
    assert layout.pitch_mm == pytest.approx((two.x - one.x) / layout.px_per_mm_x, abs=0.3)


def test_layout_json_document_shape():
    doc = build_layout(PinType.SIGNATURE, PORTRAIT, KEYPAD).as_dict()
    assert doc["screen"] == {"w": 720, "h": 1280}
    assert all(set(k) == {"id", "label", "x", "y", "w", "h"} for k in doc["keys"])
    assert {k["id"] for k in doc["keys"]} == CHAR_KEYS | CONTROLS


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
def test_every_screen_has_a_layout_with_its_buttons(screen):
    for screen_id in SCREENS:
        layout = build_screen_layout(screen_id, PinType.SIGNATURE, screen, KEYPAD, "en")
        if screen_id != "entry":
            assert set(layout.ids) == set(SCREEN_BUTTONS[screen_id]) and "message" in layout.regions
            check_geometry(layout, MIN_KEY_MM, KEYPAD.gap_mm)


# -- property tests ---------------------------------------------------------

screens = st.builds(
    lambda w, h, ppm_x, ppm_y: ScreenConfig(width_px=w, height_px=h, width_mm=round(w / ppm_x, 1),
                                            height_mm=round(h / ppm_y, 1)),
    st.integers(480, 1920), st.integers(320, 1920), st.floats(4.0, 12.0), st.floats(4.0, 12.0))
keypads = st.builds(
    KeypadConfig,
    digit_key_mm=st.floats(12.0, 22.0), alnum_key_mm=st.floats(12.0, 16.0), gap_mm=st.floats(2.5, 6.0),
    alnum_order=st.sampled_from(["alphabetical", "qwerty"]),
    release_tolerance_mm=st.floats(0.0, 5.0), repeat_debounce_s=st.floats(0.0, 1.0))


@settings(max_examples=150, deadline=None)
@given(screens, keypads, st.sampled_from(list(PinType)))
def test_property_any_layout_that_builds_is_sound(screen, keypad, pin_type):
    try:
        layout = build_layout(pin_type, screen, keypad)
    except LayoutError:
        return  # refusing is allowed; a shrunken or overlapping layout is not
    floor = keypad.digit_key_mm if PIN_RULES[pin_type].keypad == "digits" else MIN_KEY_MM
    check_geometry(layout, floor, keypad.gap_mm)
    assert set(layout.ids) == set(PIN_RULES[pin_type].charset) | CONTROLS


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(PinType)), st.floats(0, 799), st.floats(0, 479),
       st.sampled_from([LANDSCAPE, PORTRAIT]))
def test_property_hit_test_agrees_with_the_rectangles(pin_type, fx, fy, screen):
    layout = build_layout(pin_type, screen, KEYPAD)
    x, y = fx * screen.width_px / 800, fy * screen.height_px / 480
    inside = [k.id for k in layout.keys if k.x <= x < k.x + k.w and k.y <= y < k.y + k.h]
    assert len(inside) <= 1
    assert layout.hit(x, y) == (inside[0] if inside else None)


POINTS = st.tuples(st.floats(0, 799), st.floats(0, 479))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(PinType)), POINTS, st.lists(POINTS, max_size=8), POINTS)
def test_property_slide_off_never_commits_and_commits_are_what_was_pressed(pin_type, start, path, end):
    layout = build_layout(pin_type, LANDSCAPE, KEYPAD)
    tracker = PressTracker.from_config(layout, KEYPAD)
    pressed = tracker.down(*start, 0.0)
    tol = KEYPAD.release_tolerance_mm
    stayed = pressed is not None
    for p in path:
        tracker.move(*p, 0.01)
        stayed = stayed and layout.key(pressed).contains(*p, tol * layout.px_per_mm_x, tol * layout.px_per_mm_y)
    committed = tracker.up(*end, 0.02)
    stayed = stayed and layout.key(pressed).contains(*end, tol * layout.px_per_mm_x, tol * layout.px_per_mm_y)
    assert committed == (pressed if stayed else None)
    assert tracker.highlighted is None


# -- press semantics, one by one -------------------------------------------

@pytest.fixture
def digits():
    layout = build_layout(PinType.USER_AUTH, LANDSCAPE, KEYPAD)
    return layout, PressTracker(layout, release_tolerance_mm=2.0, repeat_debounce_s=0.25)


def test_highlight_while_down_commit_on_release(digits):
    layout, t = digits
    cx, cy = layout.key_centre_px("5")
    assert t.down(cx, cy, 1.0) == "5" and t.highlighted == "5"
    assert t.move(cx + 3, cy, 1.05) == "5"
    assert t.up(cx + 3, cy, 1.1) == "5" and t.highlighted is None


def test_release_just_outside_within_tolerance_commits_beyond_it_does_not(digits):
    layout, t = digits
    k = layout.key("5")
    cy = k.y + k.h / 2
    t.down(k.x + k.w - 2, cy, 0.0)
    assert t.up(k.x + k.w + 1.5 * layout.px_per_mm_x, cy, 0.1) == "5"
    t.down(k.x + k.w - 2, cy, 5.0)
    assert t.up(k.x + k.w + 3.0 * layout.px_per_mm_x, cy, 5.1) is None


def test_slide_off_cancels_for_good_even_if_the_finger_comes_back(digits):
    layout, t = digits
    cx, cy = layout.key_centre_px("5")
    ox, oy = layout.key_centre_px("6")
    t.down(cx, cy, 0.0)
    assert t.move(ox, oy, 0.05) is None and t.highlighted is None
    t.move(cx, cy, 0.1)
    assert t.up(cx, cy, 0.15) is None


def test_same_key_bounce_is_ignored_other_key_is_not(digits):
    layout, t = digits
    five, six = layout.key_centre_px("5"), layout.key_centre_px("6")
    t.down(*five, 0.0)
    assert t.up(*five, 0.05) == "5"
    assert t.down(*five, 0.2) is None and t.up(*five, 0.22) is None  # 0.15 s after: a bounce
    t.down(*six, 0.1)
    assert t.up(*six, 0.12) == "6"
    t.down(*five, 0.40)
    assert t.up(*five, 0.45) == "5"  # 0.35 s after the last 5: a real second press


def test_gap_press_and_cancel_and_layout_change(digits):
    layout, t = digits
    one = layout.key("1")
    assert t.down(one.x + one.w + 2, one.y + 4, 0.0) is None
    assert t.up(*layout.key_centre_px("1"), 0.1) is None
    t.down(*layout.key_centre_px("1"), 1.0)
    t.cancel()
    assert t.up(*layout.key_centre_px("1"), 1.1) is None
    t.down(*layout.key_centre_px("1"), 2.0)
    t.set_layout(build_layout(PinType.SIGNATURE, LANDSCAPE, KEYPAD))
    assert t.highlighted is None and t.up(*layout.key_centre_px("1"), 2.1) is None


def test_doubled_letters_at_a_persons_pace_count_twice_a_contact_bounce_does_not():
    """AA11BBCC at 150 ms per tap (held 70 ms, lifted 80 ms): every press counts; a bounce 20 ms
    after a lift does not.  The gap that matters is from the release to the next press."""
    layout = build_layout(PinType.SIGNATURE, LANDSCAPE, KEYPAD)
    t = PressTracker.from_config(layout, KEYPAD)
    typed, now = [], 0.0
    for ch in "AA11BBCC":
        xy = layout.key_centre_px(ch)
        t.down(*xy, now)
        got = t.up(*xy, now + 0.07)
        typed.append(got)
        now += 0.15
    assert "".join(k for k in typed if k) == "AA11BBCC"
    xy = layout.key_centre_px("Z")
    t.down(*xy, 10.0)
    assert t.up(*xy, 10.3) == "Z"  # a long press
    assert t.down(*xy, 10.32) is None and t.up(*xy, 10.33) is None  # re-made 20 ms after the lift


@pytest.mark.parametrize("screen", [LANDSCAPE, PORTRAIT], ids=["800x480", "720x1280"])
@pytest.mark.parametrize("order", ["alphabetical", "qwerty"])
def test_enter_is_at_least_8_mm_from_cancel_and_clear_on_the_letters_keypad(screen, order):
    layout = build_layout(PinType.SIGNATURE, screen, dataclasses.replace(KEYPAD, alnum_order=order))
    enter = layout.key("enter")
    for other in ("cancel", "clear"):
        assert gap_between_mm(enter, layout.key(other), layout) >= 8.0, (order, other)
