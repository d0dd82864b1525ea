"""Every real recording replays without error and gives the taps a person would count."""
import pytest

from drivers.touch import open_touch
from drivers.touch.events import encode_events, load_evemu
from drivers.touch.taps import TouchPipeline, taps_of
from kiosk.config import TouchConfig
from support_touch import EXPECTED_TAPS, FIXTURES


def test_the_fixture_list_is_complete():
    assert sorted(p.name for p in FIXTURES.glob("*.events")) == sorted(EXPECTED_TAPS)


@pytest.mark.parametrize("name", sorted(EXPECTED_TAPS))
def test_recording_replays_to_the_counted_taps(name):
    src = open_touch(f"evemu:{FIXTURES / name}", TouchConfig(), fast=True)
    contacts = src.read(50.0)
    assert src.finished and not src.present
    taps = taps_of(contacts)
    assert len(taps) == EXPECTED_TAPS[name]
    assert not any(c.kind == "cancel" for c in contacts)
    downs = [c for c in contacts if c.kind == "down"]
    assert len(downs) == len(taps)  # every touch that started also finished as a tap
    ax = src.axes
    for t in taps:
        assert ax.x.minimum <= t.x_raw <= ax.x.maximum and ax.y.minimum <= t.y_raw <= ax.y.maximum
        assert t.samples >= 1 and t.duration_s > 0


def test_fast_taps_positions_and_durations_are_those_of_the_recording():
    src = open_touch(f"evemu:{FIXTURES / 'Atmel maXTouch Touchscreen.1-finger-fast-taps.events'}",
                     TouchConfig(), fast=True)
    taps = taps_of(src.read(0.0))
    # from the E: lines: tap 1 at 340,242 for 95.6 ms; tap 5 re-sends only Y (251), X stays 364
    assert (taps[0].x_raw, taps[0].y_raw) == (340, 242)
    assert taps[0].duration_s == pytest.approx(0.095572, abs=1e-6)
    assert (taps[4].x_raw, taps[4].y_raw) == (364, 251)
    assert (taps[8].x_raw, taps[8].y_raw) == (373, 252)


def test_ntrig_protocol_a_two_fingers_ends_the_tap_when_the_first_finger_lifts():
    src = open_touch(f"evemu:{FIXTURES / 'N-Trig MultiTouch.2-fingers-touch-release.events'}",
                     TouchConfig(), fast=True)
    (tap,) = taps_of(src.read(0.0))
    # the first finger rests near 1590,6100; the second lands near 7195,2185 and lifts last
    assert abs(tap.x_raw - 1590) < 20 and abs(tap.y_raw - 6100) < 20
    assert abs(tap.up_raw[0] - 1590) < 50


@pytest.mark.parametrize("name", sorted(EXPECTED_TAPS))
def test_the_same_events_as_kernel_bytes_give_the_same_taps(name, tmp_path):
    rec = load_evemu(FIXTURES / name)
    capture = tmp_path / "capture.bin"
    capture.write_bytes(encode_events(rec.events))
    ax = rec.axes()
    cfg = TouchConfig(x_min=ax.x.minimum, x_max=ax.x.maximum, y_min=ax.y.minimum, y_max=ax.y.maximum)
    src = open_touch(f"events:{capture}", cfg)
    contacts = []
    while not src.finished:
        contacts += src.read(0.0)
    expected = taps_of(TouchPipeline(TouchConfig(), ax).feed(rec.events))
    got = taps_of(contacts)
    assert [(t.x_raw, t.y_raw, t.samples) for t in got] == [(t.x_raw, t.y_raw, t.samples) for t in expected]
    assert len(got) == EXPECTED_TAPS[name]
