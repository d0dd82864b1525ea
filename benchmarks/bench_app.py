"""Whole-terminal benchmark: the real kiosk in a subprocess, against the targets of issue 10.

What is measured, and how (every figure on ``time.monotonic``, the system-wide
CLOCK_MONOTONIC, so the benchmark process and the kiosk process share a clock):

* **start to first frame**: from just before the kiosk process is spawned to
  the kiosk's first ``on_frame`` (called by ``kiosk.app`` right after
  ``display.show`` pushed the changed rectangles, the flip).  Includes the
  interpreter, imports, SDL and fonts, opening every driver, the first draw.
* **idle CPU**: the kiosk on its idle screen, touch writer connected and
  quiet, console link up (heartbeats flow), simulated card inserted (the card
  worker waits on it): the CPU time of *all* of the kiosk's threads
  (``/proc/PID/task/*/schedstat``) over the window, as % of one core; plus its
  context switches per second (how often it wakes).
* **touch-to-frame latency**: a scripted finger types ``1 2 3 4`` then four
  backspaces, over and over, one tap every ``TAP_PERIOD_S``, each tap written
  as the kernel records of a panel (down, a report every 12 ms, up) into the
  ``events:`` FIFO.  Latency of a tap = from just before ``write()`` of its
  touch-up records (BTN_TOUCH 0 + SYN_REPORT) into the FIFO, to the start
  of the ``on_frame`` call after the flip of the frame whose dot count shows
  that tap.  It therefore includes the kernel pipe, the loop's wake-up,
  decoding, the filter chain, calibration, hit-testing, the session, the
  dirty-rect render and the flip (SDL dummy driver: no scan-out).
* **peak RSS**: ``ru_maxrss`` of the kiosk process (``os.wait4``) after the
  typing load and a clean SIGTERM shutdown.
* The **naive baseline** (``benchmarks/naive_loop.py``: ``clock.tick(60)``,
  full redraw every frame, same renderer and screen size, same touch source
  polled once per frame) goes through the same idle window and typing load.
* **events/s** of the touch pipeline (``bench_touch.run_once``), **card**
  operations over pcscd + vpcd (``bench_card.measure`` on
  ``tests/support/support_pcsc.PcscStack``; skipped with a note when that stack
  cannot start), **drift detection delay** (``calibration.simulate``).

``pin-kiosk bench [--json] [--quick]`` runs this; so does
``.venv/bin/python benchmarks/bench_app.py [--json] [--quick]``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import platform
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "benchmarks"
for _p in (str(ROOT), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

#: One tap every this long: a quick typist.  Two backspaces in a row must be further apart than the
#: keypad's same-key bounce interval (``keypad.repeat_debounce_s``, 0.25 s from release to press).
TAP_PERIOD_S = 0.4
#: Touch reports per tap (the panel's 12 ms interval: about 70 ms on the glass).
TAP_SAMPLES = 6
#: Least time from one touch-up to the next touch-down, however late a tap ran on a loaded machine
#: (above ``keypad.repeat_debounce_s``, so two backspaces are never taken for a bounce).
RELEASE_GAP_S = 0.3
#: How long a tap may take to show before it counts as missed.
FRAME_WAIT_S = 2.0
#: The typing script: each tap changes the number of dots by one.
TYPING_KEYS = ("1", "2", "3", "4", "backspace", "backspace", "backspace", "backspace")

TARGETS = {  # name -> (figure path, limit, unit)
    "touch_to_frame_p99_ms": (("kiosk", "latency_ms", "p99"), 8.0, "ms"),
    "idle_cpu_percent_of_core": (("kiosk", "idle", "cpu_percent_of_core"), 1.0, "%"),
    "start_to_first_frame_s": (("kiosk", "start_to_first_frame_s"), 1.5, "s"),
    "peak_rss_mb": (("kiosk", "peak_rss_mb"), 80.0, "MB"),
}


# --------------------------------------------------------------------------- the two processes
class FrameReports:
    """Lines ``ENTERED MONOTONIC_S SCREEN`` from a child's report pipe, on a reader thread."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.frames: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._pump, name="frame-reports", daemon=True)

    def start(self) -> None:
        os.close(self.write_fd)  # the child holds it now: EOF when the child exits
        self._thread.start()

    def _pump(self) -> None:
        with os.fdopen(self.read_fd, "rb") as f:
            for line in f:
                entered, t_s, screen = line.decode().split()
                self.frames.put((int(entered), float(t_s), screen))

    def wait(self, predicate, timeout_s: float) -> tuple[int, float, str] | None:
        """The next frame matching ``predicate`` (frames before it are dropped); None on timeout."""
        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                return None
            if predicate(frame):
                return frame


