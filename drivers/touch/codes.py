"""Kernel input event codes, under the kernel's own names.

Values are those of ``linux/input-event-codes.h`` (checked against
``/usr/include/linux/input-event-codes.h`` by ``tests/touch/test_touch_decode.py``),
so a recording, ``evtest`` output and this code all speak the same words.
Only the codes the touch pipeline reads are here.
"""
from __future__ import annotations

INPUT_PROP_POINTER = 0x00
INPUT_PROP_DIRECT = 0x01

EV_SYN = 0x00
EV_KEY = 0x01
EV_ABS = 0x03

SYN_REPORT = 0
SYN_CONFIG = 1
SYN_MT_REPORT = 2
SYN_DROPPED = 3

BTN_TOOL_FINGER = 0x145
BTN_TOUCH = 0x14A

ABS_X = 0x00
ABS_Y = 0x01
ABS_PRESSURE = 0x18
ABS_MT_SLOT = 0x2F
ABS_MT_TOUCH_MAJOR = 0x30
ABS_MT_POSITION_X = 0x35
ABS_MT_POSITION_Y = 0x36
ABS_MT_TOOL_TYPE = 0x37
ABS_MT_TRACKING_ID = 0x39
ABS_MT_PRESSURE = 0x3A
ABS_MT_DISTANCE = 0x3B

# values of ABS_MT_TOOL_TYPE (linux/input.h)
MT_TOOL_FINGER = 0x00
MT_TOOL_PALM = 0x02

#: Every name above, for checking against the kernel header and for printing.
NAMES: dict[str, int] = {k: v for k, v in dict(globals()).items()
                         if k.isupper() and isinstance(v, int) and k.split("_")[0] in
                         ("INPUT", "EV", "SYN", "BTN", "ABS", "MT")}
