"""From kernel events to Contacts and Taps: the three protocols, drops, filters, the estimator."""
import pytest

from drivers.touch import codes
from drivers.touch.events import AxisRange, Axes
from drivers.touch.taps import TouchPipeline, robust_position, taps_of
from kiosk.config import ConfigError, TouchConfig
from support_touch import Events

AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
NO_FILTERS = TouchConfig(filters=[])


def kinds(contacts):
    return [c.kind for c in contacts]


def pipe(cfg=NO_FILTERS, axes=AXES):
    return TouchPipeline(cfg, axes)


def test_single_touch_down_moves_up_gives_one_tap_with_robust_position():
    e = Events(10.0)
    e.st(100, 200, touch=1)
    for i, (x, y) in enumerate([(110, 210), (111, 209), (112, 211), (300, 300)]):
        e.at(10.01 * (i + 2)).st(x, y)
    e.at(10.2).st(None, None, touch=0)
    out = pipe().feed(e.events)
    assert kinds(out) == ["down", "move", "move", "move", "move", "up"]
    tap = out[-1].tap
    # samples 100,110,111,112,300: first and last left out -> median of 110,111,112
    assert (tap.x_raw, tap.y_raw) == (111.0, 210.0)
    assert tap.down_raw == (100, 200) and tap.up_raw == (300, 300) and tap.samples == 5
    assert tap.duration_s == pytest.approx(0.2) and tap.t_up_s == pytest.approx(10.2)


def test_robust_position_uses_all_samples_when_there_are_few():
    assert robust_position([5], [7]) == (5.0, 7.0)
    assert robust_position([5, 9], [7, 1]) == (7.0, 4.0)
    assert robust_position([0, 5, 6, 7, 1000], [0, 5, 6, 7, 1000]) == (6.0, 6.0)
    with pytest.raises(ValueError):
        robust_position([], [])


def test_protocol_b_new_contact_reuses_slot_values_it_does_not_resend():
    e = Events()
    e.slot(0, 7, 340, 242).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.1).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    e.at(1000.3).slot(0, 8, y=251).key(codes.BTN_TOUCH, 1).syn()   # only Y re-sent, as the Atmel does
    e.at(1000.4).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    taps = taps_of(pipe().feed(e.events))
    assert [(t.x_raw, t.y_raw) for t in taps] == [(340, 242), (340, 251)]


def test_second_finger_never_presses_and_nothing_starts_until_the_panel_is_empty():
    e = Events()
    e.slot(0, 1, 100, 100).syn()
    e.at(1000.05).slot(1, 2, 3000, 3000).syn()             # second finger lands
    e.at(1000.1).slot(1, x=3100).syn()                      # and moves: primary unaffected
    e.at(1000.2).slot(0, -1).syn()                          # primary lifts, second stays
    e.at(1000.3).slot(1, x=3200).syn()
    e.at(1000.4).slot(1, -1).syn()                          # panel empty
    e.at(1000.6).slot(1, 3, 500, 500).syn()                 # a new touch, in another slot
    e.at(1000.7).slot(1, -1).syn()
    out = pipe().feed(e.events)
    assert kinds(out) == ["down", "up", "down", "up"]
    assert [(t.x_raw, t.y_raw) for t in taps_of(out)] == [(100, 100), (500, 500)]


def test_mt_is_preferred_over_single_touch_axes_when_both_arrive():
    e = Events()
    e.slot(0, 1, 1000, 1000).key(codes.BTN_TOUCH, 1).abs(codes.ABS_X, 1).abs(codes.ABS_Y, 1).syn()
    e.at(1000.1).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    (tap,) = taps_of(pipe().feed(e.events))
    assert (tap.x_raw, tap.y_raw) == (1000, 1000)


def test_protocol_a_follows_the_primary_and_ends_it_when_that_finger_lifts():
    e = Events()
    e.contact_a(100, 100).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.02).contact_a(102, 101).syn()
    e.at(1000.04).contact_a(3000, 3000).contact_a(103, 102).syn()   # second finger, listed first
    e.at(1000.06).contact_a(104, 103).contact_a(3001, 3001).syn()
    e.at(1000.08).contact_a(3002, 3002).syn()                      # the primary lifted
    e.at(1000.10).syn(codes.SYN_MT_REPORT).key(codes.BTN_TOUCH, 0).syn()
    out = pipe().feed(e.events)
    assert kinds(out) == ["down", "move", "move", "move", "up"]
    tap = taps_of(out)[0]
    assert tap.up_raw == (104, 103) and tap.t_up_s == pytest.approx(1000.08)


