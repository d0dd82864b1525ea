"""Operations benchmark: what the audit trail, the metrics file and sd_notify cost.

Run: .venv/bin/python benchmarks/bench_operations.py [--records N] [--dir DIR]

Prints, for this machine: audit record append (fsync per record) median and p99,
audit verify throughput (a year of records at a busy counter is ~100,000), AuditTrail
open time on that trail (it verifies the whole chain at start), metrics file write
(atomic, fsynced) median, and one sd_notify WATCHDOG=1 datagram with its checks.
The fsync figures depend on the disk under DIR (default: a temporary directory).
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk.audit import AUDIT_FILE, AuditTrail, verify_chain  # noqa: E402
from kiosk.metrics import METRICS_FILE, MetricsSnapshot, write_metrics  # noqa: E402
from kiosk.watchdog import Heartbeat, Notifier  # noqa: E402


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000, help="size of the trail for verify/open")
    ap.add_argument("--dir", help="directory to run in (its disk decides the fsync cost)")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-ops-", dir=args.dir))

    # 1. record appends with fsync, as the kiosk does them
    d1 = base / "append"
    times = []
    with AuditTrail(d1) as trail:
        for i in range(300):
            t0 = time.perf_counter()
            trail.record("pin.result", session=f"s{i}", pin_type="user_auth", action="verify",
                         result="ok", tries_left=3)
            times.append(time.perf_counter() - t0)
    print(f"audit record append (fsync each): median {statistics.median(times) * 1e3:.2f} ms, "
          f"p99 {pct(times, 99) * 1e3:.2f} ms over {len(times)} records")

    # 2. a big trail: build it fast (the chain is the same; only fsyncs are skipped)
    d2 = base / "year"
    d2.mkdir()
    from kiosk.audit import GENESIS, check_fields, render_record, utc_iso
    prev, lines = GENESIS, []
    fields = check_fields("pin.result", {"session": "s1", "pin_type": "signature", "action": "verify",
                                         "result": "wrong", "tries_left": 4})
    import json
    for i in range(1, args.records + 1):
        line = render_record(i, utc_iso(1.79e9 + i), "pin.result", fields, prev)
        prev = json.loads(line)["hash"]
        lines.append(line)
    (d2 / AUDIT_FILE).write_text("\n".join(lines) + "\n")
    size_mb = (d2 / AUDIT_FILE).stat().st_size / 1e6
    t0 = time.perf_counter()
    report = verify_chain(d2 / AUDIT_FILE)
    dt = time.perf_counter() - t0
    assert report.ok and report.records == args.records
    print(f"audit verify: {args.records} records ({size_mb:.1f} MB) in {dt:.2f} s "
          f"= {args.records / dt:,.0f} records/s")
    t0 = time.perf_counter()
    AuditTrail(d2).close()
    print(f"AuditTrail open (checks the last record) on that trail: {time.perf_counter() - t0:.2f} s")

    # 3. metrics file
    snap = MetricsSnapshot("counter-1", {"ok": 120, "wrong": 7}, 0.0012, -0.0004, "warn", True, 3,
                           True, True, 1.79e9, args.records)
    times = []
    for _ in range(200):
        t0 = time.perf_counter()
        write_metrics(base / METRICS_FILE, snap)
        times.append(time.perf_counter() - t0)
    print(f"metrics.prom atomic write: median {statistics.median(times) * 1e3:.2f} ms, "
          f"p99 {pct(times, 99) * 1e3:.2f} ms")

    # 4. sd_notify WATCHDOG=1 with three liveness checks, to a socket we bind
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    addr = f"@bench-ops-{os.getpid()}"
    sock.bind(b"\0" + addr[1:].encode())
    n = Notifier(addr, 7.5)
    beats = [Heartbeat(name, 2.0) for name in ("loop", "serial_worker", "card_worker")]
    for hb in beats:
        hb.beat(time.monotonic())
    checks = [hb.check(time.monotonic) for hb in beats]
    times = []
    for _ in range(2000):
        t0 = time.perf_counter()
        n.watchdog(checks)
        times.append(time.perf_counter() - t0)
        sock.recv(64)
    print(f"watchdog(3 checks) + sd_notify datagram: median {statistics.median(times) * 1e6:.1f} us")
    n.close()
    sock.close()
    import shutil
    shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