def _task_sum(pid: int) -> tuple[float, int]:
    """(CPU seconds, context switches) of every thread of ``pid`` so far."""
    cpu_ns = switches = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu_ns += int((task / "schedstat").read_text().split()[0])
            for line in (task / "status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    switches += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended while we looked
    return cpu_ns / 1e9, switches


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory by kind (``/proc/PID/status``): anonymous (heap, surfaces) vs file-backed (libraries, fonts)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[name] = round(int(rest.split()[0]) / 1024, 1)
    return out


def measure_idle(pid: int, window_s: float) -> dict[str, float]:
    """CPU of every thread of ``pid`` over ``window_s`` of wall time, as % of one core."""
    cpu0, sw0 = _task_sum(pid)
    t0 = time.monotonic()
    time.sleep(window_s)
    cpu1, sw1 = _task_sum(pid)
    wall_s = time.monotonic() - t0
    return {"window_s": round(wall_s, 2), "cpu_s": round(cpu1 - cpu0, 6),
            "cpu_percent_of_core": round(100 * (cpu1 - cpu0) / wall_s, 4),
            "wakeups_per_s": round((sw1 - sw0) / wall_s, 2)}


class Typist:
    """The scripted finger: raw kernel records into the ``events:`` FIFO, the touch-up timed."""

    def __init__(self, fifo: Path, cfg: Any) -> None:
        from calibration import store
        from drivers.touch.event_stream import config_axes
        from kiosk.keypad import build_layout
        from kiosk.pin import PinType

        with tempfile.TemporaryDirectory() as empty_state:  # both processes start uncalibrated
            affine, _ = store.load_active(empty_state, config_axes(cfg.touch), cfg.screen)
        layout = build_layout(PinType.USER_AUTH, cfg.screen, cfg.keypad, cfg.screen.language)
        inverse = affine.inverse()
        self.raw = {k: inverse.apply(*layout.key_centre_px(k)) for k in set(TYPING_KEYS)}
        self.fifo = fifo
        self.fd: int | None = None

    def connect(self) -> None:
        """Hold the FIFO open before the process starts, as a panel is there at boot.

        O_RDWR on a FIFO opens at once without a reader (Linux); we never read
        it, so every byte goes to the process under test.
        """
        self.fd = os.open(self.fifo, os.O_RDWR | os.O_CLOEXEC)

    def tap(self, key: str) -> float:
        """Touch ``key``'s centre like a panel reports it; returns the monotonic time of the touch-up write."""
        from drivers.touch.events import encode_events
        from drivers.touch.finger import SAMPLE_INTERVAL_S, tap_events

        events = tap_events(*self.raw[key], time.time(), samples=TAP_SAMPLES)
        down, up = events[:-2], events[-2:]  # the last two: BTN_TOUCH 0, SYN_REPORT
        frame: list = []
        for ev in down:
            frame.append(ev)
            if ev[2] == 0:  # SYN_REPORT: the panel sends one report at a time
                os.write(self.fd, encode_events(frame))
                frame = []
                time.sleep(SAMPLE_INTERVAL_S)
        t = time.time()
        up = [(int(t), int(t % 1 * 1e6), *ev[2:]) for ev in up]
        data = encode_events(up)
        t_up_s = time.monotonic()
        os.write(self.fd, data)
        return t_up_s

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: every figure is a latency that happened)."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]


