"""This boot and its clock: the kernel's boot id, and whether the wall clock is synchronised.

Why: a Raspberry Pi has no RTC.  It boots with the time it had at shutdown (or 1970) and
jumps when NTP answers, so wall-clock times written before that can be wrong, even earlier
than the ones of the boot before.  The audit trail orders records by ``seq`` and never lets
``ts`` run backwards (``kiosk.audit``); its ``boot`` record carries these two facts, so an
auditor knows which boot a record belongs to and whether its times were synchronised.

* ``kernel_boot_id()``: ``/proc/sys/kernel/random/boot_id``, the id journald uses for
  ``journalctl -b`` (so the trail and the journal name a boot the same way).
* ``clock_synchronized()``: ``/run/systemd/timesync/synchronized``, which
  systemd-timesyncd creates once it has set the clock (and which time-sync.target, in the
  unit's After=, waits for when systemd-time-wait-sync is enabled).
"""
from __future__ import annotations

import os

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
SYNCHRONIZED_FLAG = "/run/systemd/timesync/synchronized"


def kernel_boot_id(path: str = BOOT_ID_FILE) -> str | None:
    """The kernel's boot id without dashes (32 hex digits), None where there is none."""
    try:
        with open(path, encoding="ascii") as fh:
            text = fh.read(64).strip().replace("-", "")
    except (OSError, UnicodeDecodeError):
        return None
    return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None


def clock_synchronized(flag: str = SYNCHRONIZED_FLAG) -> bool:
    """True once systemd-timesyncd has synchronised the wall clock in this boot."""
    return os.path.exists(flag)
