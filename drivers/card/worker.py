"""``CardWorker``: card operations and presence on a thread, so the app loop never blocks.

Theory of operation
-------------------
The app loop owns a selector; the worker gives it one file descriptor
(``fileno()``, the read end of a pipe) that becomes readable whenever
results or presence changes are waiting.  ``submit()`` queues an operation
and returns at once with a request id; ``drain()`` hands back every pending
``CardEvent`` (results carry their request id).

The thread alternates between running queued operations and blocking in the
backend's ``wait_presence`` (``SCardGetStatusChange`` for pcsc, which costs
no CPU while it waits).  ``submit`` and ``close`` end that wait early with
the backend's ``cancel`` (``SCardCancel``); the wait is also capped at
``wait_s`` so a cancel that races with entering the wait costs at most that.

The worker keeps a reference to the submitted ``Pin`` objects only until the
operation ran; it never wipes them (the session owns them and wipes them
after the result).  A Pin wiped before its turn is refused by the backend
without contacting the card.
"""
from __future__ import annotations

import itertools
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from drivers.card.base import PRESENCE_KINDS, CardBackend
from kiosk.jpki import CardIdentity, CardResult
from kiosk.pin import Pin, PinType

log = logging.getLogger("pin_kiosk.card")

#: operation name -> how many PINs it takes
OPERATIONS = {"identify": 0, "tries_left": 0, "verify": 1, "change": 2}


@dataclass(frozen=True)
class CardEvent:
    """A result (``kind == "result"``) or a presence change (``kind`` in PRESENCE_KINDS)."""

    kind: str
    request_id: int | None = None
    op: str | None = None
    pin_type: PinType | None = None
    result: CardResult | None = None
    reader: str | None = None

    def __post_init__(self) -> None:
        if self.kind != "result" and self.kind not in PRESENCE_KINDS:
            raise ValueError(f"unknown card event kind {self.kind!r}")


class CardWorker:
    """Runs ``backend`` operations on a thread; results and presence come back through ``fileno()``."""

    def __init__(self, backend: CardBackend, *, wait_s: float = 0.5, stall_s: float = 30.0) -> None:
        self.backend = backend
        self.wait_s = wait_s
        self.stall_s = stall_s
        self._ids = itertools.count(1)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._events: list[CardEvent] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)
        self._beat_s = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="card-worker", daemon=True)
        self._thread.start()

    # -- the app loop's side -------------------------------------------------
    def fileno(self) -> int:
        return self._read_fd

    def submit(self, op_name: str, pin_type: PinType, *pins: Pin, identity: CardIdentity | None = None,
               shown_tries: int | None = None) -> int:
        """Queue ``identify``/``tries_left``/``verify``/``change`` for ``pin_type``; the request id at once.

        ``identity``: the session's card (nothing else is talked to); ``shown_tries``: the
        count the citizen saw (verify/change send the PIN only if the card still says so).
        """
        if op_name not in OPERATIONS:
            raise ValueError(f"unknown card operation {op_name!r} (known: {', '.join(OPERATIONS)})")
        if len(pins) != OPERATIONS[op_name]:
            raise ValueError(f"{op_name} takes {OPERATIONS[op_name]} PIN(s), got {len(pins)}")
        if self._closed.is_set():
            raise RuntimeError("card worker is closed")
        request_id = next(self._ids)
        options = {}
        if identity is not None and op_name != "identify":
            options["identity"] = identity
        if shown_tries is not None and op_name in ("verify", "change"):
            options["shown_tries"] = shown_tries
        self._requests.put((request_id, op_name, PinType(pin_type), pins, options))
        self.backend.cancel()
        return request_id

    def drain(self) -> list[CardEvent]:
        """Every event waiting, oldest first; empties the pipe."""
        try:
            while os.read(self._read_fd, 4096):
                pass
        except BlockingIOError:
            pass
        with self._lock:
            events, self._events = self._events, []
        return events

    def alive(self, now_s: float | None = None) -> bool:
        """For the watchdog: the thread runs and went round its loop within ``stall_s``."""
        now_s = time.monotonic() if now_s is None else now_s
        return self._thread.is_alive() and now_s - self._beat_s < self.stall_s

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop the thread promptly (a blocked presence wait is cancelled) and close the pipe."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.backend.cancel()
        self._thread.join(timeout_s)
        self.backend.close()
        for fd in (self._read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass

    # -- the thread ------------------------------------------------------------
    def _post(self, events: list[CardEvent]) -> None:
        if not events:
            return
        with self._lock:
            self._events.extend(events)
        try:
            os.write(self._write_fd, b"!")
        except (BlockingIOError, OSError):  # pipe full: the reader is already due to wake
            pass

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._beat_s = time.monotonic()
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                request = None
            try:
                if request is not None:
                    self._post([self._run(*request)])
                    del request  # drop our references to the caller's Pins
                    continue
                presence = self.backend.wait_presence(self.wait_s)
                self._post([CardEvent(p.kind, reader=p.reader) for p in presence])
            except Exception as exc:  # a backend bug must not kill the thread the watchdog watches
                log.error("card worker: unexpected %s", type(exc).__name__)
                if request is not None:
                    self._post([CardEvent("result", request[0], request[1], request[2], CardResult("error"))])
                self._closed.wait(self.wait_s)

    def _run(self, request_id: int, op_name: str, pin_type: PinType, pins: tuple, options: dict) -> CardEvent:
        result = getattr(self.backend, op_name)(pin_type, *pins, **options)
        return CardEvent("result", request_id, op_name, pin_type, result)
