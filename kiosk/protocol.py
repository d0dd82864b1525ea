"""The staff console link protocol (versions 1 and 2): who sends what, acks, retransmission, dedup.

Theory of operation
-------------------
Both ends of the serial line run one ``Link``: the kiosk in ``Role.KIOSK``,
the staff console in ``Role.CONSOLE``.  A ``Link`` does no I/O and reads no
clock: its owner (kiosk.console_link, the reference console) tells it when the
port opened or was lost, hands it every decoded frame, asks it which bytes to
write now, and asks when it next needs to be woken (``next_deadline_s``).

*Sending.*  Every frame but ``ack`` and ``status`` is *reliable*: it gets the
next ``seq`` of this sender's ``boot`` and waits in ``pending`` until the peer
acks ``(boot, seq)``.  The first ``WINDOW_FRAMES`` pending frames are in
flight; each is rewritten unchanged (same bytes, same seq/boot) every
``retransmit_s`` until acked, in order.  The window keeps a 10,000-frame
backlog from being re-sent every second down a 115200-baud line.  ``status``
heartbeats take a seq and are acked, but are never queued: a lost one is
superseded by the next.  Frames restored from the kiosk journal keep their old
boot and seq, so the console recognises a replay of what it already saw.

*Receiving.*  Every frame but an ``ack`` is acked, duplicates included (the
first ack may have been lost); a frame is *acted on* only the first time its
``(boot, seq)`` is seen.  The kiosk validates every console command against
``COMMANDS``; an unknown type or a bad field yields a ``Rejected`` event (the
owner answers it with an ``alert``) and changes nothing.

*Authenticated (version 2).*  A Link given the terminal's console key speaks
version 2 only (kiosk.frames adds and checks the MAC; a frame without a valid
one never reaches ``receive``).  A console frame of version 2 also names the
kiosk process it is meant for: ``to`` is the ``boot`` of the kiosk's latest
``hello`` or ``status``.  The kiosk drops (counts in ``stale``, never acks) a
console frame addressed to another boot, so nothing recorded from the line
before the kiosk's last start can be replayed to it; within one kiosk process
``ReplayWindow`` refuses anything seen before.  A console re-addresses its
unacked commands when the kiosk's boot changes.  Without a key, version 1 as
before: every end on the line is trusted.

*Replay windows.*  Duplicate suppression is per sender ``boot``: the highest
``seq`` seen and a bitmap of the ``REPLAY_WINDOW`` below it.  A seq in the
bitmap is a duplicate (acked again, not acted on); one below the window is a
replay of something too old to be a retransmission: dropped, not acked,
counted in ``replays``.  The last ``REPLAY_BOOTS`` boots are remembered.

*Floods.*  Nothing a sender does grows memory: acks wait coalesced, one per
``(boot, seq)`` and at most ``ACKS_WAITING`` (beyond that the oldest is dropped:
the peer retransmits and is acked then); of the status heartbeats only the
newest waits; ``poll``'s ``room_bytes`` bounds every kind of line, acks
included.  The kiosk takes at most ``RATE_FRAMES_PER_S`` frames per second
(burst ``RATE_BURST``) from each sender boot and ``RATE_TOTAL_PER_S`` from all
together; excess frames are dropped unacked (counted in ``rate_limited``), which
a console with one command in flight never meets.  Acks are not rate-limited:
they only ever shrink what the kiosk holds.

*Link states* (``LINK_TABLE``): the kiosk starts ``down``; when the port opens
it is ``greeting``: only ``hello`` goes out, retransmitted, and everything
else waits; the console's ack of that hello makes it ``up``, when the backlog
flows and heartbeats start.  A console that stays silent for
``SILENT_HEARTBEATS`` heartbeats (it acks each one, so silence means it is
gone) sends the kiosk back to ``greeting``.  The console side has no greeting.

*Nothing PIN-derived on the wire.*  ``KIOSK_FRAMES`` is a whitelist: per type,
the only fields that may be sent and what each may hold (enums, flags, small
counts, identifiers without digits where a state name is meant).  ``build``
drops any other field and reports its *name*, so a bug elsewhere cannot put a
PIN, a key id or a keystroke on the line.
"""
from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kiosk import frames
from kiosk.pin import PIN_RULES, PinType
from kiosk.vocabulary import DriftLevel, PinResult, values

