"""The console's I/O shell: one port and one client core, shared by both faces.

Theory of operation
-------------------
``Station`` owns what touches the world: the serial port (pyserial, through
``drivers.serial_link.SerialPort``) and the byte-level link end
(``kiosk.console_link.LinkEnd``: framing, buffering, reopening), the same ones
the kiosk uses.  It adds no decision: ``step`` opens, reads, hands every event
to the ``ConsoleClient`` and writes what the client's ``Link`` has due, and
returns the client's notices.  The faces call ``step`` every ``POLL_S`` from
their own loop (prompt_toolkit's or Tk's): a serial port on Windows has no
descriptor to wait on, so polling is the one way that works everywhere.
The clocks are read here and nowhere else in the console.
"""
from __future__ import annotations

import time
from typing import Any

from kiosk.console.client import ConsoleClient, Notice
from kiosk.console.commands import Parsed
from kiosk.protocol import Received

#: How often a face calls ``step``: fast enough that nobody notices, idle enough for a PC.
POLL_S = 0.1


class Station:
    """The port, the link end and the client core, stepped by a face."""

    def __init__(self, client: ConsoleClient, port: str, baudrate: int, reopen_max_s: float) -> None:
        from drivers.serial_link import SerialPort
        from kiosk.console_link import LinkEnd

        self.client = client
        self.end = LinkEnd(client.link, SerialPort(port, baudrate, reopen_max_s))
        self._was_open = False
        #: Every new kiosk frame, for a face that prints them raw (``--json``); that face empties it.
        self.received: list[dict[str, Any]] = []
        self.keep_frames = False

    @staticmethod
    def clocks() -> tuple[float, float]:
        """(monotonic, wall) now."""
        return time.monotonic(), time.time()

    def step(self) -> list[Notice]:
        """Open if due, read, let the client see it, write what is due."""
        now_s, wall_s = self.clocks()
        out: list[Notice] = []
        if self.end.open_if_due(now_s) and not self._was_open:
            self._was_open = True
            out += self.client.port_opened(wall_s)
        events = self.end.receive(now_s)
        if self.keep_frames:
            self.received += [ev.frame for ev in events if isinstance(ev, Received)]
        out += self.client.events(events, now_s, wall_s)
        if self._was_open and not self.end.port.is_open:
            self._was_open = False
            out += self.client.port_lost(wall_s)
        out += self.client.tick(now_s, wall_s)
        self.end.flush(now_s)
        return out

    def typed(self, line: str) -> tuple[list[Notice], Parsed | None]:
        now_s, wall_s = self.clocks()
        notices, parsed = self.client.typed(line, now_s, wall_s)
        self.end.flush(now_s)
        return notices, parsed

    def send(self, type_: str, fields: dict[str, Any]) -> list[Notice]:
        """A command from a button: straight to the client, no parsing."""
        now_s, wall_s = self.clocks()
        notices = self.client.send(type_, fields, now_s, wall_s)
        self.end.flush(now_s)
        return notices

    def acknowledge(self) -> list[Notice]:
        return self.client.acknowledge(self.clocks()[1])

    @property
    def pending(self) -> int:
        """Commands the kiosk has not acked yet."""
        return self.client.link.pending

    def close(self) -> None:
        self.end.close()
