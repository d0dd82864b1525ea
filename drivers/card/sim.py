"""``sim``: the virtual card in-process, for the demo and fast tests.

There is no reader and no daemon: the link calls ``VirtualCard.process``
directly.  ``insert()`` and ``remove()`` stand for a citizen putting the card
in or pulling it out; ``wait_presence`` reports them like the pcsc backend
reports real hot-plug.
"""
from __future__ import annotations

import threading

from drivers.card.base import CardBackend, CardFault, CardConnection, Presence, ReaderStatus
from drivers.card.virtual import VirtualCard
from kiosk.config import CardConfig

SIM_READER = "Simulated reader"


class _SimLink(CardConnection):
    reader = SIM_READER

    def __init__(self, backend: "SimBackend") -> None:
        self._backend = backend
        self._card = backend.card
        backend.card.power_on()

    def transmit(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        with self._backend._lock:
            if not self._backend.inserted or self._backend.card is not self._card:
                raise CardFault("card_removed")  # pulled, or swapped for another under the link
            response = self._card.process(apdu)
        return response[:-2], (response[-2] << 8) | response[-1]

    def close(self) -> None:
        self._card.reset()


class SimBackend(CardBackend):
    """The virtual card, always in its simulated reader unless ``remove()`` was called."""

    name = "sim"
    SPEC_FORMS = ("sim",)

    @classmethod
    def open_spec(cls, rest: str, cfg: CardConfig, resident_registry_aid: bytes | None) -> "SimBackend":
        """The virtual card in-process with ``[card] sim_pins``."""
        from drivers.card.virtual import parse_pins
        return cls(VirtualCard.with_pins(parse_pins(cfg.sim_pins)), resident_registry_aid=resident_registry_aid)

    def __init__(self, card: VirtualCard, inserted: bool = True,
                 resident_registry_aid: bytes | None = None) -> None:
        self.card = card
        self.resident_registry_aid = resident_registry_aid
        self.inserted = inserted
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: list[Presence] = [Presence("reader_added", SIM_READER)]
        if inserted:
            self._pending.append(Presence("card_inserted", SIM_READER))
        self._wake.set()  # the first wait reports the initial state at once

    def open_link(self, reader: str | None = None) -> CardConnection:
        with self._lock:
            if not self.inserted or reader not in (None, SIM_READER):
                raise CardFault("no_card")
        return _SimLink(self)

    def swap(self, card: VirtualCard) -> None:
        """Another card in the reader, so fast that no presence change is seen (a test's swap)."""
        with self._lock:
            self.card.power_off()
            self.card = card

    def insert(self) -> None:
        self._set_inserted(True, "card_inserted")

    def remove(self) -> None:
        self._set_inserted(False, "card_removed")

    def _set_inserted(self, inserted: bool, kind: str) -> None:
        with self._lock:
            if self.inserted == inserted:
                return
            self.inserted = inserted
            self.card.power_off()
            self._pending.append(Presence(kind, SIM_READER))
        self._wake.set()

    def wait_presence(self, timeout_s: float) -> list[Presence]:
        # _wake is set by a presence change or cancel() and cleared only here, so neither is lost
        self._wake.wait(timeout_s)
        self._wake.clear()
        with self._lock:
            out, self._pending = self._pending, []
        return out

    def cancel(self) -> None:
        self._wake.set()

    def status(self) -> ReaderStatus:
        with self._lock:
            return ReaderStatus(SIM_READER, "present" if self.inserted else "absent",
                                "ok" if self.inserted else "no_card", (SIM_READER,))
