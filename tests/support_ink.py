"""Measuring what a citizen sees: ink heights and colours on a rendered Surface.

The renderer records the rectangle and colour of every line of text it drew
(``Renderer.text_lines``); these helpers measure the *pixels* inside those
rectangles, so a test of type size fails when the drawing is wrong, not only
when the arithmetic is.
"""
from __future__ import annotations

import pygame


def _dist(a, b) -> int:
    return sum(abs(x - y) for x, y in zip(a[:3], b[:3]))


def ink_height_px(surface: pygame.Surface, rect: pygame.Rect, ink: tuple[int, int, int]) -> int:
    """Rows from the first to the last holding a pixel at least half-way from the ground to the ink.

    The ground is the colour at the rectangle's top-left corner (a line box
    starts above the glyphs' ink), so text on a key face is measured as well
    as text on the page.
    """
    ground = surface.get_at(rect.topleft)
    full = _dist(ground, ink)
    rows = []
    for y in range(rect.top, rect.bottom):
        for x in range(rect.left, rect.right):
            c = surface.get_at((x, y))
            if _dist(c, ground) * 2 >= full and _dist(c, ink) < full:
                rows.append(y)
                break
    return rows[-1] - rows[0] + 1 if rows else 0


def ink_heights_mm(renderer, surface: pygame.Surface, palette: dict, px_per_mm_y: float) -> dict[str, float]:
    """Role -> ink height in mm of its type: the tallest of its lines (a line of kana only, or of
    English without capitals, is shorter than the type it is set in)."""
    out: dict[str, float] = {}
    for role, lines in renderer.text_lines.items():
        heights = [ink_height_px(surface, rect, palette[colour]) for rect, colour in lines]
        if any(heights):
            out[role] = max(heights) / px_per_mm_y
    return out
