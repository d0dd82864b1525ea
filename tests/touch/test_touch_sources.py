"""Sources on real stacks: FIFOs and capture files, evemu timing, evdev absent, mouse.

This machine has no /dev/input and no /dev/uinput, so the hot-unplug path is
exercised through ``FdSource`` fed by a FIFO whose writer closes: the events:
source uses it directly, and the evdev source is run with only its device
opening replaced by a FIFO open (its read, loss and reopen code is unchanged).
"""
import os
import select

import pytest

from drivers.touch import TouchSpecError, codes, open_touch
from drivers.touch.evdev_device import EvdevSource
from drivers.touch.events import encode_events
from drivers.touch.source import RETRY_MIN_S
from drivers.touch.taps import taps_of
from kiosk.config import TouchConfig
from support_touch import FIXTURES, Events

CFG = TouchConfig(x_min=0, x_max=4095, y_min=0, y_max=4095)


def touch_down(t_s, x, y):
    return Events(t_s).slot(0, 1, x, y).key(codes.BTN_TOUCH, 1).syn().events


def touch_moves(t_s, xs):
    e = Events(t_s)
    for i, x in enumerate(xs):
        e.at(t_s + 0.01 * i).slot(0, x=x).syn()
    return e.events


def touch_up(t_s):
    return Events(t_s).slot(0, -1).key(codes.BTN_TOUCH, 0).syn().events


def readable(fd, timeout_s):
    return bool(select.select([fd], [], [], timeout_s)[0])


def open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "touch.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.stack
def test_fifo_writer_closing_mid_touch_cancels_goes_absent_and_the_next_writer_is_seen(fifo):
    src = open_touch(f"events:{fifo}", CFG)
    assert not src.present and src.absent_reason == "waiting for a writer"
    fd0 = src.fileno()
    assert fd0 is not None and not readable(fd0, 0.05)       # no writer yet: nothing to spin on
    assert src.read(1.0) == [] and not src.present

    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, encode_events(touch_down(50.0, 100, 100) + touch_moves(50.01, [101, 102])))
    assert readable(src.fileno(), 1.0)
    out = src.read(2.0)
    assert [c.kind for c in out] == ["down", "move", "move"] and src.present
    assert out[0].t_s == pytest.approx(2.0)                     # event clock mapped onto the caller's

    os.close(w)                                                 # unplugged in the middle of a touch
    assert readable(src.fileno(), 1.0)
    out = src.read(3.0)
    assert [c.kind for c in out] == ["cancel"] and out[0].tap is None
    assert not src.present and src.absent_reason.startswith(("writer closed", "waiting"))
    fd1 = src.fileno()
    assert fd1 is not None and not readable(fd1, 0.1)            # fresh read end: quiet until a writer
    assert fd1 != fd0                                            # a new number: the app re-registers

    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, encode_events(touch_down(80.0, 500, 600) + touch_up(80.1)))
    assert readable(src.fileno(), 1.0)
    out = src.read(4.0)
    assert [c.kind for c in out] == ["down", "up"] and src.present
    assert (out[-1].tap.x_raw, out[-1].tap.y_raw) == (500, 600)
    os.close(w)
    src.close()


@pytest.mark.stack
def test_a_record_split_across_writes_is_joined(fifo):
    src = open_touch(f"events:{fifo}", CFG)
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    data = encode_events(touch_down(1.0, 7, 8) + touch_up(1.1))
    os.write(w, data[:30])
    assert readable(src.fileno(), 1.0)
    assert src.read(0.0) == []
    os.write(w, data[30:])
    assert readable(src.fileno(), 1.0)
    assert [c.kind for c in src.read(0.0)] == ["down", "up"]
    os.close(w)
    src.close()


@pytest.mark.stack
def test_missing_path_is_absent_and_retried_with_backoff_until_it_appears(tmp_path):
    path = tmp_path / "later.fifo"
    src = open_touch(f"events:{path}", CFG)
    assert not src.present and "No such file" in src.absent_reason and src.fileno() is None
    first = src.wakeup_s(0.0)
    assert first == pytest.approx(RETRY_MIN_S)
    src.read(first)
    assert src.wakeup_s(first) == pytest.approx(first + 2 * RETRY_MIN_S)   # backoff doubles
    os.mkfifo(path)
    src.read(first + 2 * RETRY_MIN_S)
    assert src.fileno() is not None
    src.close()


