"""The plain face: one line per notice on stdout, commands from stdin (pipes, scripts, the demo).

Used when stdin is not a terminal, or with ``--json`` (each new kiosk frame as
one JSON object on stdout; notices on stderr).  Alerts start with ``!!!``
because a pipe has no colour.  At end of input it leaves once the kiosk has
acked every command it sent, so ``echo logout | pin-kiosk console --port ...``
is a one-shot sender.  Standard input is read on a thread: on Windows a pipe
cannot be waited on together with a serial port.
"""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import TextIO

from kiosk.console.client import Notice, Tone
from kiosk.console.station import POLL_S, Station

ALERT_PREFIX = "!!! "
#: Give up waiting for acks at end of input after this long.
EOF_ACK_WAIT_S = 15.0


class PlainConsole:
    """Notices as lines; ``step`` and ``command`` are what the demo drives too."""

    def __init__(self, station: Station, out: TextIO, err: TextIO, as_json: bool = False) -> None:
        self.station, self.out, self.err, self.as_json = station, out, err, as_json
        station.keep_frames = as_json

    def say(self, n: Notice) -> None:
        stream = self.err if self.as_json else self.out
        prefix = ALERT_PREFIX if n.tone is Tone.ALERT else ""
        print(prefix + n.line(), file=stream, flush=True)

    def step(self) -> None:
        for n in self.station.step():
            if not self.as_json or n.tone in (Tone.ALERT, Tone.LINK, Tone.REFUSED, Tone.ACCEPTED, Tone.WARNING):
                self.say(n)
        if self.as_json:
            for frame in self.station.received:
                print(json.dumps(frame, ensure_ascii=False), file=self.out, flush=True)
        self.station.received.clear()

    def command(self, line: str) -> bool:
        """Send or answer one typed line; False when the clerk asked to quit."""
        notices, parsed = self.station.typed(line)
        for n in notices:
            self.say(n)
        return not (parsed is not None and parsed.action == "quit")


def _read_lines(stream: TextIO, into: "queue.SimpleQueue[str | None]") -> None:
    for line in stream:
        into.put(line.rstrip("\r\n"))
    into.put(None)


def run_plain(station: Station, stdin: TextIO, out: TextIO, err: TextIO, as_json: bool,
              stop: threading.Event) -> int:
    console = PlainConsole(station, out, err, as_json)
    if not as_json:
        print("pin-kiosk console: help（ヘルプ）でコマンド一覧 / type help for commands", file=out, flush=True)
    lines: "queue.SimpleQueue[str | None]" = queue.SimpleQueue()
    threading.Thread(target=_read_lines, args=(stdin, lines), daemon=True, name="stdin").start()
    eof_at: float | None = None
    try:
        while not stop.is_set():
            console.step()
            while eof_at is None and not lines.empty():
                line = lines.get()
                if line is None:
                    eof_at = time.monotonic()
                elif not console.command(line):
                    return 0
            if eof_at is not None and (station.pending == 0 or time.monotonic() - eof_at > EOF_ACK_WAIT_S):
                if station.pending:
                    print(f"{ALERT_PREFIX}端末が受け取っていないコマンドが{station.pending}件あります / "
                          f"{station.pending} commands not acknowledged by the kiosk", file=err, flush=True)
                    return 1
                return 0
            stop.wait(POLL_S / 2)
    finally:
        station.close()
    return 0
