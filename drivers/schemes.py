"""Specs name their driver by scheme: the lookup touch sources and card backends share.

Model: pyserial's ``serial_for_url``, which maps a URL's scheme to a
``serial.urlhandler.protocol_<scheme>`` module.  Here each kind keeps its own
``SCHEMES`` table, ``scheme -> "module:Class"``, and the module is imported only
when its scheme is asked for (``pcsc`` would otherwise load pyscard for a
``sim`` card, ``evdev`` python-evdev for a FIFO).
"""
from __future__ import annotations

import importlib
from typing import Any


def handler(schemes: dict[str, str], scheme: str) -> Any | None:
    """The class registered for ``scheme`` in ``schemes``; None when no driver has that scheme."""
    target = schemes.get(scheme)
    if target is None:
        return None
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
