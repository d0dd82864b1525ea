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

from drivers.schemes import handler
from drivers.touch.events import AxisRange, Axes
from drivers.touch.source import TouchSource, TouchSpecError
from drivers.touch.taps import Contact, Tap, TouchPipeline, robust_position
from kiosk.config import TouchConfig

#: scheme -> the module and class that read it (pyserial's ``protocol_<scheme>`` handlers).  A new
#: source is one module with a ``TouchSource`` subclass (``SPEC_FORMS``, ``open_spec``) and a line here.
SCHEMES: dict[str, str] = {
    "evdev": "drivers.touch.evdev_device:EvdevSource",
    "events": "drivers.touch.event_stream:EventStreamSource",
    "evemu": "drivers.touch.evemu:EvemuSource",
    "mouse": "drivers.touch.mouse:MouseSource",
}

__all__ = ["open_touch", "source_class", "TouchSource", "Contact", "Tap", "Axes", "AxisRange",
           "TouchPipeline", "robust_position", "TouchSpecError", "SCHEMES"]


def source_class(scheme: str) -> type[TouchSource] | None:
    """The TouchSource class for ``scheme``; None when no source has that scheme."""
    return handler(SCHEMES, scheme)


def open_touch(spec: str, cfg: TouchConfig, *, fast: bool = False) -> TouchSource:
    """The source ``spec`` names, opened as far as it can be right now.

    A device or FIFO that is not there yet gives an absent source that keeps
    trying; a spec with an unknown scheme, or an evemu file that cannot be
    read, raises ``TouchSpecError``.
    """
    scheme, sep, rest = spec.partition(":")
    cls = source_class(scheme)
    if cls is not None and not cls.TAKES_PATH and not rest:
        return cls.open_spec(rest, cfg, fast=fast)
    if not sep or not rest:
        forms = [f for name in SCHEMES for f in source_class(name).SPEC_FORMS]
        raise TouchSpecError(f"touch source {spec!r}: expected {', '.join(forms[:-1])} or {forms[-1]}")
    if cls is None or not cls.TAKES_PATH:
        raise TouchSpecError(f"touch source {spec!r}: unknown scheme {scheme!r} (known: {', '.join(SCHEMES)})")
    return cls.open_spec(rest, cfg, fast=fast)
