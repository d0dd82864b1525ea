"""``evdev:PATH`` and ``evdev:auto``: a real touchscreen through python-evdev.

The device is grabbed (EVIOCGRAB) so SDL, a console or X never see the
citizen's touches.  Axis ranges and resolution come from the device's absinfo.
Its event timestamps are switched to CLOCK_MONOTONIC (EVIOCSCLOCKID) when the
kernel allows, so wall-clock steps do not disturb tap durations.  Reading and
unplug handling are ``FdSource``'s: ENODEV on read means the device is gone;
the source is absent and reopens it, with a backoff, when it returns.  After
a SYN_DROPPED the panel's BTN_TOUCH state is read back (EVIOCGKEY) so a new
touch can start as soon as the panel is actually empty.

``evdev:auto`` takes the first device under ``/dev/input/by-id`` and then
``/dev/input/event*`` that has INPUT_PROP_DIRECT and absolute X/Y axes.  A
fixed udev symlink (``/dev/kiosk-touch``) is the better choice in production:
it survives re-enumeration.
"""
from __future__ import annotations

import fcntl
import glob
import os
import struct

from drivers.touch import codes
from drivers.touch.events import AxisRange, Axes
from drivers.touch.source import FdSource
from drivers.touch.taps import Contact
from kiosk.config import TouchConfig

#: _IOW('E', 0xa0, int): choose the clock of event timestamps.
EVIOCSCLOCKID = 0x400445A0
CLOCK_MONOTONIC = 1


def device_axes(device) -> Axes:
    """Axes from a python-evdev device's absinfo."""
    caps = device.capabilities(absinfo=True).get(codes.EV_ABS, [])
    table = {code: AxisRange(info.min, info.max, info.resolution) for code, info in caps}
    return Axes.from_absinfo(table)


def touchscreen_rank(device) -> int:
    """2: INPUT_PROP_DIRECT with absolute X/Y (a touchscreen); 1: absolute X/Y with BTN_TOUCH
    and not INPUT_PROP_POINTER (old single-touch USB panels that never set DIRECT); 0: not one."""
    try:
        device_axes(device)
        props = device.input_props()
        keys = device.capabilities().get(codes.EV_KEY, [])
    except (OSError, ValueError):
        return 0
    if codes.INPUT_PROP_DIRECT in props:
        return 2
    if codes.BTN_TOUCH in keys and codes.INPUT_PROP_POINTER not in props:
        return 1
    return 0


def find_touchscreen() -> str | None:
    """The best-ranked touchscreen, first in order, preferring stable /dev/input/by-id names."""
    seen: set[str] = set()
    best, best_rank = None, 0
    for path in sorted(glob.glob("/dev/input/by-id/*-event-*")) + sorted(glob.glob("/dev/input/event*")):
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        try:
            device = open_input_device(path)
        except OSError:
            continue
        try:
            rank = touchscreen_rank(device)
        finally:
            device.close()
        if rank > best_rank:
            best, best_rank = path, rank
    return best


#: EVIOCGVERSION = _IOR('E', 0x01, int): answered by every evdev node, refused by anything else
EVIOCGVERSION = 0x80044501


def open_input_device(path: str):
    """``evdev.InputDevice(path)``, without leaking a descriptor when ``path`` is not an evdev node.

    python-evdev 1.6 (Debian 12's python3-evdev, what a terminal runs) opens the node and
    then asks its ioctls; when they fail (a FIFO, a tty, a driver gone) the descriptor stays
    open, and a touch source that retries every few seconds would run out of them.  So the
    node is asked here first, on a descriptor that is always closed.
    """
    import evdev
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, EVIOCGVERSION, bytearray(4))
    finally:
        os.close(fd)
    return evdev.InputDevice(path)


class EvdevSource(FdSource):
    SPEC_FORMS = ("evdev:PATH", "evdev:auto")

    def __init__(self, path: str, cfg: TouchConfig) -> None:
        from drivers.touch.event_stream import config_axes
        super().__init__(f"evdev:{path}", cfg, config_axes(cfg))
        self.path = path
        self._device = None
        self._drops_seen = 0

    def _open_fd(self, now_s: float) -> int:
        path = self.path
        if path == "auto":
            found = find_touchscreen()
            if found is None:
                raise OSError(2, "no touchscreen found (INPUT_PROP_DIRECT with X/Y axes)")
            path = found
        device = open_input_device(path)  # raises OSError when missing or not an evdev node
        try:
            axes = device_axes(device)
            device.grab()
        except (OSError, ValueError) as exc:
            device.close()
            raise OSError(getattr(exc, "errno", None) or 19, f"{path}: not a usable touchscreen: {exc}") from None
        try:
            fcntl.ioctl(device.fd, EVIOCSCLOCKID, struct.pack("i", CLOCK_MONOTONIC))
        except OSError:
            pass  # old kernels: realtime stamps, mapped to the caller's clock all the same
        self._device = device
        if axes != self.axes:
            self._set_pipeline_axes(axes)
        self._drops_seen = 0
        self.present, self.absent_reason = True, ""
        touching = self._touching()
        self.pipeline.resync(touching, now_s)
        return device.fd

    def _touching(self) -> bool | None:
        """BTN_TOUCH as the device holds it now (EVIOCGKEY); None when it has no such key."""
        device = self._device
        if codes.BTN_TOUCH not in device.capabilities().get(codes.EV_KEY, []):
            return None
        return codes.BTN_TOUCH in device.active_keys()

    def _close_fd(self) -> None:
        if self._device is not None:
            try:
                self._device.close()  # also releases the grab
            except OSError:
                pass
            self._device = None
            self._fd = None
        super()._close_fd()

    def _on_eof(self, now_s: float, out: list[Contact]) -> None:
        self._lost(now_s, "device returned end of file", out)

    def _after_feed(self, now_s: float, out: list[Contact]) -> None:
        drops = self.pipeline.tracker.drops
        if drops != self._drops_seen and self._device is not None:
            self._drops_seen = drops
            try:
                touching = self._touching()
            except OSError:
                return  # the read that follows reports the loss
            out.extend(self.pipeline.resync(touching, now_s))