def type_load(typist: Typist, reports: FrameReports, taps: int) -> dict[str, Any]:
    """Type ``taps`` taps; latency of each from touch-up write to the frame showing it."""
    latencies_ms: list[float] = []
    missed = 0
    shown = 0
    for i in range(taps):
        key = TYPING_KEYS[i % len(TYPING_KEYS)]
        t_start = time.monotonic()
        want = shown - 1 if key == "backspace" else shown + 1
        if want < 0 or want > 4:  # out of step after a miss: skip to the start of the cycle
            continue
        t_up = typist.tap(key)
        frame = reports.wait(lambda f, want=want: f[2] == "entry" and f[0] == want and f[1] >= t_up, FRAME_WAIT_S)
        if frame is None:
            missed += 1
        else:
            shown = want
            latencies_ms.append((frame[1] - t_up) * 1000)
        next_down_s = max(t_start + TAP_PERIOD_S, t_up + RELEASE_GAP_S)
        time.sleep(max(0.0, next_down_s - time.monotonic()))
    out: dict[str, Any] = {"taps": taps, "measured": len(latencies_ms), "missed": missed}
    if latencies_ms:
        out.update(p50=round(percentile(latencies_ms, 50), 3), p99=round(percentile(latencies_ms, 99), 3),
                   max=round(max(latencies_ms), 3), mean=round(statistics.fmean(latencies_ms), 3))
    else:
        out.update(p50=None, p99=None, max=None, mean=None)
    return out


def _stop(proc: subprocess.Popen) -> float:
    """SIGTERM the process, reap it with ``wait4``; its peak RSS in MB."""
    proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
        if time.monotonic() > deadline:
            proc.kill()
            deadline = float("inf")
        time.sleep(0.02)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    env.update(SDL_VIDEODRIVER="dummy", PYTHONPATH=str(ROOT))
    return env


def _fail(proc: subprocess.Popen, log_path: Path, what: str) -> RuntimeError:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    tail = log_path.read_text(errors="replace")[-600:] if log_path.exists() else ""
    return RuntimeError(f"{what}; its stderr ends: {tail.strip()!r}")