def test_capture_file_is_read_to_its_end_then_finished(tmp_path):
    capture = tmp_path / "capture.bin"
    capture.write_bytes(encode_events(touch_down(5.0, 1, 2) + touch_moves(5.01, [3, 4, 5]) + touch_up(5.1)))
    src = open_touch(f"events:{capture}", CFG)
    assert src.present
    out = src.read(0.0)
    assert len(taps_of(out)) == 1
    src.read(0.0)
    assert src.finished and not src.present and src.absent_reason == "end of capture"
    assert src.fileno() is None and src.wakeup_s(0.0) is None


def test_capture_ending_mid_touch_cancels_it(tmp_path):
    capture = tmp_path / "cut.bin"
    capture.write_bytes(encode_events(touch_down(5.0, 1, 2) + touch_moves(5.01, [3, 4])))
    src = open_touch(f"events:{capture}", CFG)
    kinds = []
    while not src.finished:
        kinds += [c.kind for c in src.read(9.0)]
    assert kinds == ["down", "move", "move", "cancel"]


@pytest.mark.stack
def test_evdev_on_something_that_is_not_an_input_device_is_absent_not_a_crash(fifo):
    before = open_fds()
    src = open_touch(f"evdev:{fifo}", CFG)
    assert not src.present and "ioctl" in src.absent_reason
    for i in range(5):
        src.read(100.0 + i * 10)
    assert not src.present and open_fds() == before        # retries leak no descriptor
    src.close()


class FifoBackedEvdev(EvdevSource):
    """EvdevSource with only the device opening replaced: no /dev/uinput exists here (see module doc)."""

    def _open_fd(self, now_s):
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.present, self.absent_reason = True, ""
        return fd


@pytest.mark.stack
def test_evdev_unplug_cancels_reports_absent_and_reopens_when_the_device_returns(fifo):
    src = FifoBackedEvdev(str(fifo), CFG)
    src.reopen(0.0)
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, encode_events(touch_down(1.0, 10, 10)))
    assert readable(src.fileno(), 1.0)
    assert [c.kind for c in src.read(1.0)] == ["down"]
    os.close(w)                                   # the device vanishes
    assert readable(src.fileno(), 1.0)
    out = src.read(2.0)
    assert [c.kind for c in out] == ["cancel"]
    assert not src.present and src.absent_reason == "device returned end of file"
    assert src.fileno() is None and src.wakeup_s(2.0) == pytest.approx(2.0 + RETRY_MIN_S)
    w = os.open(fifo, os.O_RDWR)                   # the device returns (a FIFO end that needs no reader yet)
    os.write(w, encode_events(touch_down(9.0, 20, 30) + touch_up(9.1)))
    out = src.read(2.0 + RETRY_MIN_S)              # the retry reopens it and reads what it sent
    assert src.present and src.fileno() is not None
    assert [(t.x_raw, t.y_raw) for t in taps_of(out)] == [(20, 30)]
    os.close(w)
    src.close()


def test_evemu_real_time_releases_events_when_due():
    src = open_touch(f"evemu:{FIXTURES / 'Atmel maXTouch Touchscreen.1-finger-fast-taps.events'}", TouchConfig())
    assert src.fileno() is None and src.wakeup_s(100.0) == 100.0
    first = src.read(100.0)                       # t = 0: the first touch lands
    assert [c.kind for c in first] == ["down"]
    assert src.wakeup_s(100.0) == pytest.approx(100.095573)
    assert len(taps_of(src.read(100.5))) == 2      # the taps that ended by 0.5 s (0.096 s, 0.317 s)
    rest = src.read(102.0)
    assert len(taps_of(rest)) == 7 and src.finished and src.wakeup_s(102.0) is None
    assert src.reopen(200.0) and len(taps_of(src.read(200.0) + src.read(210.0))) == 9


def test_mouse_is_fed_by_the_app_and_goes_through_the_same_filters():
    src = open_touch("mouse", TouchConfig())
    assert src.present and src.fileno() is None
    src.feed_mouse("move", 5, 5, 1.0)             # hovering is not touching
    src.feed_mouse("down", 100, 200, 1.0)
    src.feed_mouse("move", 101, 201, 1.05)
    src.feed_mouse("up", 101, 201, 1.1)
    src.feed_mouse("down", 300, 300, 1.12)        # 20 ms later: debounced as a bounce
    src.feed_mouse("up", 300, 300, 1.15)
    out = src.read(2.0)
    assert [c.kind for c in out] == ["down", "move", "up"]
    assert out[-1].tap.samples == 2 and src.read(2.0) == []
    with pytest.raises(ValueError):
        src.feed_mouse("wheel", 0, 0, 0.0)


