"""``pcsc`` / ``pcsc:PATTERN``: the card through pcscd, with pyscard's low-level ``scard`` API.

Theory of operation
-------------------
One PC/SC context, (re)established lazily: when pcscd is not running every
call answers ``no_pcscd`` and the next call tries again, so a restarted
pcscd is picked up without restarting the kiosk.  Readers are those whose
name contains the pattern (case-insensitive; empty = any).

Each operation connects exclusively and inside one ``SCardBeginTransaction``
(no other program can slip a command in between the identity check, the
counter read, VERIFY and CHANGE; while another program holds the card the
connect is retried for about half a second), and disconnects with
``SCARD_RESET_CARD``: the verified state never outlives the operation.

Presence uses ``SCardGetStatusChange`` on the matching readers plus the
``\\\\?PnP?\\Notification`` pseudo-reader, so pcscd wakes us on reader or
card changes; the call blocks (no CPU) up to ``timeout_s`` and another
thread ends it early with ``SCardCancel`` (``cancel()``).  Only while pcscd
is down do we retry on a timer.

The reader: a session's operations name the reader its card was found in
(``open_link(reader)``) and reach no other.  Unbound (``begin``, ``card
status``), it is the one reader matching the pattern that holds a card; two
such readers (a dual-interface reader shows as two) are ``two_cards``, for
the clerk to sort out, never a guess.

pyscard wants command APDUs as a list of ints; the list built for a command
carrying a PIN is zeroed right after the transmit.  pcscd itself is never
asked for APDU logging.
"""
from __future__ import annotations

import logging
import threading
import time

from smartcard import scard

from drivers.card.base import CardBackend, CardFault, CardConnection, Presence, ReaderStatus
from kiosk import jpki
from kiosk.config import CardConfig

log = logging.getLogger("pin_kiosk.card")

PNP_READER = "\\\\?PnP?\\Notification"


def _code(rc: int) -> int:
    return rc & 0xFFFFFFFF


S_OK = _code(scard.SCARD_S_SUCCESS)
# F_COMM_ERROR: libpcsclite lost its socket to pcscd (the daemon died under a call)
E_NO_SERVICE = {_code(scard.SCARD_E_NO_SERVICE), _code(scard.SCARD_E_SERVICE_STOPPED),
                _code(scard.SCARD_E_INVALID_HANDLE), _code(scard.SCARD_F_COMM_ERROR)}
E_NO_READER = {_code(scard.SCARD_E_NO_READERS_AVAILABLE), _code(scard.SCARD_E_UNKNOWN_READER),
               _code(scard.SCARD_E_READER_UNAVAILABLE)}
E_NO_CARD = {_code(scard.SCARD_E_NO_SMARTCARD), _code(scard.SCARD_W_REMOVED_CARD)}
E_SHARING = _code(scard.SCARD_E_SHARING_VIOLATION)
E_TIMEOUT = _code(scard.SCARD_E_TIMEOUT)
E_NOT_TRANSACTED = _code(scard.SCARD_E_NOT_TRANSACTED)
E_CANCELLED = _code(scard.SCARD_E_CANCELLED)
STATE_PRESENT = scard.SCARD_STATE_PRESENT
STATE_CHANGED = scard.SCARD_STATE_CHANGED


def _outcome_of(rc: int, no_card: str) -> str:
    code = _code(rc)
    if code in E_NO_SERVICE:
        return "no_pcscd"
    if code in E_NO_READER:
        return "no_reader"
    if code in E_NO_CARD:
        return no_card
    return "error"


def reader_matches(name: str, pattern: str) -> bool:
    """The configured reader pattern: a case-insensitive substring; empty matches any reader."""
    return pattern.lower() in name.lower()