def _spawn_until_first_frame(argv: list[str], reports: "FrameReports", log_path: Path,
                             what: str) -> tuple[subprocess.Popen, dict[str, Any]]:
    """Start a child that reports frames on ``reports``; wait for its first frame."""
    with open(log_path, "wb") as err:
        t_spawn = time.monotonic()
        proc = subprocess.Popen(argv, pass_fds=(reports.write_fd,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, env=_child_env(), cwd=ROOT)
    reports.start()
    first = reports.wait(lambda f: True, 30.0)
    if first is None:
        raise _fail(proc, log_path, f"{what} drew no frame in 30 s")
    return proc, {"start_to_first_frame_s": round(first[1] - t_spawn, 3)}


def measure_kiosk(config: str | None, work: Path, *, idle_s: float, taps: int) -> dict[str, Any]:
    """The product (``kiosk.app.run_kiosk``) in a subprocess: first frame, idle, typing, RSS."""
    from kiosk.commands.demo import DemoConsole
    from drivers.nullmodem import NullModem
    from kiosk.config import load_config

    state = work / "kiosk-state"
    fifo = work / "kiosk-touch.fifo"
    os.mkfifo(fifo)
    modem = NullModem()
    overrides = {"touch": f"events:{fifo}", "serial": modem.kiosk_path, "state_dir": str(state),
                 "video": "dummy", "card": "sim", "screen.fullscreen": False}
    cfg = load_config(config, overrides)
    typist = Typist(fifo, cfg)
    reports = FrameReports()
    log_path = work / "kiosk.stderr"
    argv = [sys.executable, str(Path(__file__).resolve()), "--kiosk-child", "--report-fd", str(reports.write_fd),
            "--touch", str(fifo), "--serial", modem.kiosk_path, "--state-dir", str(state)]
    if config:
        argv += ["--config", config]
    console = None
    proc = None
    typist.connect()
    try:
        proc, out = _spawn_until_first_frame(argv, reports, log_path, "the kiosk")
        with contextlib.redirect_stdout(io.StringIO()):  # the console's transcript is not our output
            console = DemoConsole(modem.console_path, cfg)
        console.start()
        time.sleep(min(1.0, idle_s / 2))  # the link comes up, the first heartbeat goes
        out["idle"] = measure_idle(proc.pid, idle_s)
        with contextlib.redirect_stdout(io.StringIO()):
            console.say("begin user_auth verify bench")
        if reports.wait(lambda f: f[2] == "entry", 10.0) is None:
            raise _fail(proc, log_path, "the kiosk never showed the keypad after 'begin'")
        out["latency_ms"] = type_load(typist, reports, taps)
        out["memory_after_typing_mb"] = memory_mb(proc.pid)
        out["peak_rss_mb"] = _stop(proc)
        out["exit_code"] = proc.returncode
        return out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        typist.close()
        if console is not None:
            console.stopped.set()
            console.join(2)
        modem.close()


def measure_naive(config: str | None, work: Path, *, idle_s: float, taps: int) -> dict[str, Any]:
    """``benchmarks/naive_loop.py`` in a subprocess through the same idle window and typing load."""
    from kiosk.config import load_config

    fifo = work / "naive-touch.fifo"
    os.mkfifo(fifo)
    cfg = load_config(config, {"touch": f"events:{fifo}", "video": "dummy"})
    typist = Typist(fifo, cfg)
    reports = FrameReports()
    log_path = work / "naive.stderr"
    typist.connect()
    argv = [sys.executable, str(BENCH_DIR / "naive_loop.py"), "--touch", str(fifo),
            "--report-fd", str(reports.write_fd)]
    if config:
        argv += ["--config", config]
    proc = None
    try:
        proc, out = _spawn_until_first_frame(argv, reports, log_path, "the naive loop")
        time.sleep(min(1.0, idle_s / 2))
        out["idle"] = measure_idle(proc.pid, idle_s)
        out["latency_ms"] = type_load(typist, reports, taps)
        out["memory_after_typing_mb"] = memory_mb(proc.pid)
        out["peak_rss_mb"] = _stop(proc)
        return out
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        typist.close()


def kiosk_child(argv: list[str]) -> int:
    """The kiosk process: ``pin-kiosk run``'s own ``run_kiosk``, with frame reports on a pipe."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiosk-child", action="store_true")
    ap.add_argument("--report-fd", type=int, required=True)
    ap.add_argument("--touch", required=True)
    ap.add_argument("--serial", required=True)
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--config", default=None)
    args = ap.parse_args(argv)
    from kiosk.app import run_kiosk
    from kiosk.config import load_config

    cfg = load_config(args.config, {"touch": f"events:{args.touch}", "serial": args.serial,
                                    "state_dir": args.state_dir, "video": "dummy", "card": "sim",
                                    "screen.fullscreen": False})
    fd = args.report_fd

    def on_frame(view: Any, surface: Any) -> None:
        t_s = time.monotonic()  # first thing: the flip has just happened
        os.write(fd, f"{view.entered} {t_s:.6f} {view.screen}\n".encode())

    return run_kiosk(cfg, on_frame=on_frame)


# --------------------------------------------------------------------------- reused area benchmarks
def touch_pipeline(taps: int, repeat: int) -> dict[str, Any]:
    """``bench_touch``'s path (decode, filters, matrix) on its synthetic protocol-B capture, one thread."""
    import bench_touch
    from calibration.matrix import Affine
    from drivers.touch.events import AxisRange, Axes, encode_events

    axes = Axes(AxisRange(0, 4095), AxisRange(0, 4095), None, True)
    affine = Affine(0.195, 0.001, 3.0, -0.001, 0.117, -2.0)
    data = encode_events(bench_touch.synthetic_events(taps))
    rates = []
    for _ in range(repeat):
        secs, n, _taps = bench_touch.run_once(data, axes, affine)
        rates.append(n / secs)
    return {"events": n, "runs": repeat, "events_per_s_median": round(statistics.median(rates)),
            "events_per_s_best": round(max(rates))}


def card_operations(n: int) -> dict[str, Any]:
    """``bench_card``'s measurement over our own pcscd + vpcd + virtual card; skipped with a note if absent."""
    if os.geteuid() != 0:
        return {"skipped": "needs root to start its own pcscd (private mount namespace)"}
    missing = [t for t in ("pcscd", "unshare") if shutil.which(t) is None]
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)}"}
    try:
        import bench_card  # sets PCSCLITE_CSOCK_NAME (via support_pcsc) before pyscard loads
        from drivers.card.pcsc import PcscBackend
        from kiosk.pin import Pin, PinType
    except Exception as exc:
        return {"skipped": f"PC/SC stack unavailable: {type(exc).__name__}: {exc}"}
    stack = bench_card.PcscStack()
    try:
        stack.start_pcscd()
        stack.insert_card("--pins", "user_auth=4729,signature=QX7K2M")
        backend = PcscBackend()
        pin = Pin.from_text("4729")
        try:
            bench_card.measure(lambda: backend.tries_left(PinType.USER_AUTH), min(20, n))  # warm-up
            rows = {"tries_left_ms": bench_card.measure(lambda: backend.tries_left(PinType.USER_AUTH), n),
                    "verify_ms": bench_card.measure(lambda: backend.verify(PinType.USER_AUTH, pin), n)}
        finally:
            pin.wipe()
            backend.close()
    except Exception as exc:
        return {"skipped": f"pcscd + vpcd stack failed: {type(exc).__name__}: {exc}"}
    finally:
        stack.cleanup()
    return {"n": n, **{name: {"median": round(statistics.median(t), 3), "p95": round(percentile(t, 95), 3)}
                       for name, t in rows.items()}}


