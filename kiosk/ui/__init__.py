"""The kiosk screen: strings (pure data), fonts, the renderer and the display.

Only ``render``/``display`` import pygame; ``strings`` is plain data that the
pure keypad model reads too.
"""