class _PcscLink(CardConnection):
    def __init__(self, backend: "PcscBackend", context: int, reader: str) -> None:
        self._backend, self._context, self.reader = backend, context, reader
        for attempt in range(backend.busy_retries + 1):
            rc, self._card, self._protocol = scard.SCardConnect(
                context, reader, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if _code(rc) != E_SHARING or attempt == backend.busy_retries:
                break
            # another program (a middleware probe, pcsc_scan) has the card for a moment
            time.sleep(backend.busy_wait_s)
        if _code(rc) != S_OK:
            outcome = _outcome_of(rc, "no_card")
            if outcome == "no_pcscd":
                backend._drop_context()
            raise CardFault(outcome, scard.SCardGetErrorMessage(rc))
        # the reader's event state now (its upper 16 bits count insertions and removals): a
        # failure later with a moved count is a card that went away, even if another is in now
        rc, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        self._state_at_connect = states[0][1] & ~STATE_CHANGED if _code(rc) == S_OK else 0
        rc = scard.SCardBeginTransaction(self._card)
        if _code(rc) != S_OK:
            scard.SCardDisconnect(self._card, scard.SCARD_RESET_CARD)
            raise CardFault(_outcome_of(rc, "card_removed"), scard.SCardGetErrorMessage(rc))

    def transmit(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        command = list(apdu)
        try:
            rc, response = scard.SCardTransmit(self._card, self._protocol, command)
        finally:
            jpki.wipe(command)
        if _code(rc) == S_OK and len(response) < 2:
            # vpcd (and some readers) report a vanished card as success with no status word
            rc = scard.SCARD_E_NOT_TRANSACTED
        if _code(rc) != S_OK:
            raise CardFault(self._why_failed(rc), scard.SCardGetErrorMessage(rc))
        return jpki.split_response(response)

    def _why_failed(self, rc: int) -> str:
        """A failed transmit: the card was pulled (or swapped), pcscd died, or a real error."""
        rc_failed = rc
        outcome = _outcome_of(rc, "card_removed")
        if outcome == "no_pcscd":
            self._backend._drop_context()
            return outcome
        if outcome != "error":
            return outcome
        # pcscd learns of a vanished card by polling the reader (about every 0.4 s):
        # give it that long to tell us the card went away (or was swapped: the event
        # count moved) before calling it an error.
        known = self._state_at_connect or STATE_PRESENT
        rc, states = scard.SCardGetStatusChange(self._context, 600, [(self.reader, known)])
        if _code(rc) == S_OK:
            now = states[0][1] & ~STATE_CHANGED
            if not now & STATE_PRESENT or (now >> 16) != (known >> 16):
                return "card_removed"
        if _code(rc_failed) == E_NOT_TRANSACTED:
            # the command never reached a card although one seems present: the card we
            # connected to is gone and pcscd has not noticed yet (vpcd after a swap faster
            # than its 0.4 s poll).  Nothing was sent to it; the next link finds what is there.
            return "card_removed"
        return "error"

    def close(self) -> None:
        scard.SCardEndTransaction(self._card, scard.SCARD_LEAVE_CARD)
        scard.SCardDisconnect(self._card, scard.SCARD_RESET_CARD)


class PcscBackend(CardBackend):
    """Cards in the pcscd readers whose name contains ``pattern``."""

    name = "pcsc"
    SPEC_FORMS = ("pcsc", "pcsc:PATTERN")

    @classmethod
    def open_spec(cls, rest: str, cfg: CardConfig, resident_registry_aid: bytes | None) -> "PcscBackend":
        """``pcsc`` uses ``[card] reader_pattern``; ``pcsc:PATTERN`` overrides it."""
        return cls(rest if rest else cfg.reader_pattern, resident_registry_aid=resident_registry_aid)

    def __init__(self, pattern: str = "", retry_s: float = 0.5,
                 busy_retries: int = 5, busy_wait_s: float = 0.1,
                 resident_registry_aid: bytes | None = None) -> None:
        self.pattern = pattern
        self.resident_registry_aid = resident_registry_aid
        self.retry_s = retry_s  # how often to look for pcscd while it is down
        #: an exclusive connect refused because another program holds the card is retried
        #: this often, this far apart, before the operation answers "error"
        self.busy_retries, self.busy_wait_s = busy_retries, busy_wait_s
        self._context: int | None = None
        self._lock = threading.Lock()  # guards _context between the worker and cancel()
        self._wake = threading.Event()
        self._states: dict[str, int] | None = None  # reader -> last event state; None: never looked
        self._pnp_state = 0
        self._down: bool | None = None

    # -- context and reader --------------------------------------------------
    def _get_context(self) -> int:
        with self._lock:
            if self._context is None:
                rc, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
                if _code(rc) != S_OK:
                    raise CardFault("no_pcscd", scard.SCardGetErrorMessage(rc))
                self._context = context
            return self._context

    def _drop_context(self) -> None:
        with self._lock:
            context, self._context = self._context, None
            self._pnp_state = 0  # a new daemon counts its readers afresh
        if context is not None:
            scard.SCardReleaseContext(context)

    def _readers(self, context: int) -> list[str]:
        rc, readers = scard.SCardListReaders(context, [])
        code = _code(rc)
        if code in E_NO_SERVICE:
            self._drop_context()
            raise CardFault("no_pcscd", scard.SCardGetErrorMessage(rc))
        if code != S_OK:
            return []
        return [r for r in readers if reader_matches(r, self.pattern)]

    def _holding(self, context: int) -> tuple[list[str], list[str]]:
        """``(matching readers, those of them holding a card)``."""
        readers = self._readers(context)
        if not readers:
            raise CardFault("no_reader", f"no reader matching {self.pattern!r}")
        rc, states = scard.SCardGetStatusChange(context, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
        if _code(rc) in E_NO_SERVICE:
            self._drop_context()
            raise CardFault("no_pcscd", scard.SCardGetErrorMessage(rc))
        if _code(rc) != S_OK:
            return readers, []
        return readers, [name for name, state, _atr in states if state & STATE_PRESENT]

    # -- CardBackend ---------------------------------------------------------
    def open_link(self, reader: str | None = None) -> CardConnection:
        context = self._get_context()
        if reader is None:
            _readers, holding = self._holding(context)
            if not holding:
                raise CardFault("no_card")
            if len(holding) > 1:
                raise CardFault("two_cards", f"{len(holding)} readers hold a card")
            reader = holding[0]
        return _PcscLink(self, context, reader)

    def status(self) -> ReaderStatus:
        try:
            readers, holding = self._holding(self._get_context())
        except CardFault as fault:
            return ReaderStatus(None, "unknown", fault.outcome)
        if len(holding) > 1:
            return ReaderStatus(None, "present", "two_cards", tuple(readers))
        if holding:
            return ReaderStatus(holding[0], "present", "ok", tuple(readers))
        return ReaderStatus(readers[0], "absent", "no_card", tuple(readers))

    def cancel(self) -> None:
        # the flag catches a cancel that comes before the wait starts; SCardCancel one during it
        self._wake.set()
        with self._lock:
            context = self._context
        if context is not None:
            scard.SCardCancel(context)

    def close(self) -> None:
        self.cancel()
        self._drop_context()

    def wait_presence(self, timeout_s: float) -> list[Presence]:
        events: list[Presence] = []
        try:
            context = self._get_context()
            readers = self._readers(context)
        except CardFault:
            return self._pcscd_down(timeout_s)
        if self._down:
            events.append(Presence("pcscd_up"))
        self._down = False
        states = self._states if self._states is not None else {}
        for gone in [r for r in states if r not in readers]:
            if states[gone] & STATE_PRESENT:
                events.append(Presence("card_removed", gone))
            events.append(Presence("reader_removed", gone))
            del states[gone]
        for new in readers:
            if new not in states:
                events.append(Presence("reader_added", new))
                states[new] = scard.SCARD_STATE_UNAWARE
        self._states = states
        if events or any(s == scard.SCARD_STATE_UNAWARE for s in states.values()):
            timeout_ms = 0  # report what we already know, and learn the new readers' state now
        else:
            timeout_ms = int(timeout_s * 1000)
        query = [(PNP_READER, self._pnp_state)] + [(r, states[r]) for r in readers]
        if self._wake.is_set():  # a cancel() came before the wait: honour it without blocking
            self._wake.clear()
            timeout_ms = 0
        # SCardCancel only reaches a wait already in progress: a cancel() landing in the
        # microseconds between the check above and the call is late by at most timeout_s
        rc, answer = scard.SCardGetStatusChange(context, timeout_ms, query)
        code = _code(rc)
        if code in E_NO_SERVICE:
            self._drop_context()
            return events + self._pcscd_down(0)
        if code != S_OK:  # timeout, cancelled, or the reader list changed under us
            return events
        for name, event_state, _atr in answer:
            event_state &= ~STATE_CHANGED
            if name == PNP_READER:
                self._pnp_state = event_state
                continue
            before = states.get(name, 0)
            was, now = bool(before & STATE_PRESENT), bool(event_state & STATE_PRESENT)
            if now and not was:
                events.append(Presence("card_inserted", name))
            elif was and not now:
                events.append(Presence("card_removed", name))
            states[name] = event_state
        return events

    def _pcscd_down(self, wait_s: float) -> list[Presence]:
        """pcscd is not there: report it once (with what vanished), then wait before retrying."""
        events: list[Presence] = []
        if self._down is not True:
            for reader, state in (self._states or {}).items():
                if state & STATE_PRESENT:
                    events.append(Presence("card_removed", reader))
                events.append(Presence("reader_removed", reader))
            events.append(Presence("pcscd_down"))
            self._states = {}
            self._down = True
        if self._wake.is_set():  # honour a cancel() at once, and only once
            self._wake.clear()
        elif wait_s and not events:  # news goes out at once; the next call waits
            self._wake.wait(min(wait_s, self.retry_s))
        return events