@pytest.mark.parametrize("spec", ["usb:/dev/x", "evdev:", "events", "/dev/input/event0", "mouse:1",
                                  "evemu:/nonexistent.events"])
def test_a_spec_naming_no_source_is_a_one_line_error(spec):
    with pytest.raises(TouchSpecError) as exc:
        open_touch(spec, TouchConfig())
    assert "\n" not in str(exc.value) and spec.split(":")[0] in str(exc.value)


@pytest.mark.stack
def test_an_epoll_loop_that_re_registers_on_fileno_change_follows_writers_and_never_spins(fifo):
    import selectors
    import time
    # writers here follow each other within milliseconds: without filters, or debounce would
    # rightly take each new tap for a bounce of the previous one
    src = open_touch(f"events:{fifo}", TouchConfig(x_min=0, x_max=4095, y_min=0, y_max=4095, filters=[]))
    sel = selectors.DefaultSelector()
    registered = None
    wakeups, taps = 0, []

    def turn(timeout_s):
        nonlocal registered, wakeups
        fd = src.fileno()
        if fd != registered:
            if registered is not None:
                sel.unregister(registered)
            if fd is not None:
                sel.register(fd, selectors.EVENT_READ)
            registered = fd
        if sel.select(timeout_s):
            wakeups += 1
            taps.extend(taps_of(src.read(time.monotonic())))

    for round_ in range(3):
        w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(w, encode_events(touch_down(10.0 + round_, 100 + round_, 5) + touch_up(10.05 + round_)))
        turn(1.0)
        os.close(w)
        turn(1.0)                      # the writer's close wakes the loop once
        before = wakeups
        for _ in range(5):
            turn(0.02)                 # and then nothing wakes it until the next writer
        assert wakeups == before
    assert [t.x_raw for t in taps] == [100, 101, 102]
    sel.close()
    src.close()


class FakeDevice:
    """Stands in for python-evdev's InputDevice: there is no /dev/input on this machine."""

    def __init__(self, props, keys, abs_codes):
        from collections import namedtuple
        info = namedtuple("AbsInfo", "value min max fuzz flat resolution")
        self._props, self._keys = props, keys
        self._abs = [(c, info(0, 0, 4095, 0, 0, 0)) for c in abs_codes]

    def input_props(self):
        return self._props

    def capabilities(self, absinfo=False):
        return {codes.EV_KEY: self._keys, codes.EV_ABS: self._abs}


def test_auto_ranks_direct_touchscreens_first_then_old_single_touch_panels_never_touchpads():
    from drivers.touch.evdev_device import touchscreen_rank
    xy, mt = [codes.ABS_X, codes.ABS_Y], [codes.ABS_MT_POSITION_X, codes.ABS_MT_POSITION_Y]
    assert touchscreen_rank(FakeDevice([codes.INPUT_PROP_DIRECT], [codes.BTN_TOUCH], xy + mt)) == 2
    assert touchscreen_rank(FakeDevice([], [codes.BTN_TOUCH], xy)) == 1          # eGalax-style USB panel
    assert touchscreen_rank(FakeDevice([codes.INPUT_PROP_POINTER], [codes.BTN_TOUCH], xy + mt)) == 0  # touchpad
    assert touchscreen_rank(FakeDevice([codes.INPUT_PROP_DIRECT], [], [])) == 0  # no axes: a button panel


def test_a_read_error_is_a_state_not_a_crash(tmp_path):
    # a directory opens but cannot be read (EISDIR): the same path a failing device takes
    before = open_fds()
    src = open_touch(f"events:{tmp_path}", CFG)
    assert src.read(1.0) == []
    assert not src.present and src.absent_reason == "read failed: Is a directory" and src.losses == 1
    assert src.fileno() is None and src.wakeup_s(1.0) == pytest.approx(1.0 + RETRY_MIN_S)
    for i in range(4):
        src.read(2.0 + i * 10)
    assert open_fds() == before and not src.present
    src.close()


@pytest.mark.stack
def test_reopen_cancels_a_touch_in_progress_and_the_next_read_says_so(fifo):
    src = open_touch(f"events:{fifo}", CFG)
    w = os.open(fifo, os.O_RDWR)
    os.write(w, encode_events(touch_down(1.0, 10, 10)))
    assert [c.kind for c in src.read(1.0)] == ["down"]
    assert src.reopen(2.0)
    assert [c.kind for c in src.read(2.0)] == ["cancel"]
    os.close(w)
    src.close()
