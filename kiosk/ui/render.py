"""Draw a ``kiosk.view.View`` onto a pygame Surface, and nothing it does not say.

Theory of operation
-------------------
``Renderer.render(surface, view, layout)`` is the only drawing entry point.
``layout`` is the ``kiosk.keypad.KeyLayout`` of the screen (from
``build_screen_layout``), the same object the app hit-tests, so what is drawn
is exactly what can be pressed.  The renderer decides nothing: Enter looks
disabled because ``view.enter_enabled`` is False, the dots are
``view.entered`` (a count; the View never holds a character), the warning
colour comes from ``tries_left == 1``.

Redraw only what changed: the renderer remembers the last View and layout.
The same View again draws nothing and returns ``[]``.  On the entry screen a
new dot, a pressed key, Enter becoming enabled, a problem or a countdown
redraws just those boxes and returns their rectangles for
``pygame.display.update``.  Anything else redraws the whole screen.

Colours are a fixed palette; ``CONTRAST_PAIRS`` lists every text/background
pair used so a test can compute WCAG contrast (>= 4.5:1) from it.  Type sizes
are in millimetres of the real panel (large: citizens may be elderly).
"""
from __future__ import annotations

import math

import pygame

from kiosk.keypad import KeyLayout
from kiosk.pin import PIN_RULES
from kiosk.ui.fonts import Fonts, wrap
from kiosk.ui.strings import STRINGS, text
from kiosk.view import View

PALETTE: dict[str, tuple[int, int, int]] = {
    "bg": (255, 255, 255),
    "text": (17, 17, 17),
    "muted": (70, 70, 70),
    "accent": (11, 61, 145),  # titles, lang key
    "warn": (176, 0, 32),  # last try, problems, countdown
    "key_face": (232, 238, 246),
    "key_text": (17, 17, 17),
    "key_border": (60, 72, 90),
    "edit_face": (255, 243, 204),  # backspace, clear
    "cancel_face": (252, 226, 226),
    "cancel_text": (139, 0, 0),
    "enter_face": (11, 110, 46),
    "enter_text": (255, 255, 255),
    "disabled_face": (217, 217, 217),
    "disabled_text": (77, 77, 77),
    "pressed_face": (11, 61, 145),
    "pressed_text": (255, 255, 255),
    "field_face": (255, 255, 255),
    "field_border": (0, 0, 0),
    "dot": (0, 0, 0),  # not the text colour: tests count dots by colour beside the count
    "slot": (110, 110, 110),  # empty-slot rings: 5.1:1 on the page (non-text parts need 3:1)
    "digit_face": (222, 242, 222),  # digits drawn on another face than letters: 0 is not O, 1 is not I
    "ok": (11, 110, 46),
    "target": (200, 0, 0),
    "target_done": (120, 120, 120),
    "cleared": (0, 0, 0),
}

#: Every (text, background) pair drawn; each must reach 4.5:1 (WCAG AA, normal text).
CONTRAST_PAIRS = (
    ("text", "bg"), ("muted", "bg"), ("accent", "bg"), ("warn", "bg"), ("ok", "bg"),
    ("key_text", "key_face"), ("key_text", "edit_face"), ("cancel_text", "cancel_face"),
    ("enter_text", "enter_face"), ("disabled_text", "disabled_face"), ("pressed_text", "pressed_face"),
    ("accent", "bg"), ("dot", "field_face"), ("target", "bg"), ("key_text", "digit_face"),
)

#: Every non-text part against what it sits on; each must reach 3:1 (WCAG 1.4.11).
NON_TEXT_PAIRS = (
    ("key_border", "bg"), ("key_border", "key_face"), ("key_border", "digit_face"),
    ("key_border", "disabled_face"), ("slot", "field_face"), ("dot", "field_face"),
    ("field_border", "bg"), ("accent", "bg"), ("target", "bg"), ("target_done", "bg"),
)

