"""Decoding: kernel constants, struct input_event bytes, evemu text."""
import re
import struct
from pathlib import Path

import pytest

from drivers.touch import codes
from drivers.touch.events import (EVENT_SIZE, AxisRange, Axes, EvemuError, decode_events, encode_events,
                                  find_evemu_description, load_evemu, parse_evemu)
from support_touch import FIXTURES

HEADER = Path("/usr/include/linux/input-event-codes.h")


def test_every_constant_matches_the_kernel_header_on_this_machine():
    text = HEADER.read_text() + Path("/usr/include/linux/input.h").read_text()  # MT_TOOL_* live in input.h
    defined = {m.group(1): int(m.group(2), 0) for m in re.finditer(r"#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)", text)}
    assert len(codes.NAMES) >= 18
    for name, value in codes.NAMES.items():
        assert defined[name] == value, name


def test_input_event_is_24_bytes_on_this_64_bit_machine():
    assert EVENT_SIZE == 24 == struct.calcsize("@llHHi")


def test_bytes_round_trip_and_a_partial_record_waits_for_the_rest():
    events = [(1, 2, 3, 0x35, 340), (1, 2, 3, 0x39, -1), (1, 3, 0, 0, 0)]
    data = encode_events(events)
    assert len(data) == 3 * EVENT_SIZE
    got, tail = decode_events(data[:40])
    assert got == events[:1] and tail == data[24:40]
    got2, tail2 = decode_events(tail + data[40:])
    assert got2 == events[1:] and tail2 == b""


def test_evemu_lines_parse_with_negative_values_and_comments():
    rec = parse_evemu("N: Panel\nP: 02 00\nA: 35 0 799 0 0 12\nA: 36 0 479 0 0 12\n"
                      "E: 0.095573 0003 0039 -001\t# EV_ABS / ABS_MT_TRACKING_ID -1\nE: 12.5 0000 0000 0000\n")
    assert rec.name == "Panel" and codes.INPUT_PROP_DIRECT in rec.properties
    assert rec.events == [(0, 95573, 3, 0x39, -1), (12, 500000, 0, 0, 0)]
    axes = rec.axes()
    assert axes.multitouch and axes.x == AxisRange(0, 799, 12) and axes.x.span == 800


@pytest.mark.parametrize("text,reason", [("E: abc 0003 0000 1\n", "malformed E"), ("Z: 1\n", "not an evemu line"),
                                         ("A: 35 0\n", "malformed A")])
def test_bad_evemu_line_names_file_and_line(text, reason):
    with pytest.raises(EvemuError) as exc:
        parse_evemu("N: x\n" + text, "rec.events")
    assert str(exc.value).startswith("rec.events:2:") and reason in str(exc.value)


def test_old_two_file_recordings_find_their_description():
    events = FIXTURES / "N-Trig MultiTouch.2-fingers-touch-release.events"
    assert find_evemu_description(events) == FIXTURES / "N-Trig MultiTouch.desc"
    rec = load_evemu(events)
    assert rec.name == "N-Trig MultiTouch" and rec.axes().x == AxisRange(0, 9600)
    assert len(rec.events) == 2203


def test_recording_without_any_description_is_a_clear_error(tmp_path):
    p = tmp_path / "lonely.events"
    p.write_text("E: 0.1 0000 0000 0\n")
    with pytest.raises(EvemuError, match="no device description"):
        load_evemu(p)


def test_axes_prefer_mt_and_refuse_a_device_without_xy():
    table = {codes.ABS_X: AxisRange(0, 10), codes.ABS_Y: AxisRange(0, 10),
             codes.ABS_MT_POSITION_X: AxisRange(0, 4095), codes.ABS_MT_POSITION_Y: AxisRange(0, 2047)}
    axes = Axes.from_absinfo(table)
    assert axes.multitouch and axes.x.maximum == 4095 and axes.y.maximum == 2047
    with pytest.raises(ValueError, match="not a touchscreen"):
        Axes.from_absinfo({codes.ABS_PRESSURE: AxisRange(0, 255)})
