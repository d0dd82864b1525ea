"""The terminal's console key: the shared secret that makes the serial line version 2.

Theory of operation
-------------------
Anyone who can reach the serial line (a laptop on the adapter, a splice in the
cable) could otherwise be the staff console: ack the kiosk's results away,
start entries, start a calibration.  With a key, every frame both ways carries
an HMAC-SHA256 under it (kiosk.frames) and only a holder of the key is the
console.  One key per terminal, created at install, never on the wire:

* the file is 64 lowercase hex digits (32 random bytes) and a newline, mode
  0600, in ``/etc/pin-kiosk`` (``[console] key_file``); the staff PC's console
  reads a copy of the same file (``pin-kiosk console --key-file``);
* ``fingerprint`` is what two people compare to know both ends hold the same
  key without reading it aloud (a SHA-256 of a label and the key, 16 hex digits);
* rotating writes a fresh key atomically; the kiosk reads its key at start, so
  rotation is: rotate, copy to the console, restart the kiosk.

A key file that is present but malformed or readable by others is refused with
a one-line reason; a missing one means the link stays version 1 (unauthenticated),
which the kiosk logs and reports in its status.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import stat
from pathlib import Path

from kiosk.durable import write_atomic

KEY_BYTES = 32
_KEY_RE = re.compile(r"[0-9a-f]{%d}" % (2 * KEY_BYTES))
_FINGERPRINT_LABEL = b"pin-kiosk console key fingerprint\0"


class KeyFileError(ValueError):
    """A key file that exists but cannot be used (the message is one line, never the key)."""


def load_key(path: Path | str) -> bytes | None:
    """The key in ``path``; None when there is no such file; KeyFileError when it is unusable."""
    path = Path(path)
    try:
        st = path.stat()
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: mode {stat.S_IMODE(st.st_mode):04o}, must be 0600 (chmod 600 {path})")
    if not _KEY_RE.fullmatch(text):
        raise KeyFileError(f"{path}: not a console key (expected {2 * KEY_BYTES} lowercase hex digits)")
    return bytes.fromhex(text)


def fingerprint(key: bytes) -> str:
    """16 hex digits in groups of four, the same at both ends when the keys are the same."""
    digest = hashlib.sha256(_FINGERPRINT_LABEL + key).hexdigest()[:16]
    return "-".join(digest[i:i + 4] for i in range(0, 16, 4))


def write_new_key(path: Path | str) -> bytes:
    """Write a fresh random key to ``path`` (0600, atomically, replacing any old one); return it."""
    key = secrets.token_bytes(KEY_BYTES)
    write_atomic(Path(path), key.hex().encode("ascii") + b"\n", mode=0o600)
    return key


def create_key(path: Path | str) -> bytes:
    """A new key in ``path``; KeyFileError if a key is already there (rotate replaces one)."""
    if os.path.lexists(path):
        raise KeyFileError(f"{path}: a key already exists (use rotate to replace it)")
    return write_new_key(path)