# Type sizes in millimetres of *ink* on the panel (what a reader sees), (largest, smallest).
# Citizens may be elderly: every title, legend, problem and body line is at least 5 mm,
# every key label at least 4 mm; the PIN's name (the entry title) is the largest text there.
TITLE_INK_MM = (9.0, 5.2)
BODY_INK_MM = (7.0, 5.0)
LEGEND_INK_MM = (6.5, 5.0)
STATUS_INK_MM = (6.5, 5.0)
KEY_INK_MM = 4.2
#: The technician's screens (calibration, drift check): a trained adult with time to read.
TECH_TITLE_INK_MM = (7.0, 4.0)
TECH_BODY_INK_MM = (5.5, 3.5)
#: Below the smallest size only when a panel has no room at all (recorded in ``Renderer.undersized``).
FLOOR_INK_MM = 3.0
BUTTON_STYLE = {"cancel": ("cancel_face", "cancel_text"), "retry": ("enter_face", "enter_text"),
                "continue": ("enter_face", "enter_text"), "accept": ("enter_face", "enter_text"),
                "lang": ("bg", "accent"), "backspace": ("edit_face", "key_text"),
                "clear": ("edit_face", "key_text"), "digit": ("digit_face", "key_text")}


def _rect(box: tuple[int, int, int, int]) -> pygame.Rect:
    return pygame.Rect(*box)