def test_protocol_a_empty_report_is_a_release():
    e = Events()
    e.contact_a(10, 10).syn()
    e.at(1000.1).syn(codes.SYN_MT_REPORT).syn()
    assert kinds(pipe().feed(e.events)) == ["down", "up"]


def test_syn_dropped_cancels_the_touch_and_never_invents_a_tap():
    e = Events()
    e.slot(0, 1, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.1).syn(codes.SYN_DROPPED)
    e.slot(0, x=999).slot(0, -1).syn()           # discarded up to and including this SYN_REPORT
    e.at(1000.2).slot(0, x=120).syn()            # stale contact still down: no new touch
    e.at(1000.3).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    e.at(1000.5).slot(0, 2, 200, 200).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.6).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    p = pipe()
    out = p.feed(e.events)
    assert kinds(out) == ["down", "cancel", "down", "up"]
    assert out[1].tap is None and p.tracker.drops == 1
    assert [(t.x_raw, t.y_raw) for t in taps_of(out)] == [(200, 200)]


def test_btn_touch_zero_clears_stale_slots_after_a_drop():
    e = Events()
    e.slot(0, 1, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.1).syn(codes.SYN_DROPPED).syn()
    e.at(1000.2).key(codes.BTN_TOUCH, 0).syn()    # the lift of slot 0 was lost, BTN_TOUCH tells
    e.at(1000.4).slot(1, 5, 50, 60).key(codes.BTN_TOUCH, 1).syn()
    e.at(1000.5).slot(1, -1).key(codes.BTN_TOUCH, 0).syn()
    assert kinds(pipe().feed(e.events)) == ["down", "cancel", "down", "up"]


