"""Bytes and text into kernel input events: the pure decoding core.

Theory of operation
-------------------
Everything downstream works on one shape of event, the fields of the kernel's
``struct input_event`` as a tuple ``(sec, usec, type, code, value)``.  Two
producers feed that shape:

* ``decode_events`` turns the bytes ``/dev/input/eventN`` yields (a
  ``struct timeval`` then ``__u16 type, __u16 code, __s32 value``; 24 bytes on
  64-bit, 16 on 32-bit, hence the native ``struct`` format) into tuples.  A
  read may end in the middle of a record; the partial tail is handed back so
  the caller prepends it to the next read.
* ``parse_evemu`` reads an evemu recording: ``N:/I:/P:/B:/A:`` header lines
  (device name, properties, absinfo) and ``E: sec.usec type code value``
  lines.  Old recordings keep the header in a separate ``NAME.desc``;
  ``find_evemu_description`` finds it.

No I/O happens here except reading the text the caller names, and no clock is read.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from collections.abc import Iterator
from pathlib import Path

from drivers.touch import codes

#: Native ``struct input_event``: timeval (two C longs), type, code, value.
INPUT_EVENT = struct.Struct("@llHHi")
EVENT_SIZE = INPUT_EVENT.size

Event = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class AxisRange:
    """One absolute axis as the kernel's absinfo describes it (raw device units)."""

    minimum: int
    maximum: int
    resolution: int = 0  # units per mm (0 = unknown), as in struct input_absinfo

    @property
    def span(self) -> int:
        """max − min + 1: the range libinput normalizes over."""
        return self.maximum - self.minimum + 1


@dataclass(frozen=True)
class Axes:
    """The raw coordinate space of a touch source."""

    x: AxisRange
    y: AxisRange
    pressure: AxisRange | None = None
    multitouch: bool = False  # device has ABS_MT_POSITION_X: prefer MT data

    @classmethod
    def from_absinfo(cls, absinfo: dict[int, AxisRange]) -> "Axes":
        """Pick X/Y (MT axes when present) and pressure from a device's absinfo table."""
        mt = codes.ABS_MT_POSITION_X in absinfo and codes.ABS_MT_POSITION_Y in absinfo
        xc, yc = (codes.ABS_MT_POSITION_X, codes.ABS_MT_POSITION_Y) if mt else (codes.ABS_X, codes.ABS_Y)
        if xc not in absinfo or yc not in absinfo:
            raise ValueError("device has no absolute X/Y axes: not a touchscreen")
        pc = codes.ABS_MT_PRESSURE if mt and codes.ABS_MT_PRESSURE in absinfo else codes.ABS_PRESSURE
        return cls(absinfo[xc], absinfo[yc], absinfo.get(pc), mt)


def decode_events(data: bytes | bytearray | memoryview) -> tuple[list[Event], bytes]:
    """Whole ``struct input_event`` records of ``data``, and the incomplete tail."""
    cut = len(data) - len(data) % EVENT_SIZE
    events = list(INPUT_EVENT.iter_unpack(memoryview(data)[:cut]))
    return events, bytes(data[cut:])


def encode_events(events: list[Event] | tuple[Event, ...]) -> bytes:
    """The bytes a kernel would deliver for ``events`` (captures, tests, benchmarks)."""
    pack = INPUT_EVENT.pack
    return b"".join(pack(*e) for e in events)


class EvemuError(ValueError):
    """A recording line that is not evemu: ``file:line: reason``."""


@dataclass
class EvemuRecording:
    """What an evemu file holds: the device description and its events."""

    name: str = ""
    properties: set[int] = field(default_factory=set)
    absinfo: dict[int, AxisRange] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def has_description(self) -> bool:
        return bool(self.absinfo)

    def axes(self) -> Axes:
        return Axes.from_absinfo(self.absinfo)


def _parse_event_line(rest: str) -> Event:
    """The fields of one ``E:`` line after the tag: ``sec.usec type code value``."""
    f = rest.split("#", 1)[0].split()
    sec, _, usec = f[0].partition(".")
    return (int(sec), int(usec.ljust(6, "0")[:6]) if usec else 0, int(f[1], 16), int(f[2], 16), int(f[3], 10))


