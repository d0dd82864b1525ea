"""What every card backend is, and the PIN operations, written once.

Theory of operation
-------------------
A backend (``pcsc``, ``sim``) knows how to reach a card: ``open_link(reader)``
gives a ``CardConnection`` (one exclusive connection, inside one PC/SC transaction;
``transmit`` one APDU; ``close`` powers the card down or resets it, which
drops any verified state), and ``wait_presence(timeout_s)`` blocks until a
reader or card comes or goes.  ``open_link(None)`` chooses the reader: the
one matching reader holding a card; two such readers are ``two_cards``,
never a guess.  Failures inside a backend are ``CardFault(outcome)``; they
never leave this package: the operations below turn them into
``CardResult`` values.

The operations are the same for every backend, so they live here:

* ``identify`` (at ``begin``, no PIN): choose the reader, select the JPKI
  applet and read its token (a My Number card, an old 住基カード, a
  smartphone, or not a My Number card at all), read the user-authentication
  certificate (its SHA-256 is the card's identity, its notAfter the date the
  clerk sees; nothing else of it is kept), locate the 住基 applet when that
  PIN is asked for, read the counter;
* every later operation of the session is given that ``CardIdentity``: it
  opens a link to *that reader only*, reads the certificate again and
  compares hashes before anything else: another card (however fast the swap)
  is ``card_changed`` and receives nothing more;
* ``verify`` then reads the counter on the same link and sends the PIN only
  when it equals ``shown_tries`` (what the citizen was shown; else
  ``counter_changed`` with the new count) and is not 0;
* ``change`` is such a ``verify`` of the old PIN followed, on the same link,
  by CHANGE REFERENCE DATA with the new one, and only for
  ``jpki.CHANGE_SUPPORTED``;
* the PIN bytes exist only inside ``pin.reveal()`` and the command buffer
  built from them is wiped right after the transmit;
* the link is closed (card reset) whatever happens.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kiosk import jpki
from kiosk.config import CardConfig
from kiosk.jpki import CardIdentity, CardResult
from kiosk.pin import Pin, PinType, entry_problem

log = logging.getLogger("pin_kiosk.card")

#: Presence changes a backend reports (and ``CardWorker`` forwards).
PRESENCE_KINDS = ("reader_added", "reader_removed", "card_inserted", "card_removed", "pcscd_down", "pcscd_up")

#: The auth certificate is read in pieces this long (short READ BINARY, as jpki/myna does).
READ_CHUNK = 0xFF
CERT_MAX_BYTES = 8192


class CardFault(Exception):
    """Inside a backend: the command could not complete; ``outcome`` is a jpki.OUTCOMES name."""

    def __init__(self, outcome: str, detail: str = "") -> None:
        if outcome not in jpki.OUTCOMES:
            raise ValueError(f"unknown card outcome {outcome!r}")
        self.outcome = outcome
        super().__init__(f"{outcome}: {detail}" if detail else outcome)


@dataclass(frozen=True)
class Presence:
    """One presence change: ``kind`` in PRESENCE_KINDS, for reader ``reader`` (None for pcscd)."""

    kind: str
    reader: str | None = None


@dataclass(frozen=True)
class ReaderStatus:
    """What ``card status`` shows: the reader used, whether a card is in it, and why not."""

    reader: str | None
    card: str  # "present" | "absent" | "unknown"
    outcome: str  # "ok" or the jpki.OUTCOMES reason the card cannot be used
    readers: tuple[str, ...] = ()  # every reader matching the pattern


@dataclass(frozen=True)
class CardFacts:
    """What ``card status`` reports of a card, read without a PIN."""

    outcome: str  # "ok" or why the card is not usable
    token: str | None = None  # jpki.TOKENS kind
    valid_until: date | None = None  # the auth certificate's notAfter
    resident_registry_aid: bytes | None = None
    resident_registry_candidates: tuple[tuple[bytes, bool], ...] = ()  # (aid, answers 63Cx)


class CardConnection:
    """One connection to the card, exclusive until closed."""

    reader: str = ""

    def transmit(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        """Send one command APDU; ``(data, SW)``; CardFault when the card or reader went away."""
        raise NotImplementedError

    def close(self) -> None:
        """End the connection and reset the card, dropping every verified state."""
        raise NotImplementedError


class CardBackend:
    """A way to reach the card.  Subclasses provide open_link, wait_presence, cancel, status."""

    name = "card"
    #: How this backend is written in a spec (help and error messages).
    SPEC_FORMS: tuple[str, ...] = ()
    #: ``[card] resident_registry_aid``: the 住基 applet to use; None: probe the candidates
    resident_registry_aid: bytes | None = None

    @classmethod
    def open_spec(cls, rest: str, cfg: "CardConfig", resident_registry_aid: bytes | None) -> "CardBackend":
        """The backend for a spec's part after the scheme; ValueError (one line) when it cannot be one."""
        raise NotImplementedError

    # -- what a backend provides ------------------------------------------
    def open_link(self, reader: str | None = None) -> CardConnection:
        """A link to the card in ``reader``; None: in the one matching reader holding a card."""
        raise NotImplementedError

    def wait_presence(self, timeout_s: float) -> list[Presence]:
        """Block up to ``timeout_s`` (or until ``cancel``) for presence changes; the first call reports the current state."""
        raise NotImplementedError

    def cancel(self) -> None:
        """Wake a ``wait_presence`` blocked in another thread (callable from any thread)."""

    def status(self) -> ReaderStatus:
        raise NotImplementedError

    def close(self) -> None:
        self.cancel()

    # -- the operations -----------------------------------------------------
    def identify(self, pin_type: PinType) -> CardResult:
        """At ``begin``: which card (reader + certificate hash), its end date, and the counter."""
        def steps(link: CardConnection) -> CardResult:
            cert = self._recognise(link)
            if isinstance(cert, CardResult):
                return cert
            rr_aid = self.resident_registry_aid
            if pin_type == PinType.RESIDENT_REGISTRY and rr_aid is None:
                rr_aid = self._locate_resident_registry(link)
                if rr_aid is None:
                    return CardResult("no_applet")
            identity = CardIdentity(link.reader, hashlib.sha256(cert).digest(), rr_aid)
            counter = self._read_counter(link, pin_type, identity)
            return CardResult(counter.outcome, counter.tries_left, identity, _not_after(cert), rr_aid)

        return self._run("identify", pin_type, None, steps)

    def tries_left(self, pin_type: PinType, identity: CardIdentity | None = None) -> CardResult:
        """How many tries the PIN has left, without spending one (``ok``/``locked`` or why not).

        With ``identity``: on that card only (else ``card_changed``).
        """
        def steps(link: CardConnection) -> CardResult:
            changed = self._check_identity(link, identity)
            if changed is not None:
                return changed
            return self._read_counter(link, pin_type, identity)

        return self._run("tries_left", pin_type, identity, steps)

    def verify(self, pin_type: PinType, pin: Pin, identity: CardIdentity | None = None,
               shown_tries: int | None = None) -> CardResult:
        """Check ``pin`` with the card; refuses to send when no try is left.  Does not wipe ``pin``.

        With ``identity`` only that card gets the PIN; with ``shown_tries`` only when its
        counter still reads what the citizen was shown (else ``counter_changed``).
        """
        if entry_problem(pin_type, pin) is not None:
            # never on the wire: an empty body would even read as the counter command
            return CardResult("error")
        return self._run("verify", pin_type, identity,
                         lambda link: self._verify_on(link, pin_type, pin, identity, shown_tries))

    def change(self, pin_type: PinType, old: Pin, new: Pin, identity: CardIdentity | None = None,
               shown_tries: int | None = None) -> CardResult:
        """Verify ``old``, then set ``new``, on one connection.  Does not wipe either PIN.

        A wrong or locked ``old`` gives that verify result and nothing is changed.  A PIN
        no public reference shows changeable (``jpki.CHANGE_SUPPORTED``) is ``not_supported``
        without a word to the card.
        """
        if pin_type not in jpki.CHANGE_SUPPORTED:
            return CardResult("not_supported")
        if entry_problem(pin_type, old) is not None or entry_problem(pin_type, new, new_pin=True) is not None:
            return CardResult("error")
        loc = jpki.pin_location(pin_type)

        def steps(link: CardConnection) -> CardResult:
            checked = self._verify_on(link, pin_type, old, identity, shown_tries)
            if not checked.ok:
                return checked
            return self._send_secret(link, jpki.change_reference_data, new, jpki.result_of_change, loc.max_tries)

        return self._run("change", pin_type, identity, steps)

    def card_facts(self) -> CardFacts:
        """For ``card status``: token, certificate end date, every 住基 candidate probed (no PIN)."""
        facts: list[CardFacts] = []

        def steps(link: CardConnection) -> CardResult:
            cert = self._recognise(link)
            if isinstance(cert, CardResult):
                facts.append(CardFacts(cert.outcome))
                return cert
            probed = tuple((aid, self._answers_counter(link, aid)) for aid in jpki.RESIDENT_REGISTRY_AID_CANDIDATES)
            located = self.resident_registry_aid or next((aid for aid, ok in probed if ok), None)
            facts.append(CardFacts("ok", "mynumber_card", _not_after(cert), located, probed))
            return CardResult("ok")

        result = self._run("card_facts", None, None, steps)
        return facts[0] if facts else CardFacts(result.outcome)

    # -- shared steps ---------------------------------------------------------
    def _run(self, op: str, pin_type: PinType | None, identity: CardIdentity | None,
             steps: Callable[[CardConnection], CardResult]) -> CardResult:
        try:
            link = self.open_link(identity.reader if identity is not None else None)
        except CardFault as fault:
            log.info("%s %s: %s", op, pin_type, fault.outcome)
            return CardResult(fault.outcome)
        try:
            result = steps(link)
        except CardFault as fault:
            result = CardResult(fault.outcome)
        finally:
            try:
                link.close()
            except CardFault:
                pass
        log.log(logging.DEBUG if op in ("tries_left", "card_facts") else logging.INFO,
                "%s %s: %s tries_left=%s", op, pin_type, result.outcome, result.tries_left)
        return result

    @staticmethod
    def _token(link: CardConnection) -> CardResult | None:
        """Select JPKI and check its token: None for a My Number card, else what it is."""
        why = jpki.select_outcome(link.transmit(jpki.select_applet(jpki.AID_JPKI))[1], jpki_applet=True)
        if why is not None:
            return CardResult(why)
        token = CardBackend._read_ef(link, jpki.EF_TOKEN, jpki.TOKEN_LENGTH)
        if isinstance(token, CardResult):
            return token
        kind = jpki.token_kind(token)
        return None if kind == "mynumber_card" else CardResult(kind)

    @staticmethod
    def _recognise(link: CardConnection) -> bytes | CardResult:
        """A My Number card's auth certificate, or why the card is not one."""
        return CardBackend._token(link) or CardBackend._read_certificate(link)

    @staticmethod
    def _read_ef(link: CardConnection, ef: bytes, length: int) -> bytes | CardResult:
        why = jpki.select_outcome(link.transmit(jpki.select_ef(ef))[1])
        if why is not None:
            return CardResult(why)
        data, sw = link.transmit(jpki.read_binary(0, length))
        return data if sw == jpki.SW_OK else CardResult("card_error")

    @staticmethod
    def _read_certificate(link: CardConnection) -> bytes | CardResult:
        """The user-authentication certificate (EF 000A, no PIN), whole."""
        head = CardBackend._read_ef(link, jpki.EF_AUTH_CERT, 4)
        if isinstance(head, CardResult):
            return head
        total = jpki.der_total_length(head)
        if total is None or total > CERT_MAX_BYTES:
            return CardResult("card_error")
        cert = bytearray(head)
        while len(cert) < total:
            data, sw = link.transmit(jpki.read_binary(len(cert), min(READ_CHUNK, total - len(cert))))
            if sw != jpki.SW_OK or not data:
                return CardResult("card_error")
            cert += data
        return bytes(cert[:total])

    @staticmethod
    def _check_identity(link: CardConnection, identity: CardIdentity | None) -> CardResult | None:
        """None when the link reaches a My Number card that is ``identity``'s (any, without one).

        A card that is not the session's, or not a My Number card any more, is
        ``card_changed``; one that went away is ``card_removed``.
        """
        if identity is None:
            return CardBackend._token(link)
        cert = CardBackend._recognise(link)
        if isinstance(cert, CardResult):
            return cert if cert.outcome in ("card_removed", "no_card") else CardResult("card_changed")
        return None if identity.same_card(cert) else CardResult("card_changed")

    @staticmethod
    def _answers_counter(link: CardConnection, aid: bytes) -> bool:
        """The applet selects and its 住基 PIN EF answers the empty VERIFY with 63Cx."""
        loc = jpki.pin_location(PinType.RESIDENT_REGISTRY, aid)
        return (link.transmit(jpki.select_applet(aid))[1] == jpki.SW_OK
                and link.transmit(jpki.select_ef(loc.ef))[1] == jpki.SW_OK
                and jpki.is_counter(link.transmit(jpki.VERIFY_COUNTER)[1]))

    def _locate_resident_registry(self, link: CardConnection) -> bytes | None:
        for aid in jpki.RESIDENT_REGISTRY_AID_CANDIDATES:
            if self._answers_counter(link, aid):
                return aid
        return None

    def _pin_aid(self, link: CardConnection, pin_type: PinType, identity: CardIdentity | None) -> bytes | CardResult | None:
        if pin_type != PinType.RESIDENT_REGISTRY:
            return None
        aid = identity.resident_registry_aid if identity is not None else None
        aid = aid or self.resident_registry_aid or self._locate_resident_registry(link)
        return aid if aid is not None else CardResult("no_applet")

    def _select_pin(self, link: CardConnection, pin_type: PinType, identity: CardIdentity | None
                    ) -> jpki.PinLocation | CardResult:
        """Select the PIN's applet and file: its location, or why not."""
        aid = self._pin_aid(link, pin_type, identity)
        if isinstance(aid, CardResult):
            return aid
        loc = jpki.pin_location(pin_type, aid)
        why = jpki.select_outcome(link.transmit(jpki.select_applet(loc.aid))[1], jpki_applet=loc.aid == jpki.AID_JPKI)
        if why is None:
            why = jpki.select_outcome(link.transmit(jpki.select_ef(loc.ef))[1])
        return CardResult(why) if why is not None else loc

    def _read_counter(self, link: CardConnection, pin_type: PinType, identity: CardIdentity | None) -> CardResult:
        loc = self._select_pin(link, pin_type, identity)
        if isinstance(loc, CardResult):
            return loc
        return jpki.result_of_counter(link.transmit(jpki.VERIFY_COUNTER)[1], loc.max_tries)

    def _verify_on(self, link: CardConnection, pin_type: PinType, pin: Pin, identity: CardIdentity | None,
                   shown_tries: int | None) -> CardResult:
        changed = self._check_identity(link, identity)
        if changed is not None:
            return changed
        loc = self._select_pin(link, pin_type, identity)
        if isinstance(loc, CardResult):
            return loc
        counter = jpki.result_of_counter(link.transmit(jpki.VERIFY_COUNTER)[1], loc.max_tries)
        if counter.outcome not in ("ok", "locked"):
            return counter
        if shown_tries is not None and counter.tries_left != shown_tries:
            return CardResult("counter_changed", counter.tries_left)
        if not counter.ok:  # locked (0 tries): the PIN is not sent
            return counter
        return self._send_secret(link, jpki.verify, pin, jpki.result_of_verify, loc.max_tries)

    @staticmethod
    def _send_secret(link: CardConnection, build: Callable[[bytearray], bytearray], pin: Pin,
                     parse: Callable[[int, int], CardResult], max_tries: int) -> CardResult:
        """Transmit a command carrying ``pin``; the bytes live only for the transmit."""
        with pin.reveal() as raw:
            apdu = build(raw)
            try:
                sw = link.transmit(apdu)[1]
            finally:
                jpki.wipe(apdu)
        return parse(sw, max_tries)


def _not_after(cert: bytes) -> date | None:
    """The certificate's end date, or None when it cannot be read (the session goes on without)."""
    try:
        return jpki.certificate_not_after(cert)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None
