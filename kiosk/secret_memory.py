"""Memory a PIN may live in, and a process that never dumps it to disk.

Theory of operation
-------------------
A crash dump is a copy of the process on the SD card: a watchdog's SIGABRT in
the middle of an entry would write the typed characters into ``core`` in the
state directory.  Two independent barriers keep that from happening:

* ``forbid_core_dumps()`` makes the process non-dumpable
  (``prctl(PR_SET_DUMPABLE, 0)``: no core, no ptrace by the same user, root-owned
  ``/proc/PID`` files) and sets ``RLIMIT_CORE`` to 0; the systemd unit says
  ``LimitCORE=0`` as well.
* every ``Pin`` buffer lives in a ``SecretArena``: anonymous ``mmap`` pages that
  are ``mlock``-ed (never written to swap) and ``madvise(MADV_DONTDUMP)``-ed
  (left out of any core the kernel writes despite the first barrier).

A failure to lock (a small ``RLIMIT_MEMLOCK``, a seccomp filter) is a state,
not an error: the arena still works, ``locked`` says False, and the kiosk logs
it once.  The arena hands out fixed-size slots as ``memoryview`` s, which
support item assignment like the ``bytearray`` they replace; a slot is zeroed
when it is given back.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
import resource

PR_SET_DUMPABLE = 4  # <linux/prctl.h>

try:  # glibc's soname first: find_library runs ldconfig in a subprocess, at every import
    _libc = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def forbid_core_dumps() -> list[str]:
    """No core file from this process, ever.  Returns what could not be done (for one log line)."""
    failed: list[str] = []
    if _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        failed.append(f"prctl(PR_SET_DUMPABLE): {os.strerror(ctypes.get_errno())}")
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:
        failed.append(f"RLIMIT_CORE: {exc}")
    return failed


class SecretArena:
    """Locked, undumpable pages cut into equal slots for secrets."""

    def __init__(self, slot_size: int) -> None:
        self.slot_size = slot_size
        self._page_size = mmap.PAGESIZE
        self._pages: list[mmap.mmap] = []
        self._free: list[memoryview] = []
        #: True while every page handed out is mlocked (False after a refused mlock)
        self.locked = True
        self.lock_error = ""

    def prepare(self) -> None:
        """Map (and try to lock) a first page now, so ``locked`` is known before any PIN."""
        if not self._free:
            self._grow()

    def take(self) -> memoryview:
        """A zeroed slot of ``slot_size`` bytes; give it back with ``give_back``."""
        if not self._free:
            self._grow()
        return self._free.pop()

    def give_back(self, slot: memoryview) -> None:
        """Zero the slot and keep it for the next secret."""
        slot[:] = bytes(len(slot))
        self._free.append(slot)

    def _grow(self) -> None:
        page = mmap.mmap(-1, self._page_size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        if hasattr(mmap, "MADV_DONTDUMP"):
            page.madvise(mmap.MADV_DONTDUMP)
        # the address of the mapping: a ctypes view over it (which also pins it: never closed)
        address = ctypes.addressof(ctypes.c_char.from_buffer(page))
        if _libc.mlock(ctypes.c_void_p(address), ctypes.c_size_t(self._page_size)) != 0:
            self.locked = False
            self.lock_error = os.strerror(ctypes.get_errno())
        self._pages.append(page)
        whole = memoryview(page)
        for offset in range(0, self._page_size - self.slot_size + 1, self.slot_size):
            self._free.append(whole[offset: offset + self.slot_size])
