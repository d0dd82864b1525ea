"""The virtual card as a card in a real reader: a client of vsmartcard's vpcd driver.

Theory of operation
-------------------
pcscd loads vpcd (``/etc/reader.conf.d/vpcd``: reader "Virtual PCD", slot 0
listening on TCP port ``0x8C7B`` = 35963, slot 1 on the next port).  A card
"is inserted" while a client is connected to the slot's port.  Every
message, both ways, is a 2-byte big-endian length and that many bytes.  A
1-byte message from vpcd is a control code (0 power off, 1 power on,
2 reset, 4 get ATR: only the last one is answered, with the ATR); anything
longer is a command APDU, answered with the response APDU.

Debian's vpcd 3.3 writes the length and the body in two writes; with
delayed ACKs each APDU would wait ~40 ms, so ``TCP_QUICKACK`` is set before
every receive (Linux clears it again after use).

When pcscd goes away the connection ends; the client powers the card off
(dropping any verified state) and reconnects every ``reconnect_s`` until
pcscd is back or ``stop()`` is called.
"""
from __future__ import annotations

import logging
import socket
import threading
import time

from drivers.card.virtual import VirtualCard
from kiosk import jpki

log = logging.getLogger("pin_kiosk.simcard")

VPCD_DEFAULT_PORT = 0x8C7B  # 35963, from /etc/reader.conf.d/vpcd
CTRL_OFF, CTRL_ON, CTRL_RESET, CTRL_ATR = 0, 1, 2, 4


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``, default port) -> (host, port); ValueError with a clear reason."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, str(VPCD_DEFAULT_PORT)
    if not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"port must be 1..65535, got {port!r}")
    return host, int(port)


class _Closed(Exception):
    """The connection ended (pcscd stopped, or stop() was called)."""


class VpcdClient:
    """Plugs ``card`` into the vpcd slot at ``host:port``; ``serve()`` runs until ``stop()``."""

    def __init__(self, card: VirtualCard, host: str, port: int, *,
                 reconnect_s: float = 0.2, verify_delay_s: float = 0.0) -> None:
        self.card = card
        self.host, self.port = host, port
        self.reconnect_s = reconnect_s
        #: a real card takes time to check a PIN; tests use this to pull the card mid-VERIFY
        self.verify_delay_s = verify_delay_s
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self.connected = threading.Event()

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve(self) -> None:
        """Connect, answer vpcd until the connection ends, reconnect; return after ``stop()``."""
        announced_wait = False
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=1.0)
            except OSError:
                if not announced_wait:
                    log.info("waiting for vpcd on %s:%d", self.host, self.port)
                    announced_wait = True
                self._stop.wait(self.reconnect_s)
                continue
            announced_wait = False
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            if self._stop.is_set():  # stop() raced with the connect
                sock.close()
                break
            log.info("card inserted into vpcd %s:%d", self.host, self.port)
            self.connected.set()
            try:
                self._answer(sock)
            except (_Closed, OSError):
                pass
            finally:
                self.connected.clear()
                self._sock = None
                sock.close()
                self.card.power_off()
            log.info("vpcd connection ended")

    def _answer(self, sock: socket.socket) -> None:
        while True:
            size = int.from_bytes(self._recv_exact(sock, 2), "big")
            message = self._recv_exact(sock, size)
            if size == 1:
                code = message[0]
                if code == CTRL_OFF:
                    self.card.power_off()
                elif code == CTRL_ON:
                    self.card.power_on()
                elif code == CTRL_RESET:
                    self.card.reset()
                elif code == CTRL_ATR:
                    self._send(sock, jpki.ATR)
                continue
            if self.verify_delay_s and jpki.carries_secret(message) and message[1] == jpki.INS_VERIFY:
                time.sleep(self.verify_delay_s)
            response = self.card.process(message)
            jpki.wipe(message)
            self._send(sock, response)

    @staticmethod
    def _send(sock: socket.socket, payload: bytes) -> None:
        sock.sendall(len(payload).to_bytes(2, "big") + payload)

    @staticmethod
    def _recv_exact(sock: socket.socket, size: int) -> bytearray:
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            n = sock.recv_into(view[got:])
            if n == 0:
                raise _Closed()
            got += n
        return buf
