"""Console link framing: one JSON object per line, guarded by a CRC-32.

Theory of operation
-------------------
A frame on the wire is ``<json>*<crc>\\n``: ``<json>`` is a one-line JSON
object in ASCII (anything else escaped as ``\\uXXXX``) of at most
``MAX_JSON_BYTES`` bytes, ``<crc>`` is 8 uppercase hex digits of
``zlib.crc32`` over exactly the ``<json>`` bytes.  A human can read the link
with any serial terminal; a line noise burst, a half-written line after a
cable pull or a person typing into the port cannot become a frame, because it
will not pass the CRC and the envelope check.

``encode`` builds a line; ``FrameDecoder.feed`` turns arbitrary received bytes
into the frames that passed every check and counts what it dropped, by
reason, in ``dropped``.  The newline is the only synchronisation: whatever
happens inside a line, the next ``\\n`` starts afresh, and a line longer than
``MAX_LINE_BYTES`` is discarded up to that newline without being buffered.

The decoder checks the *envelope* every frame of version 1 shares (``v``,
``type``, ``seq``, ``boot``); what each type may carry is kiosk.protocol's
business.  Pure: no I/O, no clock.
"""
from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from typing import Any

VERSION = 1
#: The longest ``<json>`` part of a frame, in bytes.
MAX_JSON_BYTES = 4096
#: ``<json>`` + ``*`` + 8 hex digits + ``\r\n``.
MAX_LINE_BYTES = MAX_JSON_BYTES + 1 + 8 + 2
#: Longest sender boot id accepted (kiosk boots are 16 hex digits).
MAX_BOOT_CHARS = 64
#: Largest sequence number accepted: keeps numbers exact in every JSON reader.
MAX_SEQ = 2**53 - 1

_CRC_RE = re.compile(rb"[0-9A-Fa-f]{8}")
_TYPE_RE = re.compile(r"[a-z][a-z0-9_.]{0,39}")


class FrameError(ValueError):
    """A frame that cannot be sent (too long, not an object) or a line that is not a frame."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def crc_hex(json_bytes: bytes) -> bytes:
    """The 8 uppercase hex digits of CRC-32 (zlib.crc32) over ``json_bytes``."""
    return b"%08X" % (zlib.crc32(json_bytes) & 0xFFFFFFFF)


def encode(frame: dict[str, Any]) -> bytes:
    """One wire line for ``frame``; raises FrameError if it would exceed the limit."""
    if not isinstance(frame, dict):
        raise FrameError("a frame is a JSON object")
    try:
        body = json.dumps(frame, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise FrameError(f"not representable as JSON: {exc}") from None
    if len(body) > MAX_JSON_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_JSON_BYTES}")
    return body + b"*" + crc_hex(body) + b"\n"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise FrameError("duplicate key")
    return obj


def _no_constants(name: str) -> Any:
    raise FrameError(f"{name} is not JSON")


def check_envelope(obj: Any) -> dict[str, Any]:
    """Return ``obj`` if it carries a valid version-1 envelope, else raise FrameError."""
    if not isinstance(obj, dict):
        raise FrameError("not an object")
    v = obj.get("v")
    if type(v) is not int or v != VERSION:
        raise FrameError("bad version")
    t = obj.get("type")
    if not isinstance(t, str) or not _TYPE_RE.fullmatch(t):
        raise FrameError("bad type")
    seq = obj.get("seq")
    if type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        raise FrameError("bad seq")
    boot = obj.get("boot")
    if not isinstance(boot, str) or not 0 < len(boot) <= MAX_BOOT_CHARS:
        raise FrameError("bad boot")
    return obj


def decode_line(line: bytes) -> dict[str, Any]:
    """The frame in one line (without its newline; a trailing ``\\r`` is allowed).

    Raises FrameError with a short reason for anything that is not a valid frame.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > MAX_LINE_BYTES - 2:
        raise FrameError("too long")
    if not line.isascii():
        raise FrameError("not ascii")
    star = line.rfind(b"*")
    if star < 0:
        raise FrameError("no crc")
    body, crc = line[:star], line[star + 1:]
    if not _CRC_RE.fullmatch(crc):
        raise FrameError("bad crc field")
    if crc.upper() != crc_hex(body):
        raise FrameError("crc mismatch")
    try:
        obj = json.loads(body.decode("ascii"), object_pairs_hook=_no_duplicate_keys,
                         parse_constant=_no_constants)
    except FrameError:
        raise
    except (ValueError, RecursionError):
        raise FrameError("bad json") from None
    return check_envelope(obj)


class FrameDecoder:
    """Bytes in, valid frames out; bad lines dropped and counted by reason.

    Never raises on any input.  Empty lines (a human pressing Enter) are
    ignored without counting.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop up to the next newline
        self.dropped: Counter[str] = Counter()
        self.frames = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def reset(self) -> None:
        """Forget a partial line (the port was closed and reopened)."""
        self._buf.clear()
        self._discarding = False

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                self._append(data[start:])
                return out
            self._append(data[start:nl])
            start = nl + 1
            if self._discarding:
                self._discarding = False
                continue
            line = bytes(self._buf)
            self._buf.clear()
            if line in (b"", b"\r"):
                continue
            try:
                out.append(decode_line(line))
                self.frames += 1
            except FrameError as exc:
                self.dropped[exc.reason] += 1

    def _append(self, chunk: bytes) -> None:
        if self._discarding or not chunk:
            return
        if len(self._buf) + len(chunk) > MAX_LINE_BYTES:
            self._buf.clear()
            self._discarding = True
            self.dropped["too long"] += 1
            return
        self._buf += chunk
