"""The card reader: one interface, a backend per spec scheme (``pcsc``, ``pcsc:PATTERN``, ``sim``).

``open_card(spec, cfg)`` picks the backend the way pyserial's
``serial_for_url`` picks a URL handler.  The app loop does not call a
backend directly: it wraps it in ``CardWorker`` so nothing blocks.
Results are ``kiosk.jpki.CardResult`` values; no exception leaves a backend.
"""
from __future__ import annotations

from drivers.card.base import PRESENCE_KINDS, CardBackend, Presence, ReaderStatus
from drivers.card.worker import CardEvent, CardWorker
from kiosk.config import CardConfig
from kiosk.jpki import CardResult

__all__ = ["open_card", "CardBackend", "CardEvent", "CardResult", "CardWorker", "Presence",
           "ReaderStatus", "PRESENCE_KINDS", "SCHEMES"]

SCHEMES = ("pcsc", "pcsc:PATTERN", "sim")


def open_card(spec: str, cfg: CardConfig) -> CardBackend:
    """The backend ``spec`` names; ValueError (one line) for an unknown spec or bad sim PINs.

    ``pcsc`` uses ``cfg.reader_pattern``; ``pcsc:PATTERN`` overrides it.
    ``sim`` is the virtual card in-process with ``cfg.sim_pins``.
    """
    scheme, _, rest = spec.partition(":")
    if scheme == "pcsc":
        from drivers.card.pcsc import PcscBackend  # imports pyscard only when asked for

        return PcscBackend(rest if rest else cfg.reader_pattern)
    if scheme == "sim" and not rest:
        from drivers.card.sim import SimBackend
        from drivers.card.virtual import VirtualCard, parse_pins

        return SimBackend(VirtualCard.with_pins(parse_pins(cfg.sim_pins)))
    raise ValueError(f"unknown card spec {spec!r} (expected one of: {', '.join(SCHEMES)})")