class Renderer:
    """Draws Views; remembers the last one so an unchanged screen costs nothing.

    ``text_lines`` maps each text role drawn ("title", "legend", "count",
    "status", "body", "key:<id>", ...) to the rectangles of its lines and
    their colour, so pixel tests can measure the ink that was really drawn.
    ``undersized`` lists (role, ink mm) for words that had to go below their
    smallest size to fit at all.
    """

    def __init__(self, fonts: Fonts) -> None:
        self.fonts = fonts
        self._last: tuple[View, KeyLayout] | None = None
        self.text_lines: dict[str, list[tuple[pygame.Rect, str]]] = {}
        #: role -> the words drawn there (tests read which words a screen says)
        self.words: dict[str, str] = {}
        self.undersized: list[tuple[str, float]] = []
        #: role -> font size (px) it was drawn at
        self.sizes_px: dict[str, int] = {}
        #: role -> ink height (mm) of its words as set (the tallest glyph run of the words)
        self.ink_mm: dict[str, float] = {}
        self._title_mm = TITLE_INK_MM[0]  # ink of the entry's title: no other words there are taller

    def forget(self) -> None:
        """Draw everything next time (after the surface was cleared or replaced)."""
        self._last = None

    # -- entry point -------------------------------------------------------
    def render(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> list[pygame.Rect]:
        """Draw ``view``; the rectangles that changed (``[]`` when nothing did)."""
        last, self._last = self._last, (view, layout)
        same_layout = last is not None and (last[1] is layout or last[1] == layout)
        if same_layout and last[0] == view:  # type: ignore[index]
            return []
        if (same_layout and view.screen == "entry"
                and _same_frame(last[0], view)):  # type: ignore[index]
            return self._entry_changes(surface, last[0], view, layout)  # type: ignore[index]
        self.text_lines, self.words, self.undersized, self.sizes_px, self.ink_mm = {}, {}, [], {}, {}
        self._full(surface, view, layout)
        return [surface.get_rect()]

    # -- helpers -----------------------------------------------------------
    def _px(self, layout: KeyLayout, mm: float) -> int:
        return max(8, round(mm * layout.px_per_mm_y))

    def _ink_px(self, layout: KeyLayout, ink_mm: float, words: str, bold: bool) -> int:
        """The font size (px) whose ink for ``words`` is ``ink_mm`` tall on this panel."""
        return max(8, math.ceil(ink_mm * layout.px_per_mm_y / self.fonts.ink_em(words, bold)))

    def _text_box(self, surface: pygame.Surface, layout: KeyLayout, box: pygame.Rect, words: str,
                  colour: str | list[str], sizes_mm: tuple[float, float], role: str, *, bold: bool = False,
                  centre: bool = False, valign: str = "top", cap_mm: float | None = None) -> float:
        """Fit ``words`` into ``box`` at the largest ink size in ``sizes_mm``; the ink mm drawn.

        ``colour`` may be one colour per paragraph (status lines of different weight).
        """
        self.words[role] = words
        if cap_mm is not None:  # never more ink than the PIN's name, even where the name had to shrink
            sizes_mm = (min(sizes_mm[0], cap_mm), min(sizes_mm[1], cap_mm))
        max_px = self._ink_px(layout, sizes_mm[0], words, bold)
        min_px = min(max_px, self._ink_px(layout, sizes_mm[1], words, bold))
        if self.fonts.fits(words, box.w, box.h, min_px, bold) or min_px <= 8:
            font, lines = self.fonts.fit(words, box.w, box.h, max_px, min_px, bold)
        else:  # no room at the smallest size: shrink further (to the floor, else to what fits), and say so
            floor_px = min(min_px, self._ink_px(layout, FLOOR_INK_MM, words, bold))
            if not self.fonts.fits(words, box.w, box.h, floor_px, bold):
                floor_px = 8
            font, lines = self.fonts.fit(words, box.w, box.h, min_px, floor_px, bold)
            self.undersized.append((role, round(font.size_px * self.fonts.ink_em(words, bold)
                                                / layout.px_per_mm_y, 2)))
        self.sizes_px[role] = font.size_px
        colours = colour if isinstance(colour, list) else [colour]
        para_of_line = _paragraph_of_lines(self.fonts, font, words, box.w, lines)
        line_h = self.fonts.line_pitch(font)
        total = line_h * len(lines)
        y = box.y + {"top": 0, "middle": max(0, (box.h - total) // 2), "bottom": max(0, box.h - total)}[valign]
        y += self.fonts.ink_offset(font)
        clip = surface.get_clip()
        surface.set_clip(box)
        drawn = self.text_lines.setdefault(role, [])
        for line, para in zip(lines, para_of_line):
            ink = colours[min(para, len(colours) - 1)]
            img = font.render(line, True, PALETTE[ink])
            x = box.x + (box.w - img.get_width()) // 2 if centre else box.x
            surface.blit(img, (x, y))
            drawn.append((pygame.Rect(x, y, img.get_width(), img.get_height()).clip(box), ink))
            y += line_h
        surface.set_clip(clip)
        ink_mm = self.ink_mm[role] = font.size_px * self.fonts.ink_em(words, bold) / layout.px_per_mm_y
        return ink_mm

    def _key(self, surface: pygame.Surface, layout: KeyLayout, key, view: View) -> pygame.Rect:
        rect = pygame.Rect(key.x, key.y, key.w, key.h)
        if view.pressed_key == key.id:
            face, ink = "pressed_face", "pressed_text"
        elif key.id == "enter":
            face, ink = ("enter_face", "enter_text") if view.enter_enabled else ("disabled_face", "disabled_text")
        elif len(key.id) == 1 and key.id.isdigit():
            face, ink = BUTTON_STYLE["digit"]
        else:
            face, ink = BUTTON_STYLE.get(key.id, ("key_face", "key_text"))
        radius = max(4, min(rect.w, rect.h) // 8)
        surface.fill(PALETTE["bg"], rect)
        pygame.draw.rect(surface, PALETTE[face], rect, border_radius=radius)
        pygame.draw.rect(surface, PALETTE["key_border"] if face != "bg" else PALETTE["accent"], rect,
                         width=max(2, rect.h // 30), border_radius=radius)
        special = f"key_{view.screen}_{key.id}"  # e.g. "retry" reads やり直す on the calibration result
        label = (key.label if len(key.id) == 1
                 else text(view.lang, special if special in STRINGS[view.lang] else f"key_{key.id}"))
        inner = rect.inflate(-max(6, rect.w // 14), -max(4, rect.h // 10))
        max_px = round(rect.h * 0.55)
        min_px = min(max_px, self._ink_px(layout, KEY_INK_MM, label, True))
        if self.fonts.get(min_px, True).size(label)[0] > inner.w:
            # 「クリア」 or "Cancel" on a 12 mm key: at 4 mm ink they need 14-17 mm
            min_px = 8
            self.undersized.append((f"key:{key.id}", 0.0))
        font, lines = self.fonts.fit(label, inner.w, inner.h, max_px, min_px, bold=True, one_line=True)
        line_h = self.fonts.line_pitch(font)
        y = rect.y + (rect.h - line_h * len(lines)) // 2 + self.fonts.ink_offset(font)
        drawn = self.text_lines[f"key:{key.id}"] = []
        for line in lines:
            img = font.render(line, True, PALETTE[ink])
            x = rect.x + (rect.w - img.get_width()) // 2
            surface.blit(img, (x, y))
            drawn.append((pygame.Rect(x, y, img.get_width(), img.get_height()).clip(rect), ink))
            y += line_h
        return rect

    # -- whole screens -----------------------------------------------------
    def _full(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> None:
        surface.fill(PALETTE["bg"])
        if view.screen == "entry":
            self._entry_static(surface, view, layout)
            self._field(surface, view, layout)
            self._status(surface, view, layout)
            for key in layout.keys:
                self._key(surface, layout, key, view)
        elif view.screen in ("calibration", "drift_check", "calibration_result"):
            self._targets(surface, view, layout)
        else:
            self._message(surface, view, layout)
        for key in layout.keys if view.screen != "entry" else ():
            self._key(surface, layout, key, view)

    def _entry_static(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> None:
        """The PIN's name (the largest words here: a wrong choice spends tries) and the legend."""
        assert view.pin_type is not None
        lang = view.lang
        name = text(lang, f"name_{view.pin_type.value}")
        rule = PIN_RULES[view.pin_type]
        which = f"entry_change_{view.step}" if view.action == "change" and view.step else "entry_verify"
        if rule.keypad == "alnum":
            # the letters keypad leaves a third of the words' room: the name alone (the step
            # indicator in the status says which PIN of a change), so it can be large
            which = "entry_name_only"
        self._text_box(surface, layout, _rect(layout.regions["title"]), text(lang, which, name=name),
                                  "accent", TITLE_INK_MM, "title", bold=True, valign="middle")
        self._title_mm = self.ink_mm["title"]
        legend = text(lang, f"legend_{rule.keypad}")
        length = (text(lang, "length_fixed", min=rule.min_len) if rule.min_len == rule.max_len
                  else text(lang, "length_range", min=rule.min_len, max=rule.max_len))
        joined = "legend_with_length" if rule.keypad == "digits" else "legend_with_length_inline"
        words = text(lang, joined, legend=legend, length=length)
        # never larger than the PIN's name: that choice spends tries when wrong
        self._text_box(surface, layout, _rect(layout.regions["legend"]), words, "text",
                       LEGEND_INK_MM, "legend", valign="middle", cap_mm=self._title_mm)

    def _field(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> pygame.Rect:
        """The masked field: one dot per typed character, rings for the ones still needed, and the count."""
        box = _rect(layout.regions["field"])
        surface.fill(PALETTE["bg"], box)
        assert view.pin_type is not None
        rule = PIN_RULES[view.pin_type]
        slots = max(rule.min_len, min(view.entered + (view.entered < rule.max_len), rule.max_len))
        slots = max(slots, view.entered)
        inner = box.inflate(-8, -8)
        unit = "digits" if rule.keypad == "digits" else "alnum"
        count = text(view.lang, f"count_{unit}", n=view.entered)
        widest = text(view.lang, f"count_{unit}", n=88)
        count_w = min(inner.w * 2 // 5, self.fonts.get(self._ink_px(layout, STATUS_INK_MM[1], widest, False)).size(
            widest)[0] + 8)
        dots_w = inner.w - count_w
        pitch = min(inner.h * 0.75, (dots_w - inner.h * 0.3) / max(slots, 1))
        radius = max(3, int(pitch * 0.34))
        field = pygame.Rect(inner.x, inner.y, min(dots_w, int(pitch * slots + inner.h * 0.3)), inner.h)
        pygame.draw.rect(surface, PALETTE["field_face"], field, border_radius=6)
        pygame.draw.rect(surface, PALETTE["field_border"], field, width=3, border_radius=6)
        cx0 = field.x + inner.h * 0.15 + pitch / 2
        cy = field.centery
        for i in range(slots):
            centre = (round(cx0 + i * pitch), cy)
            if i < view.entered:
                pygame.draw.circle(surface, PALETTE["dot"], centre, radius)
            else:
                pygame.draw.circle(surface, PALETTE["slot"], centre, radius, width=max(2, radius // 4))
        self.text_lines.pop("count", None)
        self._text_box(surface, layout, pygame.Rect(field.right + 8, box.y, box.right - field.right - 8, box.h),
                       count, "text", STATUS_INK_MM, "count", valign="middle", cap_mm=self._title_mm)
        return box

    def _status(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> pygame.Rect:
        """Step of a change, what to do about a problem, tries left (current PIN only), the countdown."""
        box = _rect(layout.regions["status"])
        surface.fill(PALETTE["bg"], box)
        self.text_lines.pop("status", None)
        lang = view.lang
        lines: list[tuple[str, str]] = []
        if view.action == "change" and view.step:
            lines.append((text(lang, f"step_{view.step}"), "accent"))
            rule = PIN_RULES[view.pin_type] if view.pin_type is not None else None
            if view.step in ("new", "confirm") and rule is not None and rule.keypad == "alnum" \
                    and view.problem != "needs_letter_and_digit":
                lines.append((text(lang, "legend_new_alnum"), "text"))  # the new-PIN rule, before any error
        if view.problem:
            lines.append((self._problem_words(view), "warn"))
        tries_apply = view.action != "change" or view.step in (None, "current")
        if view.tries_left is not None and tries_apply:
            lines.append((text(lang, "tries_left", n=view.tries_left), "warn" if view.tries_left <= 1 else "text"))
        if view.seconds_left is not None:
            lines.append((text(lang, "seconds_left", n=view.seconds_left), "warn"))
        if lines:
            words, colours = "\n".join(w for w, _ in lines), [c for _, c in lines]
            if not self.fonts.fits(words, box.w, box.h, self._ink_px(layout, STATUS_INK_MM[1], words, False)):
                # no room for a line each: let them share the width, in the most urgent colour
                words = text(lang, "status_separator").join(w for w, _ in lines)
                colours = ["warn" if "warn" in colours else colours[0]]
            self._text_box(surface, layout, box, words, colours, STATUS_INK_MM, "status", valign="middle",
                           cap_mm=self._title_mm)
        return box

    def _problem_words(self, view: View) -> str:
        """The problem as what to do: how many more characters, which key to press."""
        lang, code = view.lang, view.problem
        key = f"problem_{code}"
        if key not in STRINGS[lang]:
            return str(code)
        if code == "too_short" and view.pin_type is not None:
            rule = PIN_RULES[view.pin_type]
            fixed = "_fixed" if rule.min_len == rule.max_len else ""
            return text(lang, f"problem_too_short{fixed}", n=max(1, rule.min_len - view.entered))
        return text(lang, key)

    def _entry_changes(self, surface: pygame.Surface, old: View, new: View, layout: KeyLayout) -> list[pygame.Rect]:
        dirty: list[pygame.Rect] = []
        if old.entered != new.entered:
            dirty.append(self._field(surface, new, layout))
        if ((old.problem, old.tries_left, old.seconds_left) != (new.problem, new.tries_left, new.seconds_left)
                or (new.problem == "too_short" and old.entered != new.entered)):
            dirty.append(self._status(surface, new, layout))
        keys = {old.pressed_key, new.pressed_key} if old.pressed_key != new.pressed_key else set()
        if old.enter_enabled != new.enter_enabled:
            keys.add("enter")
        for key in layout.keys:
            if key.id in keys:
                dirty.append(self._key(surface, layout, key, new))
        return dirty

    def _message(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> None:
        lang, screen = view.lang, view.screen
        box = _rect(layout.regions["message"])
        title_key = f"{screen}_title"
        if screen == "result_ok" and view.action == "change":
            title_key = "result_ok_changed_title"
        body = text(lang, f"{screen}_body", n=view.tries_left if view.tries_left is not None else "-")
        if screen == "fault" and view.fault:
            known = f"fault_{view.fault}" in STRINGS[lang]
            detail = text(lang, f"fault_{view.fault}") if known else text(lang, "fault_other", code=view.fault)
            body = f"{detail}\n{body}"
        colour = {"last_try_warning": "warn", "wrong_pin": "warn", "locked": "warn",
                  "fault": "warn", "result_ok": "ok"}.get(screen, "accent")
        pad = round(3.0 * layout.px_per_mm_y)
        inner = box.inflate(-2 * pad, -pad)
        if inner.h > inner.w:  # portrait: the words in the middle of the screen, not at the top
            inner = pygame.Rect(inner.x, inner.y + (inner.h - inner.w) // 2, inner.w, inner.w)
        title_h = int(inner.h * 0.38)
        self._text_box(surface, layout, pygame.Rect(inner.x, inner.y, inner.w, title_h), text(lang, title_key),
                       colour, TITLE_INK_MM, "title", bold=True, centre=True, valign="bottom")
        foot = round(9.0 * layout.px_per_mm_y) if view.seconds_left is not None else 0
        body_box = pygame.Rect(inner.x, inner.y + title_h + pad, inner.w, inner.h - title_h - pad - foot)
        self._text_box(surface, layout, body_box, body, "text", BODY_INK_MM, "body", centre=True)
        if foot:
            self._text_box(surface, layout, pygame.Rect(inner.x, inner.bottom - foot, inner.w, foot),
                           text(lang, "seconds_left", n=view.seconds_left), "warn", BODY_INK_MM, "status",
                           centre=True)

    def _targets(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> None:
        """Calibration and drift-check targets; the result screen shows a residual map instead."""
        lang, t = view.lang, view.targets
        if view.screen == "calibration_result":
            self._residual_map(surface, view, layout)
            return
        arm = self._px(layout, 6.0)
        w, h = surface.get_size()
        pts = t.targets_px if t is not None else ()
        # words go in the widest horizontal band between target rows, so they never hide a target
        edges = sorted({0, h, *(y for _, y in pts)})
        top, bottom = max(zip(edges, edges[1:]), key=lambda ab: ab[1] - ab[0])
        band = pygame.Rect(w // 10, top + arm + 4, w * 8 // 10, max(10, bottom - top - 2 * arm - 8))
        title_h = band.h // 3
        self._text_box(surface, layout, pygame.Rect(band.x, band.y, band.w, title_h),
                       text(lang, f"{view.screen}_title"), "accent", TECH_TITLE_INK_MM, "title",
                       bold=True, centre=True, valign="bottom")
        if t is None:
            return
        i = (t.current or 0) + 1
        body = text(lang, "targets_validate_body" if t.phase == "validate" else "targets_body", i=i, n=len(pts))
        if t.message:
            key = f"message_{t.message}"
            body += "\n" + (text(lang, key) if key in STRINGS[lang] else t.message)
        if view.seconds_left is not None:
            body += "\n" + text(lang, "targets_seconds_left", n=view.seconds_left)
        self._text_box(surface, layout, pygame.Rect(band.x, band.y + title_h, band.w, band.h - title_h),
                       body, "warn" if t.message else "text", TECH_BODY_INK_MM, "body", centre=True)
        for idx, (x, y) in enumerate(pts):
            current = idx == t.current
            ink = PALETTE["target"] if current else PALETTE["target_done"]
            a = arm if current else arm * 2 // 3
            pygame.draw.line(surface, ink, (x - a, y), (x + a, y), 3 if current else 2)
            pygame.draw.line(surface, ink, (x, y - a), (x, y + a), 3 if current else 2)
            pygame.draw.circle(surface, ink, (x, y), a * 2 // 3, 2)

    def _residual_map(self, surface: pygame.Surface, view: View, layout: KeyLayout) -> None:
        """Summary on the left; on the right the screen in miniature with each target's error."""
        lang, t = view.lang, view.targets
        box = _rect(layout.regions["message"])
        portrait = box.w < box.h
        # words on the left (landscape) or on top (portrait); the miniature takes the rest
        left = pygame.Rect(box.x, box.y, box.w, box.h * 2 // 5) if portrait else \
            pygame.Rect(box.x, box.y, box.w * 2 // 5, box.h)
        self._text_box(surface, layout, pygame.Rect(left.x, left.y, left.w, left.h * 2 // 5),
                       text(lang, "calibration_result_title"), "accent", TECH_TITLE_INK_MM, "title", bold=True,
                       valign="bottom")
        if t is None:
            return
        rms = "-" if t.rms_mm is None else f"{t.rms_mm:.1f}"
        mx = "-" if t.max_mm is None else f"{t.max_mm:.1f}"
        body = text(lang, "calibration_result_body", rms=rms, max=mx)
        if t.passed is not None:
            body += "\n" + text(lang, "calibration_passed" if t.passed else "calibration_failed")
        if t.message:
            key = f"message_{t.message}"
            body += "\n" + (text(lang, key) if key in STRINGS[lang] else t.message)
        if view.seconds_left is not None:
            body += "\n" + text(lang, "targets_seconds_left", n=view.seconds_left)
        colour = "ok" if t.passed else ("warn" if t.passed is False else "text")
        self._text_box(surface, layout, pygame.Rect(left.x, left.y + left.h * 2 // 5 + 8, left.w,
                                                    left.h * 3 // 5 - 8), body, colour, TECH_BODY_INK_MM, "body")
        sw, sh = surface.get_size()
        area = (pygame.Rect(box.x, left.bottom + 12, box.w, box.bottom - left.bottom - 12) if portrait
                else pygame.Rect(left.right + 12, box.y, box.right - left.right - 12, box.h))
        scale = min(area.w / sw, area.h / sh)
        mini = pygame.Rect(0, 0, round(sw * scale), round(sh * scale))
        mini.center = area.center
        pygame.draw.rect(surface, PALETTE["key_border"], mini, width=2)
        small = self.fonts.get(self._px(layout, 3.2), bold=True)
        worst = max((r for r in t.residuals_mm if r is not None), default=None)
        for idx, (x, y) in enumerate(t.targets_px):
            cx, cy = mini.x + round(x * scale), mini.y + round(y * scale)
            pygame.draw.line(surface, PALETTE["target_done"], (cx - 6, cy), (cx + 6, cy), 2)
            pygame.draw.line(surface, PALETTE["target_done"], (cx, cy - 6), (cx, cy + 6), 2)
            res = t.residuals_mm[idx] if idx < len(t.residuals_mm) else None
            if res is None:
                continue
            bad = t.passed is False and worst is not None and res >= worst - 1e-9
            ink = PALETTE["warn"] if bad else PALETTE["ok"]
            # radius: the error itself, magnified 4x on the miniature so a millimetre is visible
            pygame.draw.circle(surface, ink, (cx, cy), max(3, round(res * layout.px_per_mm_x * scale * 4)), 3)
            label = small.render(f"{res:.1f}", True, ink)
            lx = min(max(mini.x + 2, cx + 8), mini.right - label.get_width() - 2)
            ly = min(max(mini.y + 2, cy + 4), mini.bottom - label.get_height() - 2)
            surface.blit(label, (lx, ly))


def _paragraph_of_lines(fonts: Fonts, font, words: str, w_px: int, lines: list[str]) -> list[int]:
    """For each drawn line, the index of the paragraph (``\\n``-separated) it belongs to."""
    out: list[int] = []
    for i, para in enumerate(words.split("\n")):
        n = len(wrap(font, para, w_px)) if para else 1
        out.extend([i] * n)
    out.extend([out[-1] if out else 0] * (len(lines) - len(out)))
    return out[: len(lines)]


def _same_frame(a: View, b: View) -> bool:
    """Two entry Views that differ only in what the entry-change path redraws."""
    return (a.screen, a.lang, a.pin_type, a.action, a.step) == (b.screen, b.lang, b.pin_type, b.action, b.step)


def contrast_ratio(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours."""
    def lum(c: tuple[int, int, int]) -> float:
        def ch(v: int) -> float:
            s = v / 255
            return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
        r, g, b = (ch(v) for v in c)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


__all__ = ["Renderer", "PALETTE", "CONTRAST_PAIRS", "contrast_ratio"]
