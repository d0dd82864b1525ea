"""Touch input: sources picked by spec, a pure pipeline from kernel events to taps.

``open_touch(spec, cfg)`` picks the module for a spec's scheme, the way
pyserial's ``serial_for_url`` picks a URL handler:

=================  ==========================================================
``evdev:PATH``     a real device via python-evdev (``evdev:auto`` finds one)
``events:PATH``    raw ``struct input_event`` bytes from a capture or FIFO
``evemu:PATH``     an evemu recording, replayed (``fast=True``: at once)
``mouse``          pygame mouse events handed in by the app (demos)
=================  ==========================================================

Every source has ``fileno()``, ``read(now_s) -> list[Contact]``,
``wakeup_s(now_s)``, ``present``/``absent_reason``, ``axes``, ``reopen()``
and ``close()`` (see ``source.py``).  The pure pipeline is in ``events``
(decoding), ``contacts`` (primary contact), ``filters`` and ``taps``.
"""
from __future__ import annotations

from drivers.touch.events import AxisRange, Axes
from drivers.touch.source import TouchSource
from drivers.touch.taps import Contact, Tap, TouchPipeline, robust_position
from kiosk.config import TouchConfig

SCHEMES = ("evdev", "events", "evemu", "mouse")

__all__ = ["open_touch", "TouchSource", "Contact", "Tap", "Axes", "AxisRange",
           "TouchPipeline", "robust_position", "TouchSpecError", "SCHEMES"]


class TouchSpecError(ValueError):
    """A touch spec that names no source: one line, for a usage or config error."""


def open_touch(spec: str, cfg: TouchConfig, *, fast: bool = False) -> TouchSource:
    """The source ``spec`` names, opened as far as it can be right now.

    A device or FIFO that is not there yet gives an absent source that keeps
    trying; a spec with an unknown scheme, or an evemu file that cannot be
    read, raises ``TouchSpecError``.
    """
    scheme, sep, rest = spec.partition(":")
    if scheme == "mouse" and not rest:
        from drivers.touch.mouse import MouseSource
        return MouseSource(cfg)
    if not sep or not rest:
        raise TouchSpecError(f"touch source {spec!r}: expected evdev:PATH, evdev:auto, events:PATH, evemu:PATH or mouse")
    if scheme == "evdev":
        from drivers.touch.evdev_device import EvdevSource
        src = EvdevSource(rest, cfg)
    elif scheme == "events":
        from drivers.touch.event_stream import EventStreamSource
        src = EventStreamSource(rest, cfg)
    elif scheme == "evemu":
        from drivers.touch.evemu import EvemuSource
        from drivers.touch.events import EvemuError
        try:
            return EvemuSource(rest, cfg, fast=fast)
        except OSError as exc:
            raise TouchSpecError(f"touch source {spec!r}: {exc.strerror or exc}") from None
        except EvemuError as exc:
            raise TouchSpecError(f"touch source {spec!r}: {exc}") from None
    else:
        raise TouchSpecError(f"touch source {spec!r}: unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    src.reopen(0.0)
    return src
