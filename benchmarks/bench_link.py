"""Console link figures: framing speed, send cost on the UI loop, round trip and throughput over a pty, replay.

Run: .venv/bin/python benchmarks/bench_link.py [--events N] [--dir DIR]
Prints one line per figure.  The console end runs in a thread over the pty
master with the real protocol Link, the kiosk end is a real ConsoleLink.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from kiosk import frames  # noqa: E402
from kiosk.config import config_from_dict  # noqa: E402
from kiosk.console_link import ConsoleLink  # noqa: E402
from kiosk.journal import JOURNAL_NAME, Journal  # noqa: E402
from support_pty import TestConsole, open_pty, repoint  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def bench_framing(n: int = 20000) -> None:
    frame = {"v": 1, "type": "pin.result", "seq": 12345, "boot": "3f9a0c5e7b21d4e8",
             "ts": "2026-11-26T09:00:41.870Z", "terminal": "counter-1", "pin_type": "signature",
             "action": "change", "result": "wrong", "tries_left": 4}
    t = time.perf_counter()
    for _ in range(n):
        line = frames.encode(frame)
    enc = n / (time.perf_counter() - t)
    d = frames.FrameDecoder()
    blob = line * n
    t = time.perf_counter()
    out = d.feed(blob)
    dec = n / (time.perf_counter() - t)
    assert len(out) == n
    print(f"framing: encode {enc:,.0f} frames/s, decode {dec:,.0f} frames/s ({len(line)} bytes/frame)")


def bench_link(events: int, directory: Path) -> None:
    master, name = open_pty()
    port = directory / "kiosk-console"
    repoint(port, name)
    cfg = config_from_dict({"console": {"port": str(port), "retransmit_s": 1.0, "heartbeat_s": 5.0}})
    link = ConsoleLink(cfg, directory / "state")
    con = TestConsole(master, retransmit_s=1.0)
    stop = threading.Event()

    def console_thread():
        while not stop.is_set():
            con.pump(0.01)

    th = threading.Thread(target=console_thread, daemon=True)
    th.start()

    def serve_until(pred, timeout_s):
        """The app loop's part: select on the port, read, tick."""
        end = time.monotonic() + timeout_s
        while not pred() and time.monotonic() < end:
            link.tick(time.monotonic())
            fd = link.fileno()
            if fd is None:
                time.sleep(0.005)
                continue
            r, _, _ = select.select([fd], [], [], 0.01)
            if r:
                link.on_readable(time.monotonic())
        return pred()

    assert serve_until(lambda: link.up, 3), "link did not come up"

    # round trip: one event, wait for its ack (journal append + write + console ack + journal remove)
    rtt, send_cost = [], []
    for i in range(200):
        t = time.perf_counter()
        link.send("drift", time.monotonic(), level="ok", taps=i)
        send_cost.append(time.perf_counter() - t)
        assert serve_until(lambda: link.pending == 0, 5)
        rtt.append(time.perf_counter() - t)
    print(f"send() on the loop (journal fsync + non-blocking write): median {statistics.median(send_cost)*1e3:.2f} ms, "
          f"p99 {pct(send_cost, 99)*1e3:.2f} ms")
    print(f"round trip event -> console ack -> journal forget: median {statistics.median(rtt)*1e3:.2f} ms, "
          f"p99 {pct(rtt, 99)*1e3:.2f} ms")

    # throughput: a burst of events
    t = time.perf_counter()
    for i in range(events):
        link.send("drift", time.monotonic(), level="ok", taps=i, shift_mm=0.1)
        if link.fileno() is not None:
            link.on_readable(time.monotonic())
    assert serve_until(lambda: link.pending == 0, 120)
    dt = time.perf_counter() - t
    print(f"burst of {events} events delivered and acked: {dt:.2f} s, {events/dt:,.0f} events/s "
          f"(pty, no baud limit; 115200 baud carries about 57 frames/s of 200 bytes)")
    stop.set()
    th.join(2)
    link.close()
    os.close(master)


def bench_replay(directory: Path, n: int = 10000) -> None:
    path = directory / "replay" / JOURNAL_NAME
    path.parent.mkdir()
    path.write_text("".join(json.dumps({"frame": {"v": 1, "type": "drift", "seq": i, "boot": "b" * 16,
                                                   "ts": "2026-11-26T09:00:41.870Z", "terminal": "counter-1",
                                                   "level": "ok", "taps": i}}) + "\n" for i in range(1, n + 1)))
    t = time.perf_counter()
    got = Journal(path, 10000).load()
    dt = time.perf_counter() - t
    assert len(got) == n
    print(f"journal load of a full journal ({n} frames, {path.stat().st_size/1e6:.1f} MB): {dt*1e3:.0f} ms")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=2000)
    p.add_argument("--dir", default=None, help="where the journal lives (default: a temp dir in /tmp)")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(dir=a.dir) as d:
        bench_framing()
        bench_link(a.events, Path(d))
        bench_replay(Path(d))
    return 0


if __name__ == "__main__":
    sys.exit(main())
