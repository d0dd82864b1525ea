"""A VSCard client: the card in QEMU's ``ccid-card-passthru`` reader is the project's virtual card.

QEMU's ``usb-ccid`` device is a USB CCID reader the guest's libccid drives
like any other; its ``ccid-card-passthru`` card forwards every APDU over a
chardev in the VSCard protocol (libcacard's ``vscard_common.h``): messages of
a 12-byte header (type, reader id, payload length: big-endian u32) and a
payload.  QEMU is the *host* of the protocol, this is the *client* (the owner
of the card).  The handshake is Init both ways, then ReaderAdd; an ATR
message inserts the card, CardRemove removes it, and QEMU sends each guest
APDU as an APDU message that we answer with the card's response APDU.

QEMU answers ICC power-on from the ATR it was given and never tells the
client, so the card is powered (security state dropped) here at each insert.

The ATR given to QEMU is not the card's own: the My Number card's ATR offers
only T=1, and QEMU's emulated reader offers only T=0 (measured in the guest:
libccid logs "Protocol T=1 not supported by reader" and SCardConnect fails
with "Card is unresponsive").  The reader exchanges whole short APDUs, so the
protocol changes nothing above it; the kiosk never looks at the ATR (see
``kiosk.jpki.ATR``).  So the card is presented with the smallest T=0 ATR.
Unplugging the reader is QEMU's ``device_del``, not a message.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field

from drivers.card.virtual import VirtualCard
from kiosk import jpki

HEADER = struct.Struct(">III")
VSC_INIT, VSC_ERROR, VSC_READER_ADD, VSC_READER_REMOVE, VSC_ATR, VSC_CARD_REMOVE, VSC_APDU, \
    VSC_FLUSH, VSC_FLUSH_COMPLETE = range(1, 10)
VSCARD_VERSION = 2  # MAKE_VERSION(0, 0, 2)
VSCARD_MAGIC = b"VSCD"  # sent as the four bytes, not byte-swapped
READER_ID = 0  # VSCARD_MINIMAL_READER_ID
UNDEFINED_READER_ID = 0xFFFFFFFF
#: TS = 3B (direct convention), T0 = 00: no interface bytes (T=0), no historical bytes.
QEMU_READER_ATR = bytes.fromhex("3B00")
INS_VERIFY = jpki.INS_VERIFY


@dataclass
class ApduRecord:
    """One APDU exchange as the card saw it (INS byte only kept: the data may be a PIN)."""

    ins: int
    with_data: bool  # VERIFY with data checks a PIN; without, it reads the retry counter
    sw: int
    at_s: float


class VSCardClient:
    """Connects to QEMU's passthru chardev (a unix socket QEMU serves) and plays the card."""

    def __init__(self, card: VirtualCard, socket_path: str) -> None:
        self.card = card
        self.socket_path = socket_path
        self.apdus: list[ApduRecord] = []  # every exchange, in order
        self.errors: list[int] = []  # codes of QEMU's VSC_Error answers
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = False
        self._inserted = False
        self._initialised = threading.Event()
        self.closed = threading.Event()

    # -- life ----------------------------------------------------------------
    def connect(self, timeout_s: float = 30.0) -> None:
        end = time.monotonic() + timeout_s
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(self.socket_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > end:
                    raise TimeoutError(f"VSCard socket {self.socket_path} never accepted")
                time.sleep(0.05)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="vscard", daemon=True)
        self._thread.start()
        self._send(VSC_INIT, UNDEFINED_READER_ID, VSCARD_MAGIC + struct.pack(">II", VSCARD_VERSION, 0))
        if not self._initialised.wait(timeout_s):
            raise TimeoutError("QEMU never answered the VSCard Init")
        self._send(VSC_READER_ADD, READER_ID, b"pin-kiosk virtual card\0")

    def close(self) -> None:
        self._stop = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)

    # -- the citizen's hand --------------------------------------------------
    def insert(self) -> None:
        """Put the card in the reader: power it up (fresh security state) and send its ATR."""
        with self._lock:
            self.card.power_on()
            self._inserted = True
        self._send(VSC_ATR, READER_ID, QEMU_READER_ATR)

    def remove(self) -> None:
        with self._lock:
            self.card.power_off()
            self._inserted = False
        self._send(VSC_CARD_REMOVE, READER_ID, b"")

    def verifies(self) -> int:
        """How many VERIFY commands with data (a PIN check, not a counter read) reached the card."""
        return sum(1 for r in self.apdus if r.ins == INS_VERIFY and r.with_data)

    # -- wire ------------------------------------------------------------------
    def _send(self, type_: int, reader_id: int, payload: bytes) -> None:
        assert self._sock is not None
        self._sock.sendall(HEADER.pack(type_, reader_id, len(payload)) + payload)

    def _recv_exact(self, n: int) -> bytes:
        assert self._sock is not None
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _serve(self) -> None:
        try:
            while not self._stop:
                type_, reader_id, length = HEADER.unpack(self._recv_exact(HEADER.size))
                payload = self._recv_exact(length) if length else b""
                if type_ == VSC_INIT:
                    self._initialised.set()
                elif type_ == VSC_ERROR:
                    self.errors.append(struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else -1)
                elif type_ == VSC_APDU:
                    with self._lock:
                        response = self.card.process(payload)
                    self.apdus.append(ApduRecord(payload[1] if len(payload) > 1 else -1, len(payload) > 5,
                                                 response[-2] << 8 | response[-1], time.monotonic()))
                    self._send(VSC_APDU, reader_id, response)
                elif type_ == VSC_FLUSH:
                    self._send(VSC_FLUSH_COMPLETE, reader_id, b"")
        except (EOFError, OSError):
            pass
        finally:
            self.closed.set()
