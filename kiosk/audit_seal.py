"""Forward-secure sealing of the audit trail: what a stolen SD card cannot rewrite.

Theory of operation
-------------------
The hash chain (kiosk.audit) shows any edit to someone who trusts the newest
head, but whoever holds the SD card can rewrite the whole trail and recompute
every hash.  Sealing is the idea of journald's Forward Secure Sealing, with a
hash chain of keys instead of its FSPRG:

* ``pin-kiosk audit seal-init`` draws a random **verification key** V, prints
  it once (it belongs to the city's IT team, never the terminal) and leaves
  epoch 0's key k_0 = SHA-256("pin-kiosk audit epoch" || V) on the terminal in
  ``audit.sealkey`` (0600).
* Every ``[state] seal_interval_s`` (and at shutdown) the kiosk appends an
  ``audit.seal`` record: ``epoch`` i and ``tag`` = HMAC-SHA256(k_i,
  "pin-kiosk audit seal|i|seq|head") over the seq and hash of the record before
  it.  Then it replaces k_i by k_{i+1} = SHA-256("pin-kiosk audit epoch" || k_i)
  in the key file (atomically) and forgets k_i: the key for an epoch that is
  sealed no longer exists on the terminal, and SHA-256 cannot be run backwards.
* ``verify_seals`` (``pin-kiosk audit verify --verify-key V``) walks the keys
  forward from V and checks every seal: epochs must follow 0, 1, 2, ... and
  each tag must match the chain at that point.  A record edited, inserted or
  removed before the last seal breaks that seal; someone holding the card has
  only the current epoch's key, so cannot make a valid earlier seal, and seals
  they make with it show as an epoch gap.  Records after the last seal are
  reported as *unsealed* (the console's anchors cover those).

The key file also keeps where the last seal is (``sealed_seq``,
``sealed_head``): at start ``check_trail`` says whether the trail still reaches
that record; a trail deleted or cut shorter is an alert and an audit record,
never a silent new chain.  Flash storage may keep an overwritten block for a
while; ``docs/security.md`` says what that leaves.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.durable import write_atomic
from kiosk.state_files import parse_json

SEAL_KEY_FILE = "audit.sealkey"
KEY_BYTES = 32
SEAL_KIND = "audit.seal"


class SealError(ValueError):
    """A sealing key or verification key that cannot be used (one line, never the key)."""


def next_key(key: bytes) -> bytes:
    """The key of the next epoch; the old one cannot be had back from it."""
    return hashlib.sha256(b"pin-kiosk audit epoch" + key).digest()


def epoch_key(verify_key: bytes, epoch: int) -> bytes:
    """k_epoch from the verification key: k_0 is already one step on, so the terminal never holds it."""
    key = verify_key
    for _ in range(epoch + 1):
        key = next_key(key)
    return key


def seal_tag(key: bytes, epoch: int, seq: int, head: str) -> str:
    """The tag of a seal in ``epoch`` over the record ``seq`` whose hash is ``head``."""
    return hmac.new(key, f"pin-kiosk audit seal|{epoch}|{seq}|{head}".encode("ascii"), hashlib.sha256).hexdigest()


@dataclass
class SealState:
    """What the terminal keeps: the current epoch and its key, and where the last seal is."""

    epoch: int
    key: bytes
    sealed_seq: int = 0
    sealed_head: str = ""

    def to_bytes(self) -> bytes:
        return (json.dumps({"epoch": self.epoch, "key": self.key.hex(), "sealed_seq": self.sealed_seq,
                            "sealed_head": self.sealed_head}) + "\n").encode("ascii")


def load_state(state_dir: Path) -> SealState | None:
    """The sealing state, None when sealing was never set up; SealError when it is unusable."""
    path = Path(state_dir) / SEAL_KEY_FILE
    try:
        raw = parse_json(path.read_bytes(), max_bytes=4096)  # strict: no NaN/Infinity, bounded nesting
        state = SealState(int(raw["epoch"]), bytes.fromhex(raw["key"]), int(raw["sealed_seq"]),
                          str(raw["sealed_head"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, OverflowError) as exc:  # StateFileError is a ValueError
        raise SealError(f"{path}: unusable sealing state ({type(exc).__name__})") from None
    if len(state.key) != KEY_BYTES or state.epoch < 0:
        raise SealError(f"{path}: unusable sealing state")
    return state


def save_state(state_dir: Path, state: SealState) -> None:
    write_atomic(Path(state_dir) / SEAL_KEY_FILE, state.to_bytes(), mode=0o600)


def init_sealing(state_dir: Path) -> bytes:
    """Start sealing: a new verification key (returned, to be kept off the terminal), epoch 0 kept here."""
    if (Path(state_dir) / SEAL_KEY_FILE).exists():
        raise SealError(f"{Path(state_dir) / SEAL_KEY_FILE}: sealing is already set up")
    verify_key = secrets.token_bytes(KEY_BYTES)
    save_state(Path(state_dir), SealState(0, epoch_key(verify_key, 0)))
    return verify_key


def verify_key_fingerprint(verify_key: bytes) -> str:
    digest = hashlib.sha256(b"pin-kiosk audit verification key\0" + verify_key).hexdigest()[:16]
    return "-".join(digest[i:i + 4] for i in range(0, 16, 4))


class Sealer:
    """The kiosk's side: seal the trail now and then, and check at start that it is whole."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state = load_state(self.state_dir)

    @property
    def active(self) -> bool:
        return self.state is not None

    def check_trail(self, trail: Any) -> str | None:
        """Why the trail does not reach the last seal (deleted, cut, replaced), or None when it does."""
        st = self.state
        if st is None or st.sealed_seq == 0:
            return None
        if trail.seq < st.sealed_seq:
            return f"audit trail has {trail.seq} records, the last seal was record {st.sealed_seq}"
        if trail.hash_at(st.sealed_seq) != st.sealed_head:
            return f"audit record {st.sealed_seq} is not the sealed one"
        return None

    def seal(self, trail: Any) -> bool:
        """Append a seal over the trail's head and move to the next epoch; False if nothing to seal."""
        st = self.state
        if st is None or trail.seq == st.sealed_seq:
            return False
        tag = seal_tag(st.key, st.epoch, trail.seq, trail.head)
        head = trail.record(SEAL_KIND, epoch=st.epoch, tag=tag)
        new = SealState(st.epoch + 1, next_key(st.key), trail.seq, head)  # where the seal record is
        save_state(self.state_dir, new)  # the old epoch's key is gone from the file
        st.key = bytes(KEY_BYTES)
        self.state = new
        return True