#: Kiosk frames in flight at once (sent, not yet acked).  Under line noise a
#: retransmitted frame can arrive after later ones; (boot, seq) and ts order them.
WINDOW_FRAMES = 32
#: Console commands in flight at once: one, so commands act in the order typed
#: (a ``cancel`` can never overtake the ``begin`` it cancels).
COMMAND_WINDOW_FRAMES = 1
#: Heartbeat intervals without any frame from the console before the kiosk greets again.
SILENT_HEARTBEATS = 3
#: Seqs below a sender's highest that are still told apart (duplicate vs new).
REPLAY_WINDOW = 4096
#: Sender boots whose windows are remembered.
REPLAY_BOOTS = 256
#: Acks waiting for room on the line (distinct frames); older ones are dropped beyond.
ACKS_WAITING = 64
#: What the kiosk takes from one sender boot (frames other than acks), and from all senders.
RATE_FRAMES_PER_S = 20.0
RATE_BURST = 40.0
RATE_TOTAL_PER_S = 60.0
#: Sender boots with a rate bucket.
RATE_BOOTS = 64

Key = tuple[str, int]


class Role(str, enum.Enum):
    KIOSK = "kiosk"
    CONSOLE = "console"


class LinkState(str, enum.Enum):
    DOWN = "down"          # port closed or vanished
    GREETING = "greeting"  # port open, hello in flight, everything else held
    UP = "up"              # the peer acked our hello (console side: port open)


class LinkEvent(str, enum.Enum):
    OPENED = "opened"
    LOST = "lost"
    HELLO_ACKED = "hello_acked"
    PEER_SILENT = "peer_silent"


#: (role, state, event) -> next state.  Pairs not listed leave the state unchanged.
LINK_TABLE: dict[tuple[Role, LinkState, LinkEvent], LinkState] = {
    (Role.KIOSK, LinkState.DOWN, LinkEvent.OPENED): LinkState.GREETING,
    (Role.KIOSK, LinkState.GREETING, LinkEvent.HELLO_ACKED): LinkState.UP,
    (Role.KIOSK, LinkState.GREETING, LinkEvent.LOST): LinkState.DOWN,
    (Role.KIOSK, LinkState.UP, LinkEvent.LOST): LinkState.DOWN,
    (Role.KIOSK, LinkState.UP, LinkEvent.PEER_SILENT): LinkState.GREETING,
    (Role.CONSOLE, LinkState.DOWN, LinkEvent.OPENED): LinkState.UP,
    (Role.CONSOLE, LinkState.UP, LinkEvent.LOST): LinkState.DOWN,
}

# ---------------------------------------------------------------------------
# Field schemas.  A check returns True when the value may be sent / accepted.

Check = Callable[[Any], bool]


def _choice(*values: str) -> Check:
    allowed = frozenset(values)
    return lambda v: isinstance(v, str) and v in allowed


def _pattern(regex: str) -> Check:
    rx = re.compile(regex)
    return lambda v: isinstance(v, str) and rx.fullmatch(v) is not None


def _int(lo: int, hi: int) -> Check:
    return lambda v: type(v) is int and lo <= v <= hi


def _number(lo: float, hi: float) -> Check:
    return lambda v: type(v) in (int, float) and lo <= v <= hi


def _bool(v: Any) -> bool:
    return type(v) is bool


def _optional(check: Check) -> Check:
    return lambda v: v is None or check(v)


def _object(schema: dict[str, Check]) -> Check:
    return lambda v: isinstance(v, dict) and all(k in schema and schema[k](x) for k, x in v.items())


PIN_TYPES = tuple(p.value for p in PinType)
ACTIONS = ("verify", "change")
RESULTS = values(PinResult)
MAX_TRIES = max(r.max_tries for r in PIN_RULES.values())