def _parse_line(rec: EvemuRecording, line: str, source: str, lineno: int) -> Event | None:
    """One evemu line: an event is returned, a header line fills ``rec``."""
    if not line or line[0] == "#":
        return None
    tag, _, rest = line.partition(":")
    try:
        if tag == "E":
            return _parse_event_line(rest)
        if tag == "A":
            f = rest.split()
            rec.absinfo[int(f[0], 16)] = AxisRange(int(f[1]), int(f[2]), int(f[5]) if len(f) > 5 else 0)
        elif tag == "N":
            rec.name = rest.strip()
        elif tag == "P":
            for byte_index, byte in enumerate(rest.split()):
                bits = int(byte, 16)
                rec.properties.update(byte_index * 8 + b for b in range(8) if bits >> b & 1)
        elif tag in ("I", "B", "S"):
            pass  # ids and capability bits: the absinfo lines already say what we need
        else:
            raise EvemuError(f"{source}:{lineno}: not an evemu line: {line[:40]!r}")
    except (IndexError, ValueError) as exc:
        if isinstance(exc, EvemuError):
            raise
        raise EvemuError(f"{source}:{lineno}: malformed {tag}: line: {line[:40]!r}") from None
    return None


def parse_evemu(text: str, source: str = "<evemu>", into: EvemuRecording | None = None) -> EvemuRecording:
    """Parse evemu text (header and/or ``E:`` lines) into a recording."""
    rec = into if into is not None else EvemuRecording()
    events = rec.events
    for lineno, line in enumerate(text.splitlines(), 1):
        ev = _parse_line(rec, line, source, lineno)
        if ev is not None:
            events.append(ev)
    return rec


def stream_evemu_events(path: str | Path) -> Iterator[Event]:
    """The ``E:`` events of a recording, one at a time, in constant memory.

    A recording of a million events is 169 MiB as a list of tuples; replay and
    ``pin-kiosk touch taps`` read it through this instead.  Header lines are
    skipped (``read_evemu_header`` reads them); a malformed line raises
    ``EvemuError`` naming file and line when the replay reaches it.
    """
    scratch = EvemuRecording()
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if line.startswith("E:"):
                ev = _parse_line(scratch, line.rstrip("\n"), str(path), lineno)
                if ev is not None:
                    yield ev


def read_evemu_header(path: str | Path) -> EvemuRecording:
    """A recording's device description without its events (``NAME.desc`` for old recordings).

    The file is read line by line, keeping only header lines, so a huge
    recording costs no memory here.  ``E:`` lines are left to the replay
    (``stream_evemu_events`` checks each when it reaches it).
    """
    path = Path(path)
    rec = EvemuRecording()
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            if not line.startswith("E:"):
                _parse_line(rec, line.rstrip("\n"), str(path), lineno)
    if not rec.has_description:
        desc = find_evemu_description(path)
        if desc is None:
            raise EvemuError(f"{path}: no device description (no A: lines and no NAME.desc beside it)")
        rec = parse_evemu(desc.read_text(encoding="utf-8", errors="replace"), str(desc))
        rec.events = []
    if not rec.has_description:
        raise EvemuError(f"{path}: device description has no absolute axes")
    return rec


def find_evemu_description(path: Path) -> Path | None:
    """The ``NAME.desc`` beside an old two-file recording ``NAME.WHAT.events``.

    The longest ``*.desc`` whose stem is a prefix of the recording's name wins,
    so ``N-Trig MultiTouch.2-fingers.events`` finds ``N-Trig MultiTouch.desc``.
    """
    best: Path | None = None
    for cand in path.parent.glob("*.desc"):
        stem = cand.name[: -len(".desc")]
        if path.name.startswith(stem + ".") and (best is None or len(cand.name) > len(best.name)):
            best = cand
    return best


def load_evemu(path: str | Path) -> EvemuRecording:
    """Read a whole recording into memory in one pass (tests and benchmarks; replay streams instead)."""
    path = Path(path)
    rec = parse_evemu(path.read_text(encoding="utf-8", errors="replace"), str(path))
    if not rec.has_description:
        desc = find_evemu_description(path)
        if desc is None:
            raise EvemuError(f"{path}: no device description (no A: lines and no NAME.desc beside it)")
        events = rec.events
        rec = parse_evemu(desc.read_text(encoding="utf-8", errors="replace"), str(desc))
        rec.events = events
    if not rec.has_description:
        raise EvemuError(f"{path}: device description has no absolute axes")
    return rec
