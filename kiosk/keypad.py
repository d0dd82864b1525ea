"""Keypad geometry, hit testing and press tracking: pure, no pygame, no clock.

Theory of operation
-------------------
A keypad is computed from the screen's size in pixels *and* in millimetres,
because what matters to a finger is millimetres: every key is at least the
configured size (``keypad.digit_key_mm``, or ``keypad.alnum_key_mm`` which may
shrink to fit but never below ``MIN_KEY_MM``), every gap at least
``keypad.gap_mm``.  Sizes are rounded *up* to whole pixels on each axis
separately (panels rarely have square pixels), so rounding can only make a
key bigger.  When the screen has room, keys grow (up to ``GROW``) because a
bigger key forgives more drift of a worn touch panel.

Only the characters the PIN type allows get a key (``PIN_RULES[..].charset``),
plus the control keys ``backspace``, ``clear``, ``cancel``, ``enter`` and the
language toggle ``lang``.  There is no key for anything else: the real case of
a citizen whose note had an underscore is answered by the legend, not by a key.

The screen is split into a keypad region and an info region (title, legend,
masked field, status), side by side on a landscape screen for the digit
keypad, stacked (info above, keys below) otherwise.  ``KeyLayout.regions``
names the info boxes so the renderer draws into them and tests can check they
stay clear of the keys.

``build_screen_layout`` gives the same kind of ``KeyLayout`` for the screens
without a keypad (their buttons: ``lang``, ``retry``, ``continue``, ``cancel``,
``accept``), so the app hit-tests every screen the same way.

``PressTracker`` turns finger down/move/up into at most one committed key per
press, resisting a sliding finger (滑り入力): the key under the first contact
is highlighted; the press commits on release only if the release is still on
that key (plus ``release_tolerance_mm``); sliding beyond that cancels the
press for good; a press of the same key that lands within
``repeat_debounce_s`` of the previous *release* is a bounce and is ignored.
The gap is measured from release to press, not press to press: a contact
bounce re-makes within tens of milliseconds of the lift, while a person
doubling a letter (AA11BBCC) lifts and presses again 100 ms or more later,
however long each press was held.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from kiosk.config import KeypadConfig, ScreenConfig
from kiosk.pin import DIGITS, PIN_RULES, UPPER, PinType
from kiosk.ui.strings import STRINGS  # pure data, no pygame

#: No key is ever smaller than this, whatever the configuration says.
MIN_KEY_MM = 12.0
#: Keys grow at most this much beyond their configured size when there is room.
GROW = 1.3
#: Free border around the screen edge (bezels swallow touches there).
MARGIN_MM = 2.0
#: The language toggle key.
LANG_KEY_W_MM = 24.0
LANG_KEY_H_MM = 12.0
#: Buttons on screens without a keypad.
BUTTON_H_MM = 16.0
BUTTON_W_MM = 50.0
#: The info region (title, legend, masked field) is never smaller than this.
INFO_MIN_H_MM = 22.0
INFO_MIN_W_MM = 70.0
INFO_FLOOR_W_MM = 55.0
#: Share of the screen height the info region gets when keys can stay at size anyway.
INFO_PREFERRED_H = 0.42
#: Border above the words of a stacked info region (text is not touched, so no bezel margin).
TEXT_MARGIN_MM = 0.7

CONTROL_KEYS = ("backspace", "clear", "cancel", "enter")
QWERTY_ROWS = ("1234567890", "QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM")

#: Buttons each screen without a keypad offers (the session decides what they do).
SCREEN_BUTTONS: dict[str, tuple[str, ...]] = {
    "idle": ("lang",),
    "card_check": ("lang",),
    "no_card": ("lang",),
    "last_try_warning": ("lang", "cancel", "continue"),
    "verifying": (),
    "result_ok": ("lang",),
    "wrong_pin": ("lang", "cancel", "retry"),
    "locked": ("lang",),
    "timed_out": ("lang",),
    "card_removed": ("lang",),
    "card_removed_verifying": ("lang",),
    "session_ended": ("lang",),
    "calibration": (),
    "drift_check": (),
    "calibration_result": ("retry", "accept"),
    "fault": ("lang",),
}


class LayoutError(ValueError):
    """The keypad cannot fit the screen with keys and gaps of the required size."""


@dataclass(frozen=True)
class Key:
    """One key (or button) in screen pixels; ``id`` is the character for character keys."""

    id: str
    label: str
    x: int
    y: int
    w: int
    h: int

    def contains(self, x_px: float, y_px: float, margin_x_px: float = 0.0, margin_y_px: float = 0.0) -> bool:
        """True when the point is on the key, or within the margins around it."""
        return (self.x - margin_x_px <= x_px < self.x + self.w + margin_x_px
                and self.y - margin_y_px <= y_px < self.y + self.h + margin_y_px)

    @property
    def centre_px(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)

    def as_dict(self) -> dict:
        return {"id": self.id, "label": self.label, "x": self.x, "y": self.y, "w": self.w, "h": self.h}


Box = tuple[int, int, int, int]  # x, y, w, h in px


@dataclass(frozen=True)
class KeyLayout:
    """Where every key and info box of one screen is, in pixels, and how big in mm."""

    kind: str  # "digits" | "alnum" | "buttons"
    screen_w_px: int
    screen_h_px: int
    px_per_mm_x: float
    px_per_mm_y: float
    keys: tuple[Key, ...]
    key_mm: float  # side of a character key (0 for button screens)
    gap_mm: float
    regions: dict[str, Box] = field(default_factory=dict)

    def hit(self, x_px: float, y_px: float) -> str | None:
        """The id of the key under the point; None in a gap, a margin or an info box."""
        for key in self.keys:
            if key.contains(x_px, y_px):
                return key.id
        return None

    def key(self, key_id: str) -> Key:
        for key in self.keys:
            if key.id == key_id:
                return key
        raise KeyError(key_id)

    def key_centre_px(self, key_id: str) -> tuple[float, float]:
        """Centre of a key: where calibration and drift expect the finger to land."""
        return self.key(key_id).centre_px

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.id for k in self.keys)

    @property
    def pitch_mm(self) -> float:
        """Distance between the centres of neighbouring character keys (drift compares offsets to it)."""
        return self.key_mm + self.gap_mm

    def as_dict(self) -> dict:
        """The ``pin-kiosk layout --json`` document."""
        return {"screen": {"w": self.screen_w_px, "h": self.screen_h_px},
                "keys": [k.as_dict() for k in self.keys]}


# -- building ---------------------------------------------------------------

@dataclass(frozen=True)
class _Cell:
    id: str
    col: int
    row: int
    cols: int = 1
    rows: int = 1


@dataclass(frozen=True)
class _Grid:
    n_cols: int
    n_rows: int
    cells: tuple[_Cell, ...]
    col_widths: tuple[float, ...]  # in key widths


def _digits_grid(side: bool) -> _Grid:
    """Telephone order; controls in a wide column at the right (side) or two rows below."""
    cells = [_Cell(str(n), (n - 1) % 3, (n - 1) // 3) for n in range(1, 10)]
    cells += [_Cell("backspace", 0, 3), _Cell("0", 1, 3), _Cell("clear", 2, 3)]
    if side:
        cells += [_Cell("cancel", 3, 0, rows=2), _Cell("enter", 3, 2, rows=2)]
        return _Grid(4, 4, tuple(cells), (1.0, 1.0, 1.0, 1.5))
    cells += [_Cell("cancel", 0, 4), _Cell("enter", 1, 4, cols=2)]
    return _Grid(3, 5, tuple(cells), (1.0, 1.0, 1.0))


def _alnum_grid(n_cols: int, order: str) -> _Grid | None:
    """0-9 and A-Z only, row by row; the controls share the last row, 確定 far from 中止 and クリア.

    The last row reads 中止, the remaining characters, クリア, 訂正, 確定: the
    key that spends a try has 訂正 on one side and the edge on the other, so a
    finger aiming at it never lands on the key that ends the session or wipes
    the entry (at least one whole key lies between them).  None when the last
    row has no room for that.
    """
    if order == "qwerty" and n_cols == 10:
        cells = [_Cell(ch, c, r) for r, row in enumerate(QWERTY_ROWS) for c, ch in enumerate(row)]
        # free cells: (9,2) right of L, (7..9,3) right of M; 確定 at (7,3) has 訂正 beside it
        # and M, J, K, L around: 中止 and クリア are a whole key away
        placed = {"cancel": (9, 2), "enter": (7, 3), "backspace": (8, 3), "clear": (9, 3)}
        cells += [_Cell(k, c, r) for k, (c, r) in placed.items()]
        return _Grid(10, 4, tuple(cells), (1.0,) * 10)
    chars = "".join(QWERTY_ROWS) if order == "qwerty" else DIGITS + UPPER
    n_rows = math.ceil((len(chars) + len(CONTROL_KEYS)) / n_cols)
    before = (n_rows - 1) * n_cols
    rest = chars[before:]
    if len(rest) + len(CONTROL_KEYS) > n_cols or len(chars) < before:
        return None
    cells = [_Cell(ch, i % n_cols, i // n_cols) for i, ch in enumerate(chars[:before])]
    last = n_rows - 1
    cells.append(_Cell("cancel", 0, last))
    cells += [_Cell(ch, 1 + i, last) for i, ch in enumerate(rest)]
    cells += [_Cell(k, n_cols - 3 + i, last) for i, k in enumerate(("clear", "backspace", "enter"))]
    return _Grid(n_cols, n_rows, tuple(cells), (1.0,) * n_cols)


def _key_size_mm(grid: _Grid, avail_w_mm: float, avail_h_mm: float, gap_mm: float, want_mm: float) -> float:
    """The largest key side that fits the area, capped at ``want_mm * GROW``."""
    by_w = (avail_w_mm - gap_mm * (grid.n_cols - 1)) / sum(grid.col_widths)
    by_h = (avail_h_mm - gap_mm * (grid.n_rows - 1)) / grid.n_rows
    return min(by_w, by_h, want_mm * GROW)


def _ceil_px(mm: float, ppm: float) -> int:
    return math.ceil(mm * ppm - 1e-9)


def _place(grid: _Grid, x0: int, y0: int, key_w: int, key_h: int, gap_x: int, gap_y: int,
           labels: dict[str, str]) -> list[Key]:
    col_x, col_w, x = [], [], x0
    for mult in grid.col_widths:
        w = key_w if mult == 1.0 else math.ceil(key_w * mult)
        col_x.append(x)
        col_w.append(w)
        x += w + gap_x
    keys = []
    for cell in grid.cells:
        kx = col_x[cell.col]
        kw = sum(col_w[cell.col: cell.col + cell.cols]) + gap_x * (cell.cols - 1)
        ky = y0 + cell.row * (key_h + gap_y)
        kh = key_h * cell.rows + gap_y * (cell.rows - 1)
        keys.append(Key(cell.id, labels.get(cell.id, cell.id), kx, ky, kw, kh))
    return keys


def _grid_px(grid: _Grid, key_w: int, key_h: int, gap_x: int, gap_y: int) -> tuple[int, int]:
    w = sum(key_w if m == 1.0 else math.ceil(key_w * m) for m in grid.col_widths) + gap_x * (grid.n_cols - 1)
    return w, key_h * grid.n_rows + gap_y * (grid.n_rows - 1)


def _labels(lang: str) -> dict[str, str]:
    return {k: STRINGS[lang][f"key_{k}"] for k in (*CONTROL_KEYS, "lang", "retry", "continue", "accept")}


def _info_regions(x: int, y: int, w: int, h: int, lang_w: int, lang_h: int, gap: int,
                  field_share: float, key_top: int) -> tuple[Key, dict[str, Box]]:
    """The language key and the title, legend, field and status boxes of the info region.

    Three shapes: a wide short strip (landscape, keys below), a narrow column
    (landscape, keys beside) and a wide tall block (portrait, keys below).
    Shares of the height follow what each box must hold at 5 mm ink: the
    title (the PIN's name) takes the most, the field one line.
    """
    left_w = w - lang_w - gap
    if h < 3 * lang_h and w > 3 * h:  # strip: title and legend left of the lang key
        t, lg = round(h * 0.27), round(h * 0.43)
        # bottom-aligned with the legend: away from the top bezel, clear of the field row
        lang = Key("lang", "", x + w - lang_w, max(key_top, y + t + lg - lang_h), lang_w, lang_h)
        f, fw = h - t - lg, round(left_w * 0.50)
        return lang, {
            "title": (x, y, left_w, t),
            "legend": (x, y + t, left_w, lg),
            "field": (x, y + t + lg, fw, f),
            # the status may run on under the lang key when the key ends above the field row
            "status": (x + fw + gap, y + t + lg,
                       (w if lang.y + lang.h <= y + t + lg else left_w) - fw - gap, f),
        }
    if left_w < 0.6 * w:  # column: full-width boxes, the lang key alone on the bottom row
        lang = Key("lang", "", x + w - lang_w, y + h - lang_h, lang_w, lang_h)
        rest_h = h - lang_h - gap
        t, lg, f = round(rest_h * 0.34), round(rest_h * 0.30), round(rest_h * 0.13)
        return lang, {
            "title": (x, y, w, t),
            "legend": (x, y + t, w, lg),
            "field": (x, y + t + lg, w, f),
            "status": (x, y + t + lg + f, w, rest_h - t - lg - f),
        }
    if h < 4.5 * lang_h:  # a short block (portrait, 41 keys): the name beside the lang key, one row
        # for the field and the status
        lang = Key("lang", "", x + w - lang_w, max(y, key_top), lang_w, lang_h)
        t = max(lang.y + lang_h - y, round(h * 0.30))
        f = round(h * 0.28)
        lg = h - t - f
        fw = round(w * 0.55)
        return lang, {
            "title": (x, y, left_w, t),
            "legend": (x, y + t, w, lg),
            "field": (x, y + t + lg, fw, f),
            "status": (x + fw + gap // 2, y + t + lg, w - fw - gap // 2, f),
        }
    # block: title, legend full width; the field (with its count) beside the lang key; status
    t, lg = round(h * 0.26), round(h * 0.30)
    f = max(lang_h, round(h * 0.14))
    lang = Key("lang", "", x + w - lang_w, max(key_top, y + t + lg + (f - lang_h) // 2), lang_w, lang_h)
    return lang, {
        "title": (x, y, w, t),
        "legend": (x, y + t, w, lg),
        "field": (x, y + t + lg, left_w, f),
        "status": (x, y + t + lg + f, w, h - t - lg - f),
    }


def build_layout(pin_type: PinType, screen: ScreenConfig, keypad: KeypadConfig, lang: str = "ja") -> KeyLayout:
    """The keypad for ``pin_type`` on this screen: only its characters, the controls and ``lang``.

    Raises LayoutError (one line, naming the sizes) when keys of the required
    size cannot fit; a layout is never silently made smaller than required.
    """
    rule = PIN_RULES[pin_type]
    ppx, ppy = screen.width_px / screen.width_mm, screen.height_px / screen.height_mm
    labels = _labels(lang)
    gap_mm = keypad.gap_mm
    gap_x, gap_y = _ceil_px(gap_mm, ppx), _ceil_px(gap_mm, ppy)
    mx, my = _ceil_px(MARGIN_MM, ppx), _ceil_px(MARGIN_MM, ppy)
    avail_w, avail_h = screen.width_px - 2 * mx, screen.height_px - 2 * my
    avail_w_mm, avail_h_mm = avail_w / ppx, avail_h / ppy
    if rule.keypad == "digits":
        want, floor = keypad.digit_key_mm, keypad.digit_key_mm
        side = screen.width_mm > screen.height_mm
        # stacked (portrait) screens take the four-row grid too when it fits: a row less of keys
        # is a row more of words
        candidates = [_digits_grid(True)] if side else [_digits_grid(True), _digits_grid(False)]
    else:
        want, floor = keypad.alnum_key_mm, MIN_KEY_MM
        side = False
        candidates = [g for c in range(10, 3, -1) if (g := _alnum_grid(c, keypad.alnum_order)) is not None]
    # the words would like INFO_PREFERRED_H of the height; they must have INFO_MIN_H_MM
    info_options = (max(INFO_MIN_H_MM, INFO_PREFERRED_H * screen.height_mm), INFO_MIN_H_MM)
    if side:  # beside the keys the words want INFO_MIN_W_MM; large configured keys may take some
        info_options = (INFO_MIN_W_MM, INFO_FLOOR_W_MM)
    for info_mm in info_options:
        if side:
            kp_w_mm, kp_h_mm = avail_w_mm - info_mm - gap_mm, avail_h_mm
        else:
            kp_w_mm, kp_h_mm = avail_w_mm, avail_h_mm - info_mm - gap_mm
        best: tuple[float, _Grid] | None = None
        for grid in candidates:
            size = _key_size_mm(grid, kp_w_mm, kp_h_mm, gap_mm, want)
            if best is None or size > best[0] + 1e-9:
                best = (size, grid)
        size_mm, grid = best  # type: ignore[misc]
        if size_mm >= floor - 1e-9:
            if info_mm != info_options[0]:
                size_mm = floor  # keys only as big as required: the rest goes to the words
            break
    if size_mm < floor - 1e-9:
        raise LayoutError(
            f"{rule.keypad} keypad does not fit a {screen.width_mm:g}x{screen.height_mm:g} mm screen: "
            f"keys would be {max(size_mm, 0):.1f} mm, at least {floor:g} mm needed with {gap_mm:g} mm gaps")
    size_mm = max(size_mm, floor)
    key_w, key_h = _ceil_px(size_mm, ppx), _ceil_px(size_mm, ppy)
    # pixel rounding must not push the grid off its area: step down a pixel while it overflows
    kp_w, kp_h = math.floor(kp_w_mm * ppx), math.floor(kp_h_mm * ppy)
    grid_w, grid_h = _grid_px(grid, key_w, key_h, gap_x, gap_y)
    while (grid_w > kp_w or grid_h > kp_h) and key_w > _ceil_px(floor, ppx) and key_h > _ceil_px(floor, ppy):
        key_w, key_h = key_w - (grid_w > kp_w), key_h - (grid_h > kp_h)
        grid_w, grid_h = _grid_px(grid, key_w, key_h, gap_x, gap_y)
    if grid_w > kp_w or grid_h > kp_h:
        raise LayoutError(f"{rule.keypad} keypad does not fit {screen.width_px}x{screen.height_px} px "
                          f"with {floor:g} mm keys and {gap_mm:g} mm gaps")
    lang_w, lang_h = _ceil_px(max(LANG_KEY_W_MM, floor), ppx), _ceil_px(max(LANG_KEY_H_MM, floor), ppy)
    if side:
        kx = mx + avail_w - grid_w
        ky = my + (avail_h - grid_h) // 2
        info = (mx, my, avail_w - grid_w - gap_x * 2, avail_h)
    else:
        kx = mx + (avail_w - grid_w) // 2
        ky = my + avail_h - grid_h
        # words need no bezel margin (nothing there is touched): the info box starts near the top edge
        top = _ceil_px(TEXT_MARGIN_MM, ppy)
        info = (mx, top, avail_w, my + avail_h - grid_h - gap_y - top)
    keys = _place(grid, kx, ky, key_w, key_h, gap_x, gap_y, labels)
    if lang_w > info[2] or lang_h > info[3]:
        raise LayoutError(f"no room for the language key beside the {rule.keypad} keypad "
                          f"on a {screen.width_mm:g}x{screen.height_mm:g} mm screen")
    # the field needs room for max_len dots; the status (tries left, problems) gets the rest
    lang_key, regions = _info_regions(*info, lang_w, lang_h, gap_x, 0.30 if rule.max_len <= 6 else 0.40, my)
    if any(w <= 0 or h <= 0 for _, _, w, h in regions.values()):
        raise LayoutError(f"no room for the title, legend and field on a "
                          f"{screen.width_mm:g}x{screen.height_mm:g} mm screen")
    keys.append(Key("lang", labels["lang"], lang_key.x, lang_key.y, lang_key.w, lang_key.h))
    key_mm = min(key_w / ppx, key_h / ppy)
    return KeyLayout(rule.keypad, screen.width_px, screen.height_px, ppx, ppy, tuple(keys),
                     key_mm, gap_mm, regions)


@functools.lru_cache(maxsize=128)
def build_screen_layout(screen_id: str, pin_type: PinType | None, screen: ScreenConfig,
                        keypad: KeypadConfig, lang: str = "ja") -> KeyLayout:
    """The keys of any screen: the keypad on ``entry``, the screen's buttons elsewhere.

    Cached: the same arguments give the same ``KeyLayout`` object, so the app
    may call this for every View and the renderer still redraws only changes.

    Buttons sit in one row along the bottom edge; ``lang`` at the top right.
    The message area is ``regions["message"]``.
    """
    if screen_id == "entry":
        if pin_type is None:
            raise ValueError("the entry screen needs a PIN type")
        return build_layout(pin_type, screen, keypad, lang)
    ppx, ppy = screen.width_px / screen.width_mm, screen.height_px / screen.height_mm
    labels = _labels(lang)
    mx, my = _ceil_px(MARGIN_MM, ppx), _ceil_px(MARGIN_MM, ppy)
    gap_x, gap_y = _ceil_px(max(keypad.gap_mm, 8.0), ppx), _ceil_px(keypad.gap_mm, ppy)
    w, h = screen.width_px - 2 * mx, screen.height_px - 2 * my
    buttons = SCREEN_BUTTONS[screen_id]
    keys: list[Key] = []
    top, bottom = my, my + h
    if "lang" in buttons:
        lw, lh = _ceil_px(LANG_KEY_W_MM, ppx), _ceil_px(LANG_KEY_H_MM, ppy)
        keys.append(Key("lang", labels["lang"], mx + w - lw, my, lw, lh))
        top = my + lh + gap_y
    row = [b for b in buttons if b != "lang"]
    if row:
        bh = _ceil_px(BUTTON_H_MM, ppy)
        bw = min(_ceil_px(BUTTON_W_MM * 1.4, ppx), (w - gap_x * (len(row) - 1)) // len(row))
        if bw < _ceil_px(MIN_KEY_MM, ppx):
            raise LayoutError(f"{len(row)} buttons do not fit {screen.width_mm:g} mm")
        total = bw * len(row) + gap_x * (len(row) - 1)
        x = mx + (w - total) // 2
        by = my + h - bh
        for b in row:
            keys.append(Key(b, labels[b], x, by, bw, bh))
            x += bw + gap_x
        bottom = by - gap_y
    regions = {"message": (mx, top, w, bottom - top)}
    return KeyLayout("buttons", screen.width_px, screen.height_px, ppx, ppy, tuple(keys), 0.0,
                     keypad.gap_mm, regions)


# -- pressing ---------------------------------------------------------------

class PressTracker:
    """One finger on one layout: highlight while down, commit on a clean release.

    ``highlighted`` is the key id the View should show as pressed (or None).
    Call ``set_layout`` whenever the screen changes; it cancels any press.
    """

    def __init__(self, layout: KeyLayout, release_tolerance_mm: float, repeat_debounce_s: float) -> None:
        self.layout = layout
        self.release_tolerance_mm = release_tolerance_mm
        self.repeat_debounce_s = repeat_debounce_s
        self.highlighted: str | None = None
        self._last_commit: tuple[str, float] | None = None

    @classmethod
    def from_config(cls, layout: KeyLayout, keypad: KeypadConfig) -> "PressTracker":
        return cls(layout, keypad.release_tolerance_mm, keypad.repeat_debounce_s)

    def set_layout(self, layout: KeyLayout) -> None:
        self.layout = layout
        self.highlighted = None

    def _within(self, key_id: str, x_px: float, y_px: float) -> bool:
        tol = self.release_tolerance_mm
        return self.layout.key(key_id).contains(
            x_px, y_px, tol * self.layout.px_per_mm_x, tol * self.layout.px_per_mm_y)

    def down(self, x_px: float, y_px: float, t_s: float) -> str | None:
        """A finger lands: highlight the key under it (None in a gap or a bounce)."""
        key_id = self.layout.hit(x_px, y_px)
        if key_id is not None and self._last_commit is not None:
            last_id, released_t = self._last_commit
            if last_id == key_id and 0 <= t_s - released_t < self.repeat_debounce_s:
                key_id = None  # a bounce of the key just released
        self.highlighted = key_id
        return key_id

    def move(self, x_px: float, y_px: float, t_s: float) -> str | None:
        """The finger moves: leaving the key (beyond the tolerance) cancels the press for good."""
        if self.highlighted is not None and not self._within(self.highlighted, x_px, y_px):
            self.highlighted = None
        return self.highlighted

    def up(self, x_px: float, y_px: float, t_s: float) -> str | None:
        """The finger lifts: the committed key id, or None (gap, slide-off, bounce)."""
        key_id, self.highlighted = self.highlighted, None
        if key_id is None or not self._within(key_id, x_px, y_px):
            return None
        self._last_commit = (key_id, t_s)
        return key_id

    def cancel(self) -> None:
        """Forget the press in progress (screen changed, touch lost)."""
        self.highlighted = None
