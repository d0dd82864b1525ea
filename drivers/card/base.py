"""What every card backend is, and the three PIN operations, written once.

Theory of operation
-------------------
A backend (``pcsc``, ``sim``) knows how to reach a card: ``open_link()``
gives a ``Link`` (one exclusive connection; ``transmit`` one APDU; ``close``
powers the card down or resets it, which drops any verified state), and
``wait_presence(timeout_s)`` blocks until a reader or card comes or goes.
Failures inside a backend are ``CardFault(outcome)``; they never leave this
package: the operations below turn them into ``CardResult`` values.

The operations are the same for every backend, so they live here:

* every operation opens a link, selects the JPKI applet (that is the test
  for "a My Number card"), then the PIN's applet and PIN file;
* ``tries_left`` sends the empty VERIFY only;
* ``verify`` reads the counter first and does not send the PIN when it is 0;
* ``change`` is a ``verify`` of the old PIN followed, on the same link, by
  CHANGE REFERENCE DATA with the new one;
* the PIN bytes exist only inside ``pin.reveal()`` and the command buffer
  built from them is wiped right after the transmit;
* the link is closed (card reset) whatever happens.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from kiosk import jpki
from kiosk.jpki import CardResult
from kiosk.pin import Pin, PinType, entry_problem

log = logging.getLogger("pin_kiosk.card")

#: Presence changes a backend reports (and ``CardWorker`` forwards).
PRESENCE_KINDS = ("reader_added", "reader_removed", "card_inserted", "card_removed", "pcscd_down", "pcscd_up")


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


class Link:
    """One connection to the card, exclusive until closed."""

    def transmit(self, apdu: bytes | bytearray) -> tuple[bytes, int]:
        """Send one command APDU; ``(data, SW)``; CardFault when the card or reader went away."""
        raise NotImplementedError

    def close(self) -> None:
        """End the connection and reset the card, dropping every verified state."""
        raise NotImplementedError


class CardBackend:
    """A way to reach the card.  Subclasses provide open_link, wait_presence, cancel, status."""

    name = "card"

    # -- what a backend provides ------------------------------------------
    def open_link(self) -> Link:
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
    def tries_left(self, pin_type: PinType) -> CardResult:
        """How many tries the PIN has left, without spending one (``ok``/``locked`` or why not)."""
        loc = jpki.PIN_LOCATIONS[pin_type]

        def steps(link: Link) -> CardResult:
            return self._select_pin(link, pin_type) or jpki.result_of_counter(
                link.transmit(jpki.VERIFY_COUNTER)[1], loc.max_tries)

        return self._run("tries_left", pin_type, steps)

    def verify(self, pin_type: PinType, pin: Pin) -> CardResult:
        """Check ``pin`` with the card; refuses to send when no try is left.  Does not wipe ``pin``."""
        if entry_problem(pin_type, pin) is not None:
            # never on the wire: an empty body would even read as the counter command
            return CardResult("error")
        return self._run("verify", pin_type, lambda link: self._verify_on(link, pin_type, pin))

    def change(self, pin_type: PinType, old: Pin, new: Pin) -> CardResult:
        """Verify ``old``, then set ``new``, on one connection.  Does not wipe either PIN.

        A wrong or locked ``old`` gives that verify result and nothing is changed.
        """
        if entry_problem(pin_type, old) is not None or entry_problem(pin_type, new, new_pin=True) is not None:
            return CardResult("error")
        loc = jpki.PIN_LOCATIONS[pin_type]

        def steps(link: Link) -> CardResult:
            checked = self._verify_on(link, pin_type, old)
            if not checked.ok:
                return checked
            return self._send_secret(link, jpki.change_reference_data, new, jpki.result_of_change, loc.max_tries)

        return self._run("change", pin_type, steps)

    # -- shared steps ---------------------------------------------------------
    def _run(self, op: str, pin_type: PinType, steps: Callable[[Link], CardResult]) -> CardResult:
        try:
            link = self.open_link()
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
        log.log(logging.DEBUG if op == "tries_left" else logging.INFO,
                "%s %s: %s tries_left=%s", op, pin_type, result.outcome, result.tries_left)
        return result

    @staticmethod
    def _select_pin(link: Link, pin_type: PinType) -> CardResult | None:
        """Select the JPKI applet (is this a My Number card?), then the PIN's applet and file."""
        loc = jpki.PIN_LOCATIONS[pin_type]
        if link.transmit(jpki.select_applet(jpki.AID_JPKI))[1] != jpki.SW_OK:
            return CardResult("not_mynumber")
        if loc.aid != jpki.AID_JPKI and link.transmit(jpki.select_applet(loc.aid))[1] != jpki.SW_OK:
            return CardResult("not_mynumber")
        if link.transmit(jpki.select_ef(loc.ef))[1] != jpki.SW_OK:
            return CardResult("not_mynumber")
        return None

    def _verify_on(self, link: Link, pin_type: PinType, pin: Pin) -> CardResult:
        loc = jpki.PIN_LOCATIONS[pin_type]
        selected = self._select_pin(link, pin_type)
        if selected is not None:
            return selected
        counter = jpki.result_of_counter(link.transmit(jpki.VERIFY_COUNTER)[1], loc.max_tries)
        if not counter.ok:  # locked (0 tries): the PIN is not sent
            return counter
        return self._send_secret(link, jpki.verify, pin, jpki.result_of_verify, loc.max_tries)

    @staticmethod
    def _send_secret(link: Link, build: Callable[[bytearray], bytearray], pin: Pin,
                     parse: Callable[[int, int], CardResult], max_tries: int) -> CardResult:
        """Transmit a command carrying ``pin``; the bytes live only for the transmit."""
        with pin.reveal() as raw:
            apdu = build(raw)
            try:
                sw = link.transmit(apdu)[1]
            finally:
                jpki.wipe(apdu)
        return parse(sw, max_tries)
