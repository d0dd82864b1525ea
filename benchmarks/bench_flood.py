"""Floods on the console line: what a real ``pin-kiosk run`` holds and writes while one lasts.

Run: .venv/bin/python benchmarks/bench_flood.py [--line-seconds 600] [--baud 115200]

The flood is what a sender on the serial line can push in ``--line-seconds``
at the line's rate (115200 baud = 11,520 bytes/s), written into the kiosk's
pty as fast as the kiosk reads it, by a sender holding the terminal's key
(the worst case: every frame passes the MAC check).  Mixed in equal parts:
one command repeated (duplicates), new ``status_request`` commands (each would
answer with a status and, before this issue, rewrite the commands-seen file),
unknown commands (each would send a journaled ``bad_command`` alert), and forged
frames with a wrong MAC.  The console does not read during the flood, so
nothing the kiosk writes can drain.  Figures: the kiosk's RSS before and after
(VmRSS), bytes it wrote to disk (``/proc/PID/io`` ``write_bytes``, the state
directory is on the same disk), what it counted, and that the link still
answers afterwards.
"""
from __future__ import annotations

import argparse
import errno
import json
import os
import select
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kiosk import frames  # noqa: E402

KEY = bytes.fromhex("3c" * 32)
WRONG_KEY = bytes.fromhex("c3" * 32)


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def disk_write_bytes(pid: int) -> int:
    io = Path(f"/proc/{pid}/io").read_text()
    return int(next(line for line in io.splitlines() if line.startswith("write_bytes:")).split()[1])


def flood_lines(kiosk_boot: str, total_bytes: int, sender: str = "f100d5e4der") -> list[bytes]:
    """Lines adding up to ``total_bytes``: duplicates, new commands, bad commands, forgeries."""
    dup = frames.encode({"v": 2, "type": "status_request", "seq": 1, "boot": sender, "to": kiosk_boot}, KEY)
    lines, size, seq = [], 0, 2
    while size < total_bytes:
        for kind in range(4):
            if kind == 0:
                line = dup
            elif kind == 1:
                line = frames.encode({"v": 2, "type": "status_request", "seq": seq, "boot": sender,
                                      "to": kiosk_boot}, KEY)
            elif kind == 2:
                line = frames.encode({"v": 2, "type": "reboot", "seq": seq, "boot": sender, "to": kiosk_boot}, KEY)
            else:
                line = frames.encode({"v": 2, "type": "logout", "seq": seq, "boot": sender, "to": kiosk_boot},
                                     WRONG_KEY)
            seq += 1
            lines.append(line)
            size += len(line)
    return lines


def write_all(fd: int, data: bytes) -> None:
    """Write everything into the pty master, waiting while the kiosk has not read it yet."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view[:4096])
            view = view[n:]
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                raise
            select.select([], [fd], [], 0.05)


def run_flood(tmp: Path, line_seconds: float, baud: int = 115200) -> dict:
    """Start a keyed kiosk, warm it up, flood it, and return the figures."""
    from support_kiosk import KioskUnderTest

    k = KioskUnderTest(tmp, card="sim", key=KEY)
    try:
        kiosk_boot = k.frames("hello")[0]["boot"]
        k.console.pump(1.0)
        write_all(k.master, b"".join(flood_lines(kiosk_boot, 200_000, sender="warm0up")))  # warm-up
        k.console.pump(3.0)
        rss0, disk0 = rss_kb(k.proc.pid), disk_write_bytes(k.proc.pid)
        total = int(line_seconds * baud / 10)
        blob = b"".join(flood_lines(kiosk_boot, total))
        t0 = time.monotonic()
        write_all(k.master, blob)
        flood_s = time.monotonic() - t0
        time.sleep(0.5)
        rss1, disk1 = rss_kb(k.proc.pid), disk_write_bytes(k.proc.pid)
        k.console.pump(3.0)  # the console reads again
        k.say("status_request")
        answered = k.wait_frame("status", count=len(k.frames("status")) + 1, timeout_s=15)
        return {"flood_bytes": len(blob), "flood_frames": blob.count(b"\n"), "flood_s": round(flood_s, 2),
                "line_seconds": line_seconds, "rss_before_kb": rss0, "rss_after_kb": rss1,
                "rss_growth_mb": round((rss1 - rss0) / 1024, 2),
                "disk_written_kb": round((disk1 - disk0) / 1024, 1),
                "rx_unauthenticated": answered["rx_unauthenticated"], "link_answers_after": True}
    finally:
        k.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--line-seconds", type=float, default=600.0)
    ap.add_argument("--baud", type=int, default=115200)
    a = ap.parse_args()
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    with tempfile.TemporaryDirectory() as d:
        print(json.dumps(run_flood(Path(d), a.line_seconds, a.baud)))


if __name__ == "__main__":
    main()