def drift_delay(quick: bool) -> dict[str, Any]:
    """Keypad taps from a 2 mm jump to ``warn`` (``calibration.simulate``, seed 1)."""
    from calibration import simulate
    from kiosk.config import load_config

    cfg = load_config()
    sizes = dict(runs=5, clean_sessions=2000, growth_runs=1, wrap_runs=1) if quick else {}
    t0 = time.monotonic()
    doc = simulate.run(1, cfg, **sizes).as_dict()
    two = next(s for s in doc["shifts"] if s["shift_mm"] == 2.0)
    return {"seed": 1, "runs": two["runs"], "warn_2mm_taps_median": two["warn_taps"]["median"],
            "warn_2mm_taps_p90": two["warn_taps"]["p90"], "warn_2mm_sessions_median": two["warn_sessions"]["median"],
            "false_warns_per_1000": doc["false_alarms"]["warns_per_1000"], "simulated_sessions_clean":
            doc["false_alarms"]["sessions"], "targets_met": doc["targets"], "wall_s": round(time.monotonic() - t0, 2)}


# --------------------------------------------------------------------------- the whole run
def machine() -> dict[str, Any]:
    import pygame  # noqa: F401  (versions only)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"arch": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "pygame": pygame.version.ver, "sdl": ".".join(map(str, pygame.get_sdl_version())),
            "video_driver": "dummy", "load_average_1min_at_start": round(load, 2) if load is not None else None}


def _dig(doc: dict, path: tuple[str, ...]) -> Any:
    for p in path:
        doc = doc.get(p) if isinstance(doc, dict) else None
    return doc


def _ratio(a: Any, b: Any) -> float | None:
    return round(a / b, 1) if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None


