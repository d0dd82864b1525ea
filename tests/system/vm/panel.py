"""The touch panel of the virtual counter: a real panel's evemu description, made with uinput.

The host reads ``../shared/fixtures/evemu/NAME.desc`` (name, ids, properties,
capability bits, absinfo) and the guest agent creates that device with
uinput, so the kernel's evdev, udev's ``ID_INPUT_TOUCHSCREEN`` and the
packaged rule's ``/dev/kiosk-touch`` all see what they would see with the
panel.  A tap is the event sequence the panel itself sends (multitouch slot
0 with a tracking id, plus the single-touch axes and BTN_TOUCH), each report
``SAMPLE_INTERVAL_S`` apart.
"""
from __future__ import annotations

from pathlib import Path

from drivers.touch import codes
from calibration import store
from drivers.touch.events import Axes, AxisRange, parse_evemu
from drivers.touch.finger import SAMPLE_INTERVAL_S

from support_repo import FIXTURES  # ../shared/fixtures beside the clone

PANEL_DESC = FIXTURES / "EP0430M09.desc"


def device_spec(desc_path: Path = PANEL_DESC) -> dict:
    """The uinput description of a panel: what ``guest_agent.Panel`` creates."""
    text = desc_path.read_text()
    rec = parse_evemu(text, str(desc_path))
    masks: dict[int, list[int]] = {}  # B: TYPE BYTE...: each line continues TYPE's bitmask
    ids = [0, 0, 0, 0]
    for line in text.splitlines():
        tag, _, rest = line.partition(":")
        fields = rest.split()
        if tag == "I":
            ids = [int(f, 16) for f in fields[:4]]
        elif tag == "B":
            masks.setdefault(int(fields[0], 16), []).extend(int(b, 16) for b in fields[1:])
    bits = {t: [i * 8 + b for i, byte in enumerate(m) for b in range(8) if byte >> b & 1]
            for t, m in masks.items() if t != codes.EV_SYN}
    absinfo = {}
    for line in text.splitlines():
        if line.startswith("A:"):
            f = line[2:].split()
            code, minimum, maximum, fuzz, flat = (int(f[0], 16), int(f[1]), int(f[2]), int(f[3]), int(f[4]))
            res = int(f[5]) if len(f) > 5 else 0
            absinfo[code] = [0, minimum, maximum, fuzz, flat, res]
    bits = {t: c for t, c in bits.items() if c}
    if rec.absinfo.keys() != absinfo.keys():
        raise ValueError(f"{desc_path}: A: lines disagree with the project's evemu parser")
    return {"name": rec.name, "id": ids, "props": sorted(rec.properties),
            "bits": {str(t): c for t, c in bits.items()}, "abs": {str(c): v for c, v in absinfo.items()}}


def axes_of(spec: dict) -> Axes:
    """The panel's raw coordinate space, as the kiosk reads it from the device's absinfo."""
    return Axes.from_absinfo({int(c): AxisRange(v[1], v[2], v[5]) for c, v in spec["abs"].items()})


def raw_of_px(x_px: float, y_px: float, spec: dict, screen) -> tuple[int, int]:
    """Where to touch the panel for a screen pixel, before any calibration (the kiosk's own map)."""
    x, y = store.uncalibrated(axes_of(spec), screen).inverse().apply(x_px, y_px)
    return round(x), round(y)


def tap(x_raw: int, y_raw: int, *, tracking_id: int, samples: int = 6, first_delay_s: float = 0.0) -> list[list]:
    """A tap as the panel reports it: [delay_s, type, code, value] events for the guest agent."""
    ev: list[list] = []
    for i in range(samples):
        d = first_delay_s if i == 0 else SAMPLE_INTERVAL_S
        if i == 0:
            ev += [[d, codes.EV_ABS, codes.ABS_MT_SLOT, 0],
                   [0, codes.EV_ABS, codes.ABS_MT_TRACKING_ID, tracking_id]]
            d = 0
        ev += [[d, codes.EV_ABS, codes.ABS_MT_POSITION_X, x_raw],
               [0, codes.EV_ABS, codes.ABS_MT_POSITION_Y, y_raw]]
        if i == 0:
            ev.append([0, codes.EV_KEY, codes.BTN_TOUCH, 1])
        ev += [[0, codes.EV_ABS, codes.ABS_X, x_raw], [0, codes.EV_ABS, codes.ABS_Y, y_raw],
               [0, codes.EV_SYN, codes.SYN_REPORT, 0]]
    ev += [[SAMPLE_INTERVAL_S, codes.EV_ABS, codes.ABS_MT_TRACKING_ID, -1],
           [0, codes.EV_KEY, codes.BTN_TOUCH, 0], [0, codes.EV_SYN, codes.SYN_REPORT, 0]]
    return ev
