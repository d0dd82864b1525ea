"""Decoder quirks of real panels and of the MT protocol's corners, one recording each.

Two are real recordings (tests/touch/fixtures_touch/README.md); the protocol corners are
synthetic recordings built event by event, since no public recording holds them.
"""
from pathlib import Path

from drivers.touch import codes, open_touch
from drivers.touch.events import AxisRange, Axes
from drivers.touch.taps import TouchPipeline, taps_of
from kiosk.config import TouchConfig
from support_touch import Events

QUIRKS = Path(__file__).resolve().parent / "fixtures_touch"
AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
MT_AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095), multitouch=True)
DEFAULT = TouchConfig()  # pthres, median, debounce: the shipped chain


def replay(name, cfg=DEFAULT):
    src = open_touch(f"evemu:{QUIRKS / name}", cfg, fast=True)
    out = []
    while not src.finished:
        out += src.read(0.0)
    return src, out


def test_a_tracking_id_replaced_in_its_slot_without_minus_one_is_a_new_tap():
    e = Events()
    e.slot(0, 10, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.1).slot(0, 11, 900, 900).syn()            # new contact in the same slot, no -1 between
    e.at(1000.2).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    taps = taps_of(TouchPipeline(TouchConfig(filters=[]), MT_AXES).feed(e.events))
    assert [(t.x_raw, t.y_raw) for t in taps] == [(100, 100), (900, 900)]


def test_a_replaced_tracking_id_beside_another_finger_still_presses_nothing():
    e = Events()
    e.slot(0, 10, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.05).slot(1, 20, 3000, 3000).syn()          # a second finger rests
    e.at(1000.1).slot(0, 11, 900, 900).syn()             # slot 0 replaced while it stays
    e.at(1000.2).slot(0, -1).slot(1, -1).key(codes.BTN_TOUCH, 0).syn()
    taps = taps_of(TouchPipeline(TouchConfig(filters=[]), MT_AXES).feed(e.events))
    assert [(t.x_raw, t.y_raw) for t in taps] == [(100, 100)]


def test_hover_with_btn_touch_zero_keeping_the_tracking_id_does_not_lose_the_next_touch():
    e = Events()
    e.slot(0, 5, 200, 200).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.1).key(codes.BTN_TOUCH, 0).syn()          # lifted into hover: tracking id kept
    e.at(1000.4).slot(0, x=600).key(codes.BTN_TOUCH, 1).syn()   # touches again, same id
    e.at(1000.5).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    taps = taps_of(TouchPipeline(TouchConfig(filters=[]), MT_AXES).feed(e.events))
    assert [(t.x_raw, t.y_raw) for t in taps] == [(200, 200), (600, 200)]


def test_single_touch_with_only_btn_tool_finger_gives_every_tap():
    e = Events()
    for i in range(3):
        t = 1000 + i * 0.3
        e.at(t).abs(codes.ABS_X, 100 + i * 100).abs(codes.ABS_Y, 50).key(codes.BTN_TOOL_FINGER, 1).syn()
        e.at(t + 0.05).abs(codes.ABS_X, 101 + i * 100).syn()
        e.at(t + 0.1).key(codes.BTN_TOOL_FINGER, 0).syn()
    taps = taps_of(TouchPipeline(DEFAULT, AXES).feed(e.events))
    assert len(taps) == 3 and [round(t.x_raw) for t in taps] == [100, 200, 300]


def test_egalax_positions_off_its_declared_axes_are_flagged_not_mapped():
    src, out = replay("eGalax Inc. USB TouchController.events")
    assert taps_of(out) == []                            # never a tap at raw (0, 0)
    assert src.pipeline.axis_mismatch == "raw x 0 outside 42..1981; raw y 0 outside 42..1981"


def test_contacts_inside_the_axes_are_untouched_by_the_guard():
    e = Events().st(0, 4095, touch=1).at(1000.1).st(None, None, touch=0)
    p = TouchPipeline(TouchConfig(filters=[]), AXES)
    assert len(taps_of(p.feed(e.events))) == 1 and p.axis_mismatch == ""


def test_wacom_touch_52_ms_after_a_release_is_a_tap_not_a_bounce():
    src, out = replay("Wacom DTH2242 Finger.events")
    taps = taps_of(out)
    assert len(taps) == 22                                # 22 touches, counted in the recording
    gaps = [(b.t_up_s - b.duration_s) - a.t_up_s for a, b in zip(taps, taps[1:])]
    short = [(g, b.duration_s) for g, b in zip(gaps, taps[1:]) if g < DEFAULT.debounce_s]
    assert short and all(d > 0.3 for _, d in short)       # the 354 ms touch after a 52 ms gap is among them


def test_debounce_still_swallows_a_brief_recontact_and_keeps_the_samples_of_a_real_one():
    cfg = TouchConfig(filters=["debounce"], debounce_s=0.08)
    e = Events()
    e.st(10, 10, touch=1).at(1000.1).st(None, None, touch=0)
    e.at(1000.12).st(11, 11, touch=1).at(1000.14).st(None, None, touch=0)    # 20 ms re-contact: bounce
    e.at(1000.19).st(40, 40, touch=1)                                         # 50 ms gap, then held
    for i in range(1, 6):
        e.at(1000.19 + 0.03 * i).st(40 + i, 40)
    e.at(1000.40).st(None, None, touch=0)
    out = TouchPipeline(cfg, AXES).feed(e.events)
    taps = taps_of(out)
    assert [(t.x_raw, t.samples) for t in taps] == [(10, 1), (42.5, 6)]      # every held sample kept


def test_evemu_replay_streams_in_constant_memory(tmp_path):
    import tracemalloc
    header = (QUIRKS / "Wacom DTH2242 Finger.events").read_text().split("E:", 1)[0]
    rec = tmp_path / "long.events"
    with open(rec, "w") as f:
        f.write(header)
        for i in range(20_000):
            t = i * 0.004
            f.write(f"E: {int(t)}.{int(t % 1 * 1e6):06d} 0003 0035 {i % 4000}\nE: {int(t)}.{int(t % 1 * 1e6):06d} 0000 0000 0\n")
    src = open_touch(f"evemu:{rec}", TouchConfig(filters=[]), fast=True)
    tracemalloc.start()
    while not src.finished:
        src.read(0.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 * 1024 * 1024      # 40,000 events held as tuples would be ~7 MB (177 B each)