def run_all(config: str | None = None, *, quick: bool = False,
            progress: Any = None) -> dict[str, Any]:
    """Every figure of the whole-terminal benchmark as one JSON-ready dict (see the module docstring)."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    say = progress or (lambda msg: None)
    idle_s, taps = (0.5, 5) if quick else (30.0, 200)
    quiet = logging.getLogger("pin_kiosk")  # one INFO line per card operation is not a figure
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))
    try:
        return _run_all(config, quick, say, idle_s, taps)
    finally:
        quiet.setLevel(level)


def _run_all(config: str | None, quick: bool, say: Any, idle_s: float, taps: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"quick": quick, "machine": machine(),
                           "settings": {"idle_window_s": idle_s, "typing_taps": taps, "tap_period_s": TAP_PERIOD_S,
                                        "typing_keys": list(TYPING_KEYS)},
                           "latency_definition": "from just before write() of the touch-up records into the "
                                                 "events: FIFO to on_frame after the flip of the frame showing "
                                                 "the changed dot count (CLOCK_MONOTONIC in both processes)"}
    with tempfile.TemporaryDirectory(prefix="pin-kiosk-bench-") as tmp:
        work = Path(tmp)
        say("kiosk: start, idle, typing, RSS")
        doc["kiosk"] = measure_kiosk(config, work, idle_s=idle_s, taps=taps)
        say("naive loop: idle, typing, RSS")
        doc["naive"] = measure_naive(config, work, idle_s=idle_s, taps=taps)
    doc["naive_over_kiosk"] = {
        "idle_cpu": _ratio(_dig(doc, ("naive", "idle", "cpu_percent_of_core")),
                           _dig(doc, ("kiosk", "idle", "cpu_percent_of_core"))),
        "latency_p50": _ratio(_dig(doc, ("naive", "latency_ms", "p50")), _dig(doc, ("kiosk", "latency_ms", "p50"))),
        "latency_p99": _ratio(_dig(doc, ("naive", "latency_ms", "p99")), _dig(doc, ("kiosk", "latency_ms", "p99"))),
        "peak_rss": _ratio(_dig(doc, ("naive", "peak_rss_mb")), _dig(doc, ("kiosk", "peak_rss_mb"))),
    }
    say("touch pipeline events/s")
    doc["touch_pipeline"] = touch_pipeline(500 if quick else 10000, 1 if quick else 5)
    say("card operations over pcscd + vpcd")
    doc["card"] = card_operations(5 if quick else 300)
    say("drift detection delay (simulation)")
    doc["drift"] = drift_delay(quick)
    targets = {}
    for name, (path, limit, unit) in TARGETS.items():
        value = _dig(doc, path)
        targets[name] = {"value": value, "limit": limit, "unit": unit,
                         "met": isinstance(value, (int, float)) and value < limit}
    doc["targets"] = targets
    return doc


def summary(doc: dict[str, Any]) -> str:
    """The figures in a few lines for a person."""
    k, n = doc["kiosk"], doc["naive"]
    lines = [f"machine: {doc['machine']['arch']}, {doc['machine']['cores']} cores, Python {doc['machine']['python']}, "
             f"pygame {doc['machine']['pygame']} / SDL {doc['machine']['sdl']} (dummy video driver)"
             + (" [quick: figures not meaningful]" if doc["quick"] else "")]
    for name, part in (("kiosk", k), ("naive", n)):
        lat = part["latency_ms"]
        lines.append(f"{name:>6}: first frame {part['start_to_first_frame_s']:.3f} s, idle "
                     f"{part['idle']['cpu_percent_of_core']:.3f} % of a core ({part['idle']['wakeups_per_s']} "
                     f"wake-ups/s), touch-to-frame p50 {lat['p50']} ms p99 {lat['p99']} ms max {lat['max']} ms "
                     f"({lat['measured']}/{lat['taps']} taps, {lat['missed']} missed), peak RSS {part['peak_rss_mb']} MB")
    r = doc["naive_over_kiosk"]
    lines.append(f" naive/kiosk: idle CPU x{r['idle_cpu']}, latency p50 x{r['latency_p50']}, p99 x{r['latency_p99']}")
    t = doc["touch_pipeline"]
    lines.append(f"touch pipeline: {t['events_per_s_median']:,} events/s (median of {t['runs']})")
    c = doc["card"]
    lines.append("card: " + (f"skipped: {c['skipped']}" if "skipped" in c else
                             f"tries_left median {c['tries_left_ms']['median']} ms p95 {c['tries_left_ms']['p95']} ms; "
                             f"verify median {c['verify_ms']['median']} ms p95 {c['verify_ms']['p95']} ms (n={c['n']})"))
    d = doc["drift"]
    lines.append(f"drift: 2 mm jump -> warn after {d['warn_2mm_taps_median']} taps median "
                 f"({d['warn_2mm_sessions_median']} sessions), {d['false_warns_per_1000']} false warns/1000")
    for name, t in doc["targets"].items():
        lines.append(f"target {name} < {t['limit']} {t['unit']}: {t['value']} -> {'met' if t['met'] else 'NOT MET'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--kiosk-child" in argv:
        return kiosk_child(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    ap.add_argument("--quick", action="store_true", help="a few seconds of each (for tests; figures not meaningful)")
    ap.add_argument("--config", default=None, help="TOML configuration (default: the built-in defaults)")
    args = ap.parse_args(argv)
    doc = run_all(args.config, quick=args.quick, progress=lambda m: print(f"... {m}", file=sys.stderr, flush=True))
    print(json.dumps(doc, indent=2) if args.json else summary(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
