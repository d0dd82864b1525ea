"""The card reader: one interface, a backend per spec scheme (``pcsc``, ``pcsc:PATTERN``, ``sim``).

``open_card(spec, cfg)`` picks the backend the way pyserial's
``serial_for_url`` picks a URL handler.  The app loop does not call a
backend directly: it wraps it in ``CardWorker`` so nothing blocks.
Results are ``kiosk.jpki.CardResult`` values; no exception leaves a backend.
"""
from __future__ import annotations

from drivers.card.base import PRESENCE_KINDS, CardBackend, Presence, ReaderStatus
from drivers.card.worker import CardEvent, CardWorker
from drivers.schemes import handler
from kiosk.config import CardConfig
from kiosk import jpki
from kiosk.jpki import CardIdentity, CardResult

__all__ = ["open_card", "backend_class", "CardBackend", "CardEvent", "CardIdentity", "CardResult", "CardWorker", "Presence",
           "ReaderStatus", "PRESENCE_KINDS", "SCHEMES"]

#: scheme -> the module and backend class that reach it (pyserial's ``protocol_<scheme>`` handlers).
#: A new backend is one module with a ``CardBackend`` subclass (``SPEC_FORMS``, ``open_spec``) and a line here.
SCHEMES: dict[str, str] = {
    "pcsc": "drivers.card.pcsc:PcscBackend",  # imports pyscard only when asked for
    "sim": "drivers.card.sim:SimBackend",
}


def backend_class(scheme: str) -> type[CardBackend] | None:
    """The CardBackend class for ``scheme``; None when no backend has that scheme."""
    return handler(SCHEMES, scheme)


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
    cls = backend_class(scheme)
    if cls is not None and (not rest or any(":" in form for form in cls.SPEC_FORMS)):
        return cls.open_spec(rest, cfg, rr_aid)
    forms = [f for name in SCHEMES for f in backend_class(name).SPEC_FORMS]
    raise ValueError(f"unknown card spec {spec!r} (expected one of: {', '.join(forms)})")
