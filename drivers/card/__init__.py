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
from kiosk import jpki
from kiosk.jpki import CardIdentity, CardResult

__all__ = ["open_card", "CardBackend", "CardEvent", "CardIdentity", "CardResult", "CardWorker", "Presence",
           "ReaderStatus", "PRESENCE_KINDS", "SCHEMES"]

SCHEMES = ("pcsc", "pcsc:PATTERN", "sim")


def reader_pattern_problem(spec: str, cfg: CardConfig) -> str | None:
    """Why ``pin-kiosk run`` must not start with this card source, or None.

    A terminal bound to "any reader" would take a card from any reader plugged in,
    and a dual-interface reader is two readers: a pcsc source must name its reader.
    """
    scheme, _, rest = spec.partition(":")
    if scheme == "pcsc" and not rest and not cfg.reader_pattern:
        return "empty: it would match every reader; set the terminal's reader name (pin-kiosk card status lists them)"
    return None


def open_card(spec: str, cfg: CardConfig) -> CardBackend:
    """The backend ``spec`` names; ValueError (one line) for an unknown spec or bad sim PINs.

    ``pcsc`` uses ``cfg.reader_pattern``; ``pcsc:PATTERN`` overrides it.
    ``sim`` is the virtual card in-process with ``cfg.sim_pins``.
    """
    scheme, _, rest = spec.partition(":")
    rr_aid = jpki.parse_aid(cfg.resident_registry_aid) if cfg.resident_registry_aid else None
    if scheme == "pcsc":
        from drivers.card.pcsc import PcscBackend  # imports pyscard only when asked for

        return PcscBackend(rest if rest else cfg.reader_pattern, resident_registry_aid=rr_aid)
    if scheme == "sim" and not rest:
        from drivers.card.sim import SimBackend
        from drivers.card.virtual import VirtualCard, parse_pins

        return SimBackend(VirtualCard.with_pins(parse_pins(cfg.sim_pins)), resident_registry_aid=rr_aid)
    raise ValueError(f"unknown card spec {spec!r} (expected one of: {', '.join(SCHEMES)})")
