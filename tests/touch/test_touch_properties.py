"""Whatever a device sends, the contacts keep their grammar: down, moves, then up or cancel."""
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.touch import codes
from drivers.touch.events import AxisRange, Axes
from drivers.touch.taps import TouchPipeline
from kiosk.config import TouchConfig

AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095))

@st.composite
def b_frame(draw):
    """One protocol B frame: mostly touches, moves and lifts, sometimes palms, hover, drops."""
    slot = draw(st.integers(0, 2))
    what = draw(st.sampled_from(["touch", "move", "move", "move", "lift", "lift", "palm", "hover", "drop", "btn"]))
    ev = [(3, codes.ABS_MT_SLOT, slot)]
    if what == "touch":
        ev += [(3, codes.ABS_MT_TRACKING_ID, draw(st.integers(0, 99))), (3, codes.ABS_MT_TOOL_TYPE, 0),
               (3, codes.ABS_MT_DISTANCE, 0),
               (3, codes.ABS_MT_POSITION_X, draw(st.integers(0, 4095))), (1, codes.BTN_TOUCH, 1)]
    elif what == "move":
        ev += [(3, codes.ABS_MT_POSITION_X, draw(st.integers(0, 4095))),
               (3, codes.ABS_MT_POSITION_Y, draw(st.integers(0, 4095)))]
    elif what == "lift":
        ev += [(3, codes.ABS_MT_TRACKING_ID, -1)]
    elif what == "palm":
        ev += [(3, codes.ABS_MT_TOOL_TYPE, codes.MT_TOOL_PALM)]
    elif what == "hover":
        ev += [(3, codes.ABS_MT_DISTANCE, draw(st.integers(0, 1)))]
    elif what == "drop":
        ev += [(0, codes.SYN_DROPPED, 0), (3, codes.ABS_MT_TRACKING_ID, -1)]
    else:
        ev += [(1, codes.BTN_TOUCH, draw(st.integers(0, 1)))]
    return ev + [(0, codes.SYN_REPORT, 0)]


b_stream = st.lists(b_frame(), max_size=40).map(lambda frames: [e for f in frames for e in f])
st_event = st.one_of(
    st.tuples(st.just(3), st.sampled_from([codes.ABS_X, codes.ABS_Y]), st.integers(0, 4095)),
    st.tuples(st.just(3), st.just(codes.ABS_PRESSURE), st.integers(0, 255)),
    st.tuples(st.just(1), st.just(codes.BTN_TOUCH), st.integers(0, 1)),
    st.tuples(st.just(0), st.sampled_from([codes.SYN_REPORT] * 4 + [codes.SYN_DROPPED]), st.just(0)),
)
a_event = st.one_of(
    st.tuples(st.just(3), st.sampled_from([codes.ABS_MT_POSITION_X, codes.ABS_MT_POSITION_Y]), st.integers(0, 4095)),
    st.tuples(st.just(1), st.just(codes.BTN_TOUCH), st.integers(0, 1)),
    st.tuples(st.just(0), st.sampled_from([codes.SYN_REPORT, codes.SYN_MT_REPORT, codes.SYN_MT_REPORT,
                                           codes.SYN_DROPPED]), st.just(0)),
)
filters = st.sampled_from([[], ["pthres"], ["median"], ["debounce"], ["pthres", "median", "debounce"]])


def check_grammar(contacts):
    state, samples, last_t = "idle", 0, float("-inf")
    for c in contacts:
        assert c.t_s >= last_t
        last_t = c.t_s
        if c.kind == "down":
            assert state == "idle"
            state, samples = "down", 1
        elif c.kind == "move":
            assert state == "down"
            samples += 1
        else:
            assert state == "down" and c.kind in ("up", "cancel")
            if c.kind == "up":
                assert c.tap is not None and c.tap.samples == samples and c.tap.duration_s >= 0
            state = "idle"
        if c.kind != "up":
            assert c.tap is None


def to_events(steps):
    return [(1000 + i // 7, (i % 7) * 1000, t, c, v) for i, (t, c, v) in enumerate(steps)]


@settings(max_examples=200, deadline=None)
@given(steps=b_stream, chain=filters, cut=st.integers(0, 200))
def test_protocol_b_streams_keep_the_grammar(steps, chain, cut):
    p = TouchPipeline(TouchConfig(filters=chain, pressure_min=10), AXES)
    ev = to_events(steps)
    out = p.feed(ev[:cut]) + p.feed(ev[cut:])
    out += p.cancel(2000.0)
    check_grammar(out)
    assert out == [] or out[-1].kind in ("up", "cancel")


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st_event, max_size=120), chain=filters)
def test_single_touch_streams_keep_the_grammar(steps, chain):
    p = TouchPipeline(TouchConfig(filters=chain, pressure_min=10), AXES)
    check_grammar(p.feed(to_events(steps)) + p.resync(False, 2000.0))


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(a_event, max_size=120), chain=filters)
def test_protocol_a_streams_keep_the_grammar(steps, chain):
    p = TouchPipeline(TouchConfig(filters=chain, pressure_min=10), AXES)
    check_grammar(p.feed(to_events(steps)) + p.resync(None, 2000.0))
