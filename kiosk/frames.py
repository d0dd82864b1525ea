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

*Version 2: authenticated.*  With a key (the terminal's console key,
kiosk.console_key) a frame is ``<json>*<crc>:<mac>\n``: ``<mac>`` is 32
lowercase hex digits, the first 16 bytes of HMAC-SHA256 under the key over
exactly the ``<json>`` bytes, and the envelope says ``"v":2``.  The CRC still
tells noise from forgery in the counters (``crc mismatch`` vs ``bad mac``).  A
decoder with a key accepts only version 2 lines with a valid MAC; one without a
key accepts only version 1: there is no downgrade.

The decoder checks the *envelope* every frame shares (``v``, ``type``, ``seq``,
``boot``); what each type may carry is kiosk.protocol's business.  Pure: no
I/O, no clock.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import zlib
from collections import Counter
from typing import Any

VERSION = 1
#: The authenticated version: every frame carries a MAC.
VERSION_MAC = 2
#: HMAC-SHA256 truncated to this many bytes (hex digits: twice as many).
MAC_BYTES = 16
#: The longest ``<json>`` part of a frame, in bytes.
MAX_JSON_BYTES = 4096
#: ``<json>`` + ``*`` + 8 hex digits + ``:`` + the MAC's hex digits + ``\r\n``.
MAX_LINE_BYTES = MAX_JSON_BYTES + 1 + 8 + 1 + 2 * MAC_BYTES + 2
#: Longest sender boot id accepted (kiosk boots are 16 hex digits).
MAX_BOOT_CHARS = 64
#: Largest sequence number accepted: keeps numbers exact in every JSON reader.
MAX_SEQ = 2**53 - 1

_CRC_RE = re.compile(rb"[0-9A-Fa-f]{8}")
_MAC_RE = re.compile(rb"[0-9a-f]{%d}" % (2 * MAC_BYTES))
_TYPE_RE = re.compile(r"[a-z][a-z0-9_.]{0,39}")


class FrameError(ValueError):
    """A frame that cannot be sent (too long, not an object) or a line that is not a frame."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def crc_hex(json_bytes: bytes) -> bytes:
    """The 8 uppercase hex digits of CRC-32 (zlib.crc32) over ``json_bytes``."""
    return b"%08X" % (zlib.crc32(json_bytes) & 0xFFFFFFFF)


def mac_hex(key: bytes, json_bytes: bytes) -> bytes:
    """The MAC field: lowercase hex of HMAC-SHA256(key, json_bytes) truncated to MAC_BYTES."""
    return hmac.new(key, json_bytes, hashlib.sha256).hexdigest()[: 2 * MAC_BYTES].encode("ascii")


def version_for(key: bytes | None) -> int:
    """The protocol version a link end speaks: 2 with a key, 1 without."""
    return VERSION_MAC if key else VERSION


def encode(frame: dict[str, Any], key: bytes | None = None) -> bytes:
    """One wire line for ``frame`` (with its MAC under ``key``); FrameError if it would exceed the limit."""
    if not isinstance(frame, dict):
        raise FrameError("a frame is a JSON object")
    try:
        body = json.dumps(frame, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    except (TypeError, ValueError) as exc:
        raise FrameError(f"not representable as JSON: {exc}") from None
    if len(body) > MAX_JSON_BYTES:
        raise FrameError(f"frame of {len(body)} bytes exceeds {MAX_JSON_BYTES}")
    if frame.get("v") != version_for(key):
        raise FrameError("version does not match the key")
    line = body + b"*" + crc_hex(body)
    if key:
        line += b":" + mac_hex(key, body)
    return line + b"\n"


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise FrameError("duplicate key")
    return obj


def _no_constants(name: str) -> Any:
    raise FrameError(f"{name} is not JSON")


def check_envelope(obj: Any, version: int = VERSION) -> dict[str, Any]:
    """Return ``obj`` if it carries a valid envelope of ``version``, else raise FrameError."""
    if not isinstance(obj, dict):
        raise FrameError("not an object")
    v = obj.get("v")
    if type(v) is not int or v != version:
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


def decode_line(line: bytes, key: bytes | None = None) -> dict[str, Any]:
    """The frame in one line (without its newline; a trailing ``\\r`` is allowed).

    With ``key``, only a version-2 line whose MAC verifies.  Raises FrameError
    with a short reason for anything that is not a valid frame.
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
    crc, colon, mac = crc.partition(b":")
    if not _CRC_RE.fullmatch(crc):
        raise FrameError("bad crc field")
    if crc.upper() != crc_hex(body):
        raise FrameError("crc mismatch")
    if key:
        if not colon:
            raise FrameError("no mac")
        if not _MAC_RE.fullmatch(mac) or not hmac.compare_digest(mac, mac_hex(key, body)):
            raise FrameError("bad mac")
    elif colon:
        raise FrameError("bad crc field")
    try:
        obj = json.loads(body.decode("ascii"), object_pairs_hook=_no_duplicate_keys,
                         parse_constant=_no_constants)
    except FrameError:
        raise
    except (ValueError, RecursionError):
        raise FrameError("bad json") from None
    return check_envelope(obj, version_for(key))


#: Drop reasons that mean "intact line, not from a key holder" (counted apart from noise).
UNAUTHENTICATED = ("no mac", "bad mac")


class FrameDecoder:
    """Bytes in, valid frames out; bad lines dropped and counted by reason.

    Never raises on any input.  Empty lines (a human pressing Enter) are
    ignored without counting.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key
        self._buf = bytearray()
        self._discarding = False  # inside an over-long line: drop up to the next newline
        self.dropped: Counter[str] = Counter()
        self.frames = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def unauthenticated(self) -> int:
        """Intact lines dropped for a missing or wrong MAC: someone on the line without the key."""
        return sum(self.dropped[r] for r in UNAUTHENTICATED)

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
                out.append(decode_line(line, self.key))
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