@dataclass(frozen=True)
class SealReport:
    ok: bool
    reason: str
    seals: int
    sealed_records: int  # records covered by the last valid seal (its seq)
    unsealed_records: int  # records after the last seal


def verify_seals(lines: list[str], verify_key: bytes) -> SealReport:
    """Check every seal of a trail (its lines, chain already verified) under the verification key."""
    key, epoch, sealed, seals = epoch_key(verify_key, 0), 0, 0, 0
    for seq, line in enumerate(lines, start=1):
        rec = json.loads(line)
        if rec.get("kind") != SEAL_KIND:
            continue
        if rec.get("epoch") != epoch:
            return SealReport(False, f"record {seq}: seal of epoch {rec.get('epoch')}, expected {epoch} "
                              "(seals removed, or made with a later key)", seals, sealed, len(lines) - sealed)
        if not hmac.compare_digest(str(rec.get("tag")), seal_tag(key, epoch, seq - 1, rec.get("prev", ""))):
            return SealReport(False, f"record {seq}: seal of epoch {epoch} does not match the records before it "
                              "(records edited, inserted or removed)", seals, sealed, len(lines) - sealed)
        seals += 1
        sealed = seq
        key, epoch = next_key(key), epoch + 1
    return SealReport(True, "", seals, sealed, len(lines) - sealed)
