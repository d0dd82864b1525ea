"""Measuring what a citizen sees: ink heights and colours on a rendered Surface.

The renderer records the rectangle and colour of every line of text it drew
(``Renderer.text_lines``); these helpers measure the *pixels* inside those
rectangles, so a test of type size fails when the drawing is wrong, not only
when the arithmetic is.
"""
from __future__ import annotations

import pygame


def ink_height_px(surface: pygame.Surface, rect: pygame.Rect, ink: tuple[int, int, int]) -> int:
    """Rows from the first to the last holding a pixel at least half-way from the ground to the ink.

    The ground is the colour at the rectangle's top-left corner (a line box
    starts above the glyphs' ink), so text on a key face is measured as well
    as text on the page.
    """
    rect = rect.clip(surface.get_rect())
    if rect.w <= 0 or rect.h <= 0:
        return 0
    ground = surface.get_at(rect.topleft)
    # a pixel counts when every channel is nearer the ink than half-way from the ground
    half = tuple(max(1, abs(g - i) // 2) for g, i in zip(ground[:3], ink)) + (255,)
    mask = pygame.mask.from_threshold(surface.subsurface(rect), ink, half)
    boxes = mask.get_bounding_rects()
    if not boxes:
        return 0
    return max(b.bottom for b in boxes) - min(b.top for b in boxes)


def ink_heights_mm(renderer, surface: pygame.Surface, palette: dict, px_per_mm_y: float) -> dict[str, float]:
    """Role -> ink height in mm of its type: the tallest of its lines (a line of kana only, or of
    English without capitals, is shorter than the type it is set in)."""
    out: dict[str, float] = {}
    for role, lines in renderer.text_lines.items():
        heights = [ink_height_px(surface, rect, palette[colour]) for rect, colour in lines]
        if any(heights):
            out[role] = max(heights) / px_per_mm_y
    return out