def test_resync_with_a_touching_panel_waits_for_it_to_be_empty():
    p = pipe()
    e = Events()
    e.slot(0, 1, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    assert kinds(p.feed(e.events)) == ["down"]
    assert kinds(p.resync(True, 1000.05)) == ["cancel"]
    e2 = Events(1000.1).slot(0, x=110).syn().at(1000.2).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    assert p.feed(e2.events) == []
    e3 = Events(1000.5).slot(0, 2, 7, 7).key(codes.BTN_TOUCH, 1).syn().at(1000.6).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    assert kinds(p.feed(e3.events)) == ["down", "up"]


def test_pressure_threshold_drops_feather_touches_and_releases_on_light_pressure():
    cfg = TouchConfig(filters=["pthres"], pressure_min=30)
    e = Events()
    e.st(10, 10, touch=1, pressure=5)             # feather: not a touch
    e.at(1000.05).st(12, 12, pressure=50)          # pressed: the touch starts here
    e.at(1000.1).st(13, 13, pressure=60)
    e.at(1000.15).st(14, 14, pressure=10)          # lightened: released at the last firm sample
    e.at(1000.2).st(None, None, touch=0, pressure=0)
    out = pipe(cfg).feed(e.events)
    assert kinds(out) == ["down", "move", "up"]
    assert out[0].x_raw == 12 and out[-1].tap.up_raw == (13, 13)


def test_median_filter_removes_a_single_sample_spike():
    cfg = TouchConfig(filters=["median"], median_window=3)
    e = Events()
    e.st(100, 100, touch=1)
    for i, x in enumerate([101, 102, 4000, 103, 104]):
        e.at(1000 + 0.01 * (i + 1)).st(x, 100)
    e.at(1000.1).st(None, None, touch=0)
    out = pipe(cfg).feed(e.events)
    assert max(c.x_raw for c in out) < 200


def test_debounce_swallows_a_bounce_but_keeps_separate_taps():
    cfg = TouchConfig(filters=["debounce"], debounce_s=0.08)
    e = Events()
    e.st(10, 10, touch=1).at(1000.1).st(None, None, touch=0)
    e.at(1000.13).st(11, 11, touch=1).at(1000.16).st(None, None, touch=0)     # 30 ms later: bounce
    e.at(1000.40).st(50, 50, touch=1).at(1000.5).st(None, None, touch=0)      # a real second tap
    taps = taps_of(pipe(cfg).feed(e.events))
    assert [(t.x_raw, t.y_raw) for t in taps] == [(10, 10), (50, 50)]


def test_filters_are_off_able_and_unknown_names_are_config_errors():
    cfg = TouchConfig(filters=[], debounce_s=0.5)
    e = Events()
    e.st(10, 10, touch=1).at(1000.1).st(None, None, touch=0)
    e.at(1000.13).st(11, 11, touch=1).at(1000.16).st(None, None, touch=0)
    assert len(taps_of(pipe(cfg).feed(e.events))) == 2
    with pytest.raises(ConfigError, match="unknown filter 'smooth'"):
        pipe(TouchConfig(filters=["median", "smooth"]))


def test_events_split_anywhere_across_feeds_give_the_same_contacts():
    e = Events()
    e.slot(0, 1, 100, 100).key(codes.BTN_TOUCH, 1).syn()
    for i in range(1, 6):
        e.at(1000 + i * 0.01).slot(0, x=100 + i).syn()
    e.at(1000.1).slot(0, -1).key(codes.BTN_TOUCH, 0).syn()
    whole = pipe(TouchConfig()).feed(e.events)
    for cut in range(len(e.events)):
        p = pipe(TouchConfig())
        assert p.feed(e.events[:cut]) + p.feed(e.events[cut:]) == whole


def test_a_device_without_btn_touch_works_and_resyncs_by_forgetting_contacts():
    p = pipe()
    e = Events()
    e.slot(0, 1, 100, 100).syn().at(1000.1).slot(0, -1).syn()
    assert [(t.x_raw, t.y_raw) for t in taps_of(p.feed(e.events))] == [(100, 100)]
    e = Events(1001.0).slot(0, 2, 300, 300).syn()
    assert kinds(p.feed(e.events)) == ["down"]
    assert kinds(p.resync(None, 1001.05)) == ["cancel"]
    e = Events(1001.1).slot(0, x=310).syn().at(1001.2).slot(0, -1).syn()   # the finger that was down
    assert p.feed(e.events) == []
    e = Events(1001.5).slot(0, 3, 50, 60).syn().at(1001.6).slot(0, -1).syn()
    assert [(t.x_raw, t.y_raw) for t in taps_of(p.feed(e.events))] == [(50, 60)]


def test_a_palm_never_presses_and_does_not_stop_the_other_hand():
    e = Events()
    e.slot(0, 1, 2000, 3900).abs(codes.ABS_MT_TOOL_TYPE, codes.MT_TOOL_PALM).syn()   # palm rests at the edge
    e.at(1000.1).slot(1, 2, 500, 500).syn()                                        # a finger taps
    e.at(1000.2).slot(1, -1).syn()
    e.at(1000.3).slot(0, -1).syn()
    assert [(t.x_raw, t.y_raw) for t in taps_of(pipe().feed(e.events))] == [(500, 500)]


def test_a_finger_reclassified_as_palm_is_cancelled_not_tapped():
    e = Events()
    e.slot(0, 1, 100, 100).syn()
    e.at(1000.1).slot(0).abs(codes.ABS_MT_TOOL_TYPE, codes.MT_TOOL_PALM).syn()
    e.at(1000.2).slot(0, -1).syn()
    assert kinds(pipe().feed(e.events)) == ["down", "cancel"]


def test_hover_is_not_touch():
    e = Events()
    e.slot(0, 1, 100, 100).abs(codes.ABS_MT_DISTANCE, 1).syn()   # approaching
    e.at(1000.1).slot(0).abs(codes.ABS_MT_DISTANCE, 0).syn()     # on the glass
    e.at(1000.2).slot(0).abs(codes.ABS_MT_DISTANCE, 1).syn()     # lifted, still near
    e.at(1000.3).slot(0, -1).syn()
    out = pipe().feed(e.events)
    assert kinds(out) == ["down", "up"] and out[0].t_s == pytest.approx(1000.1)
