"""A crossover cable between two ptys: the demo's staff console and the kiosk on one machine.

Two ``os.openpty`` pairs; a thread copies bytes master-to-master both ways,
so each side opens its pty's slave path as it would open a USB-serial
adapter (``/dev/pts/N`` standing in for ``/dev/kiosk-console``).  Every byte
that crosses is kept in ``transcript`` (direction, bytes) so the demo can
show, and tests can scan, exactly what went over the line.
"""
from __future__ import annotations

import os
import select
import threading
import tty


def _pty() -> tuple[int, str]:
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    os.close(slave)
    return master, path


class NullModem:
    """``kiosk_path`` and ``console_path``: the two ends; ``close()`` pulls the cable."""

    def __init__(self) -> None:
        self._kiosk_master, self.kiosk_path = _pty()
        self._console_master, self.console_path = _pty()
        self.transcript: list[tuple[str, bytes]] = []
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._pump, name="null-modem", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        peer = {self._kiosk_master: (self._console_master, "kiosk->console"),
                self._console_master: (self._kiosk_master, "console->kiosk")}
        while True:
            ready, _, _ = select.select([*peer, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:  # nobody has the slave open yet (EIO): wait for them
                    data = b""
                if not data:
                    select.select([self._stop_r], [], [], 0.05)
                    continue
                out, direction = peer[fd]
                self.transcript.append((direction, data))
                try:
                    os.write(out, data)
                except OSError:
                    pass  # the far side is not open: the bytes are lost, as on a real cable

    def bytes_sent(self, direction: str) -> bytes:
        return b"".join(d for dirn, d in list(self.transcript) if dirn == direction)

    def close(self) -> None:
        os.write(self._stop_w, b"x")
        self._thread.join(2)
        for fd in (self._kiosk_master, self._console_master, self._stop_r, self._stop_w):
            os.close(fd)