#: A state, reason or code name: lowercase words, no digits (a digit PIN cannot hide in it).
WORD = _pattern(r"[a-z][a-z_.]{0,47}")
#: Staff / technician ids as the console sends them.
OPERATOR = _pattern(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,31}")
#: Human text (alert messages): printable ASCII or Japanese, bounded.
TEXT = _pattern(r"[^\x00-\x1f\x7f]{1,200}")
TRIES = _optional(_int(0, MAX_TRIES))
COUNT = _int(0, 2**53 - 1)
MM = _number(-1000.0, 1000.0)
HEX_DIGEST = _pattern(r"[0-9a-f]{8,128}")
#: A calendar date, YYYY-MM-DD (the user-authentication certificate's end date).
ISO_DATE = _pattern(r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
LEVEL = _choice(*values(DriftLevel))

DRIFT_SUMMARY = _object({
    "level": LEVEL, "shift_mm": MM, "shift_x_mm": MM, "shift_y_mm": MM, "taps": COUNT,
    "key_fraction": _number(0.0, 100.0),
})


@dataclass(frozen=True)
class FrameSchema:
    fields: dict[str, Check]
    required: frozenset[str] = frozenset()
    reliable: bool = True  # journaled and retransmitted until acked


def _schema(fields: dict[str, Check], required: Iterable[str] = (), reliable: bool = True) -> FrameSchema:
    return FrameSchema(fields, frozenset(required), reliable)


#: Kiosk -> console: the only fields each type may carry.
KIOSK_FRAMES: dict[str, FrameSchema] = {
    "hello": _schema({"version": _int(1, 2), "software": _pattern(r"[0-9A-Za-z.+-]{1,32}")},
                     ("version",)),
    "status": _schema({
        "state": WORD, "link": _choice("down", "greeting", "up"),
        "reader": _bool, "card": _bool, "touch": _bool, "rx_errors": COUNT,
        "drift": DRIFT_SUMMARY, "audit_head": HEX_DIGEST, "audit_seq": COUNT, "session": _bool,
        "calibrated": _bool, "journal_frames": COUNT, "rx_unauthenticated": COUNT,
        "authenticated": _bool, "rx_rate_limited": COUNT,
    }, reliable=False),
    "session.started": _schema({"operator": OPERATOR, "pin_type": _choice(*PIN_TYPES),
                                "action": _choice(*ACTIONS)}),
    "entry.started": _schema({"pin_type": _choice(*PIN_TYPES), "action": _choice(*ACTIONS),
                              "tries_left": TRIES, "cert_valid_until": ISO_DATE}, ("pin_type", "action")),
    "pin.result": _schema({"pin_type": _choice(*PIN_TYPES), "action": _choice(*ACTIONS),
                           "result": _choice(*RESULTS), "tries_left": TRIES},
                          ("pin_type", "action", "result")),
    "card.counter": _schema({"pin_type": _choice(*PIN_TYPES), "tries_left": TRIES,
                             "reason": _choice("removed_during_verify"), "card": _choice("same", "other")},
                            ("pin_type", "reason", "card")),
    "session.ended": _schema({"reason": WORD, "cleared": lambda v: v is True, "audit_head": HEX_DIGEST,
                              "audit_seq": COUNT},
                             ("reason", "cleared")),
    "drift": _schema({"level": LEVEL, "shift_mm": MM, "shift_x_mm": MM, "shift_y_mm": MM,
                      "taps": COUNT, "key_fraction": _number(0.0, 100.0), "message": TEXT},
                     ("level",)),
    "calibration.result": _schema({"kind": _choice("calibrate", "drift_check"), "ok": _bool,
                                   "technician": OPERATOR, "rms_mm": MM, "max_mm": MM,
                                   "points": COUNT, "validation_points": COUNT, "message": TEXT},
                                  ("kind", "ok")),
    "alert": _schema({"code": WORD, "message": TEXT, "level": _choice("warning", "fault"),
                      "lost": COUNT}, ("code", "message")),
}

#: Console -> kiosk commands: fields, required fields.
COMMANDS: dict[str, FrameSchema] = {
    "begin": _schema({"pin_type": _choice(*PIN_TYPES), "action": _choice(*ACTIONS),
                      "operator": OPERATOR}, ("pin_type",)),
    "cancel": _schema({}),
    "logout": _schema({}),
    "status_request": _schema({}),
    "drift_check": _schema({"technician": OPERATOR}, ("technician",)),
    "calibrate": _schema({"technician": OPERATOR}, ("technician",)),
}

ENVELOPE = ("v", "type", "seq", "boot")
KIOSK_ENVELOPE = ENVELOPE + ("ts", "terminal")
#: A console may stamp its frames with a time (the kiosk ignores it); ``to`` is version 2's addressee.
CONSOLE_OPTIONAL = ("ts", "to")


# ---------------------------------------------------------------------------
# Events the Link hands its owner.

@dataclass(frozen=True)
class Command:
    """A valid console command, first time seen: the kiosk acts on it."""

    type: str
    fields: dict[str, Any]
    boot: str
    seq: int


@dataclass(frozen=True)
class Rejected:
    """A console frame that arrived intact but is not a valid command: answer with an alert."""

    type: str
    reason: str


@dataclass(frozen=True)
class Received:
    """A kiosk frame on the console side, first time seen."""

    frame: dict[str, Any]


@dataclass(frozen=True)
class Acked:
    """The peer acked one of our reliable frames: the journal may forget it."""

    boot: str
    seq: int


@dataclass(frozen=True)
class Greeted:
    """The kiosk's hello was acked: the link is up."""


Event = Command | Rejected | Received | Acked | Greeted


def validate_command(frame: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """(fields, "") for a valid console command, else (None, reason)."""
    schema = COMMANDS.get(frame["type"])
    if schema is None:
        return None, f"unknown command type {frame['type']}"
    fields = {k: v for k, v in frame.items() if k not in ENVELOPE and k not in CONSOLE_OPTIONAL}
    for name, value in fields.items():
        if name not in schema.fields:
            return None, f"{frame['type']}: unknown field {name[:32]!r}"
        if not schema.fields[name](value):
            return None, f"{frame['type']}: bad value for {name}"
    missing = schema.required - fields.keys()
    if missing:
        return None, f"{frame['type']}: missing {', '.join(sorted(missing))}"
    if frame["type"] == "begin":
        fields.setdefault("action", "verify")
    return fields, ""


def filter_fields(type_: str, fields: dict[str, Any], role: Role) -> tuple[dict[str, Any], list[str]]:
    """The fields of ``fields`` the schema allows for ``type_``, and the names refused.

    Refused names are reported so the caller can log them; their values never
    go anywhere.  Raises ValueError for an unknown type or a missing required field.
    """
    table = KIOSK_FRAMES if role is Role.KIOSK else COMMANDS
    schema = table.get(type_)
    if schema is None:
        raise ValueError(f"unknown {role.value} frame type {type_!r}")
    kept, refused = {}, []
    for name, value in fields.items():
        check = schema.fields.get(name)
        if check is not None and check(value):
            kept[name] = value
        else:
            refused.append(name)
    missing = schema.required - kept.keys()
    if missing:
        raise ValueError(f"{type_}: missing or refused {', '.join(sorted(missing))}")
    return kept, refused


def ack_frame(own_boot: str, frame: dict[str, Any], version: int = frames.VERSION) -> dict[str, Any]:
    return {"v": version, "type": "ack", "seq": 0, "boot": own_boot,
            "ack": frame["seq"], "ack_boot": frame["boot"]}


class ReplayWindow:
    """Per sender boot: the highest seq seen and which of the REPLAY_WINDOW below it were seen."""

    NEW, DUPLICATE, TOO_OLD = "new", "duplicate", "too_old"

    def __init__(self, window: int = REPLAY_WINDOW, boots: int = REPLAY_BOOTS) -> None:
        self.window = window
        self.boots = boots
        self._by_boot: OrderedDict[str, list[int]] = OrderedDict()  # boot -> [highest, bitmap]

    def check(self, key: Key) -> str:
        """Whether ``(boot, seq)`` is new, a duplicate, or too old to tell (a replay)."""
        boot, seq = key
        entry = self._by_boot.get(boot)
        if entry is None or seq > entry[0]:
            return self.NEW
        behind = entry[0] - seq
        if behind >= self.window:
            return self.TOO_OLD
        return self.DUPLICATE if entry[1] >> behind & 1 else self.NEW

    def remember(self, key: Key) -> None:
        boot, seq = key
        entry = self._by_boot.get(boot)
        if entry is None:
            entry = self._by_boot[boot] = [seq, 0]
            while len(self._by_boot) > self.boots:
                self._by_boot.popitem(last=False)
        self._by_boot.move_to_end(boot)
        if seq > entry[0]:
            shift = seq - entry[0]
            entry[1] = (entry[1] << shift) & ((1 << self.window) - 1) if shift < self.window else 0
            entry[0] = seq
        behind = entry[0] - seq
        if behind < self.window:
            entry[1] |= 1 << behind

    def __contains__(self, key: Key) -> bool:
        return self.check(key) == self.DUPLICATE


class RateLimit:
    """Token buckets: one per sender boot (the last RATE_BOOTS) and one for everyone."""

    def __init__(self, per_s: float = RATE_FRAMES_PER_S, burst: float = RATE_BURST,
                 total_per_s: float = RATE_TOTAL_PER_S) -> None:
        self.per_s, self.burst, self.total_per_s = per_s, burst, total_per_s
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # boot -> [tokens, at_s]
        self._total = [total_per_s * 2, 0.0]

    @staticmethod
    def _take(bucket: list[float], rate: float, cap: float, now_s: float) -> bool:
        bucket[0] = min(cap, bucket[0] + max(0.0, now_s - bucket[1]) * rate)
        bucket[1] = now_s
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True

    def allow(self, boot: str, now_s: float) -> bool:
        bucket = self._buckets.get(boot)
        if bucket is None:
            bucket = self._buckets[boot] = [self.burst, now_s]
            while len(self._buckets) > RATE_BOOTS:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(boot)
        # the shared bucket is only spent when the sender's own allows the frame
        return (self._take(bucket, self.per_s, self.burst, now_s)
                and self._take(self._total, self.total_per_s, self.total_per_s * 2, now_s))


@dataclass
class _Outgoing:
    frame: dict[str, Any]
    line: bytes
    sent_at_s: float | None = None


@dataclass
class Link:
    """One end of the link, pure: frames in, events and bytes out, time as an argument."""

    role: Role
    boot: str
    retransmit_s: float = 1.0
    #: the terminal's console key: version 2 (every frame MAC'd) with it, version 1 without
    key: bytes | None = None
    heartbeat_s: float = 5.0
    terminal: str = ""
    window: int = WINDOW_FRAMES
    state: LinkState = LinkState.DOWN
    retransmissions: int = 0
    duplicates: int = 0
    echoes: int = 0
    misdirected: int = 0
    stale: int = 0
    replays: int = 0
    rate_limited: int = 0
    #: console side, version 2: the kiosk boot commands are addressed to (``to``)
    peer_boot: str = ""
    next_seq: int = 1
    _pending: OrderedDict[Key, _Outgoing] = field(default_factory=OrderedDict)
    _hello: _Outgoing | None = None
    _acks: OrderedDict[Key, bytes] = field(default_factory=OrderedDict)
    _status_line: bytes | None = None
    _rate: RateLimit = field(default_factory=RateLimit)
    _seen: ReplayWindow = field(default_factory=ReplayWindow)
    _last_rx_s: float = 0.0
    _next_heartbeat_s: float | None = None

    @property
    def version(self) -> int:
        return frames.version_for(self.key)

    def _encode(self, frame: dict[str, Any]) -> bytes:
        return frames.encode(frame, self.key)

    def _addressed(self) -> bool:
        """Console frames of version 2 carry ``to``."""
        return self.role is Role.CONSOLE and self.key is not None

    # -- state ---------------------------------------------------------------

    def _fire(self, event: LinkEvent) -> bool:
        new = LINK_TABLE.get((self.role, self.state, event))
        if new is None:
            return False
        self.state = new
        return True

    def opened(self, now_s: float, hello: dict[str, Any] | None = None) -> None:
        """The port opened.  The kiosk passes its ``hello`` frame (built by ``build``)."""
        if not self._fire(LinkEvent.OPENED):
            return
        self._last_rx_s = now_s
        for out in self._pending.values():
            out.sent_at_s = None
        if self.role is Role.KIOSK:
            if hello is None:
                raise ValueError("the kiosk greets with a hello")
            self._hello = _Outgoing(hello, self._encode(hello))

    def lost(self, now_s: float) -> None:
        """The port failed or vanished: nothing is in flight any more."""
        self._fire(LinkEvent.LOST)
        self._acks.clear()
        self._status_line = None
        self._hello = None
        self._next_heartbeat_s = None
        for out in self._pending.values():
            out.sent_at_s = None

    def regreet(self, hello: dict[str, Any]) -> None:
        """The console went silent: greet again before anything else."""
        if self._fire(LinkEvent.PEER_SILENT):
            self._hello = _Outgoing(hello, self._encode(hello))
            self._next_heartbeat_s = None

    @property
    def last_rx_s(self) -> float:
        """When the last intact frame from the peer arrived (or the port opened)."""
        return self._last_rx_s

    def peer_silent(self, now_s: float) -> bool:
        """True when an up kiosk has heard nothing for SILENT_HEARTBEATS heartbeats."""
        return (self.role is Role.KIOSK and self.state is LinkState.UP
                and now_s - self._last_rx_s > SILENT_HEARTBEATS * self.heartbeat_s)

    # -- sending -------------------------------------------------------------

    def build(self, type_: str, fields: dict[str, Any], ts: str | None = None) -> tuple[dict[str, Any], list[str]]:
        """A new frame of ``type_`` with the next seq; returns it and the refused field names."""
        kept, refused = filter_fields(type_, fields, self.role)
        frame: dict[str, Any] = {"v": self.version, "type": type_, "seq": self.next_seq, "boot": self.boot}
        if self.role is Role.KIOSK:
            frame["ts"] = ts or ""
            frame["terminal"] = self.terminal
        elif ts:
            frame["ts"] = ts
        if self._addressed():
            frame["to"] = self.peer_boot
        frame.update(kept)
        self._encode(frame)  # raises FrameError before a seq is spent on an unsendable frame
        self.next_seq += 1
        return frame, refused

    def submit(self, frame: dict[str, Any]) -> None:
        """Queue a reliable frame (new, or restored from the journal) until acked."""
        key = (frame["boot"], frame["seq"])
        if key not in self._pending:
            self._pending[key] = _Outgoing(frame, self._encode(frame))

    def forget(self, key: Key) -> None:
        """Stop sending a frame (the journal dropped it on overflow)."""
        self._pending.pop(key, None)

    def send_unreliable(self, frame: dict[str, Any]) -> None:
        """Write a status heartbeat once, now, if the link is up; otherwise it is superseded."""
        if self.state is LinkState.UP:
            self._status_line = self._encode(frame)  # a newer heartbeat supersedes one still waiting

    @property
    def pending(self) -> int:
        return len(self._pending)

    def pending_frames(self) -> list[dict[str, Any]]:
        return [out.frame for out in self._pending.values()]

    def heartbeat_due(self, now_s: float) -> bool:
        return (self.role is Role.KIOSK and self.state is LinkState.UP
                and self._next_heartbeat_s is not None and now_s >= self._next_heartbeat_s)

    def heartbeat_sent(self, now_s: float) -> None:
        self._next_heartbeat_s = now_s + self.heartbeat_s

    def poll(self, now_s: float, room_bytes: int | None = None) -> list[bytes]:
        """Lines to write now: acks and heartbeats first, then due first sends and retransmissions.

        ``room_bytes`` bounds what is returned, every kind of line included (the
        owner's write buffer is still full: piling more into it would only grow
        it); what does not fit waits, coalesced, for the next poll.
        """
        out: list[bytes] = []
        if self.state is LinkState.DOWN:
            return []
        budget = room_bytes if room_bytes is not None else 1 << 62
        while self._acks and budget > 0:
            line = self._acks.popitem(last=False)[1]
            out.append(line)
            budget -= len(line)
        if self._status_line is not None and budget > 0:
            out.append(self._status_line)
            budget -= len(self._status_line)
            self._status_line = None
        if self.state is LinkState.GREETING:
            h = self._hello
            if h is not None and self._due(h, now_s) and budget > 0:
                out.append(self._mark_sent(h, now_s))
            return out
        for i, item in enumerate(self._pending.values()):
            if i >= self.window or budget <= 0:
                break
            if self._due(item, now_s):
                out.append(self._mark_sent(item, now_s))
                budget -= len(item.line)
        return out

    def _due(self, item: _Outgoing, now_s: float) -> bool:
        return item.sent_at_s is None or now_s >= item.sent_at_s + self.retransmit_s

    def _mark_sent(self, item: _Outgoing, now_s: float) -> bytes:
        if item.sent_at_s is not None:
            self.retransmissions += 1
        item.sent_at_s = now_s
        return item.line

    def next_deadline_s(self, now_s: float) -> float | None:
        """When ``poll``/heartbeat/silence checks next have work, or None while down and idle."""
        if self.state is LinkState.DOWN:
            return None
        if self._acks or self._status_line is not None:
            return now_s
        times: list[float] = []
        if self.state is LinkState.GREETING and self._hello is not None:
            h = self._hello
            times.append(now_s if h.sent_at_s is None else h.sent_at_s + self.retransmit_s)
        elif self.state is LinkState.UP:
            for i, item in enumerate(self._pending.values()):
                if i >= self.window:
                    break
                times.append(now_s if item.sent_at_s is None else item.sent_at_s + self.retransmit_s)
            if self._next_heartbeat_s is not None:
                times.append(self._next_heartbeat_s)
            if self.role is Role.KIOSK:
                times.append(self._last_rx_s + SILENT_HEARTBEATS * self.heartbeat_s + 1e-3)
        return min(times) if times else None

    # -- receiving -----------------------------------------------------------

    def receive(self, frame: dict[str, Any], now_s: float) -> list[Event]:
        """Handle one decoded frame (envelope already checked by kiosk.frames)."""
        if frame["boot"] == self.boot:
            self.echoes += 1  # our own line coming back (loop://, an echoing modem): not the peer
            return []
        if self.role is Role.KIOSK and self.key is not None and frame.get("to") != self.boot:
            self.stale += 1  # for an earlier kiosk process: a replay, or a command sent before our restart
            return []
        if (self._addressed() and frame["type"] in ("hello", "status")
                and frame["boot"] != self.peer_boot):
            self._readdress(frame["boot"])
        self._last_rx_s = now_s
        if frame["type"] == "ack":
            return self._on_ack(frame, now_s)
        if self.role is Role.KIOSK and not self._rate.allow(frame["boot"], now_s):
            self.rate_limited += 1
            return []
        key = (frame["boot"], frame["seq"])
        seen = self._seen.check(key)
        if seen == ReplayWindow.TOO_OLD:
            self.replays += 1
            return []
        if self.state is not LinkState.DOWN:
            self._queue_ack(key, frame)
        if seen == ReplayWindow.DUPLICATE:
            self.duplicates += 1
            return []
        self._seen.remember(key)
        if self.role is Role.CONSOLE:
            return [Received(frame)]
        if frame["type"] in KIOSK_FRAMES:
            # another kiosk on the line: answering its frames with alerts would start a storm
            self.misdirected += 1
            return []
        fields, reason = validate_command(frame)
        if fields is None:
            return [Rejected(frame["type"], reason)]
        return [Command(frame["type"], fields, frame["boot"], frame["seq"])]

    def _queue_ack(self, key: Key, frame: dict[str, Any]) -> None:
        """One waiting ack per frame however often it arrives; at most ACKS_WAITING in all."""
        if key in self._acks:
            return
        ack = ack_frame(self.boot, frame, self.version)
        if self._addressed():
            ack["to"] = self.peer_boot
        self._acks[key] = self._encode(ack)
        while len(self._acks) > ACKS_WAITING:
            self._acks.popitem(last=False)

    def _readdress(self, boot: str) -> None:
        """Console, version 2: the kiosk restarted; unacked commands now go to its new boot."""
        self.peer_boot = boot
        for out in self._pending.values():
            out.frame = dict(out.frame, to=boot)
            out.line = self._encode(out.frame)
            out.sent_at_s = None

    def _on_ack(self, frame: dict[str, Any], now_s: float) -> list[Event]:
        seq, boot = frame.get("ack"), frame.get("ack_boot")
        if type(seq) is not int or not isinstance(boot, str):
            return []
        h = self._hello
        if h is not None and (boot, seq) == (h.frame["boot"], h.frame["seq"]):
            self._hello = None
            if self._fire(LinkEvent.HELLO_ACKED):
                self._next_heartbeat_s = now_s  # tell the console where we are at once
                for item in self._pending.values():
                    item.sent_at_s = None
                return [Greeted()]
            return []
        if self._pending.pop((boot, seq), None) is not None:
            return [Acked(boot, seq)]
        return []

    def remember(self, keys: Iterable[Key]) -> None:
        """Pre-load (boot, seq) pairs already acted on (kept by the owner across restarts)."""
        for boot, seq in keys:
            self._seen.remember((boot, seq))
