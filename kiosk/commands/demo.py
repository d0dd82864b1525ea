"""``pin-kiosk demo``: complete citizen sessions, headless, through the real pipeline.

What runs is the product (``kiosk.app``) with its real parts: the kiosk
reads a scripted finger's raw kernel events from a FIFO (``events:``), checks
PINs with the simulated My Number card, and talks to the reference staff
console over two ptys joined by a null modem.  The console's lines are the
transcript a counter clerk reads; a PNG of every screen the citizen passed
through goes to ``--out``.  At the end every byte that crossed the serial
line and every file in the state directory is scanned for the card's PINs.
"""
from __future__ import annotations

import argparse
import os
import queue
import select
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from kiosk.cli import config_from_args

#: The sessions, in order: (title, what the clerk and the citizen do).
SCENES = ("right PIN", "wrong PIN, then right", "last-try warning, then locked", "locked PIN: nothing sent",
          "card pulled mid-entry", "timeout", "change the signature PIN",
          "the panel drifted 2.5 mm: the technician checks, calibrates, checks again")
#: How far the demo's touch panel drifts before the technician's scene.
DRIFT_MM = 2.5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="demo-output", metavar="DIR",
                        help="where the screenshots (and, unless --state-dir, the state) go")
    parser.add_argument("--timeout-s", type=float, default=8.0,
                        help="inactivity timeout for the demo's timeout scene (default 8 s)")
    parser.add_argument("--lang", choices=("ja", "en"), default=None, help="screen language")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--window", action="store_true",
                      help="open a window: mouse clicks are touches, this terminal is the staff console "
                           "(the default when a display is available)")
    mode.add_argument("--headless", action="store_true", help="play the scripted scenes (default without a display)")


class ScreenWatch:
    """Frames the kiosk drew (main thread) for the director (its thread).

    One PNG per screen the citizen passed through, taken as the screen is left,
    so an entry screen is saved with its dots typed.
    """

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.view: Any = None
        self.cond = threading.Condition()
        self.saved: list[Path] = []
        self._key: tuple | None = None
        self._last: Any = None  # (view, surface copy) of the screen being shown

    def on_frame(self, view: Any, surface: Any) -> None:
        key = (view.screen, view.step, view.problem, view.lang)
        if key != self._key:
            self.flush()
            self._key = key
        self._last = (view, surface.copy())
        with self.cond:
            self.view = view
            self.cond.notify_all()

    def flush(self) -> None:
        """Save the screen being shown (called when it changes, and at the end)."""
        import pygame

        if self._last is None:
            return
        view, surface = self._last
        self._last = None
        name = f"{len(self.saved) + 1:02d}-{view.screen}" + (f"-{view.step}" if view.step else "") + ".png"
        pygame.image.save(surface, str(self.out_dir / name))
        self.saved.append(self.out_dir / name)

    def wait(self, predicate: Callable[[Any], bool], timeout_s: float = 20.0) -> Any:
        with self.cond:
            if not self.cond.wait_for(lambda: self.view is not None and predicate(self.view), timeout_s):
                raise TimeoutError(f"screen never matched; last: {self.view.screen if self.view else None}")
            return self.view


class DemoConsole(threading.Thread):
    """The reference staff console on its own thread; the director queues commands for it."""

    def __init__(self, port: str, cfg: Any, echo: bool = True) -> None:
        super().__init__(name="demo-console", daemon=True)
        self.echo = echo
        from kiosk.console.client import ConsoleClient
        from kiosk.console.plain import PlainConsole
        from kiosk.console.station import Station
        from kiosk.console.wording import zone_named
        from kiosk.console_link import new_boot

        c = cfg.console
        client = ConsoleClient(new_boot(), zone_named(c.time_zone), retransmit_s=c.retransmit_s,
                               heartbeat_s=c.heartbeat_s)
        self.station = Station(client, port, c.baudrate, c.reopen_max_s)
        self.console = PlainConsole(self.station, sys.stdout, sys.stderr)
        self.commands: queue.SimpleQueue = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        self.stopped = threading.Event()

    def say(self, line: str) -> None:
        if self.echo:
            print(f"\n>>> clerk: {line}", flush=True)
        self.commands.put(line)
        os.write(self._wake_w, b"x")

    def run(self) -> None:
        end = self.station.end
        while not self.stopped.is_set():
            now = time.monotonic()
            self.console.step()
            while not self.commands.empty():
                self.console.command(self.commands.get())
            deadline = end.next_deadline_s(now)
            timeout = 0.2 if deadline is None else min(0.2, max(0.0, deadline - now))
            fds = [fd for fd in (end.fileno(), self._wake_r) if fd is not None]
            ready, _, _ = select.select(fds, [], [], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
        end.close()


class Director(threading.Thread):
    """Plays the scenes: the clerk types console commands, the finger taps keys."""

    def __init__(self, kiosk: Any, watch: ScreenWatch, console: DemoConsole, finger: Any) -> None:
        super().__init__(name="demo-director", daemon=True)
        self.kiosk, self.watch, self.console, self.finger = kiosk, watch, console, finger
        self.drifted: Any = None  # the matrix the panel drifted away from
        self.error: BaseException | None = None

    # -- the citizen's finger ----------------------------------------------------
    def touch_px(self, x_px: float, y_px: float) -> None:
        """The finger on the glass at a screen point, through the panel as it really maps now."""
        self.finger.tap(*self.panel().inverse().apply(x_px, y_px))

    def panel(self) -> Any:
        """The panel's true raw-to-screen map: the kiosk's matrix, shifted once the panel drifted."""
        from calibration.matrix import Affine

        if not self.drifted:
            return self.kiosk.affine
        cfg = self.kiosk.cfg.screen
        a, b, c, d, e, f = self.drifted.as_tuple()
        return Affine(a, b, c - DRIFT_MM * cfg.width_px / cfg.width_mm, d, e, f - DRIFT_MM * cfg.height_px / cfg.height_mm)

    def press(self, key_id: str) -> None:
        from kiosk.keypad import build_layout, build_screen_layout

        view = self.watch.view
        cfg = self.kiosk.cfg
        if view.screen == "entry":
            layout = build_layout(view.pin_type, cfg.screen, cfg.keypad, view.lang)
        else:
            layout = build_screen_layout(view.screen, view.pin_type, cfg.screen, cfg.keypad, view.lang)
        self.touch_px(*layout.key_centre_px(key_id))
        time.sleep(0.35)  # a person's pace, and past the same-key bounce interval

    def type(self, text: str) -> None:
        for ch in text:
            self.press(ch)

    def screen(self, *names: str, timeout_s: float = 20.0) -> Any:
        return self.watch.wait(lambda v: v.screen in names, timeout_s)

    def citizen(self, text: str) -> None:
        print(f"    (citizen: {text})", flush=True)

    # -- the scenes ------------------------------------------------------------
    def run(self) -> None:
        try:
            self.play()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)  # the kiosk stops as under systemd

    def scene(self, n: int) -> None:
        print(f"\n===== scene {n}: {SCENES[n - 1]} =====", flush=True)

    def logout(self) -> None:
        self.console.say("logout")
        self.screen("session_ended")
        self.screen("idle")

    def play(self) -> None:
        c = self.console
        self.finger.connect()  # the panel is there from the start
        self.screen("idle")
        time.sleep(0.5)

        self.scene(1)
        c.say("begin user_auth verify op=clerk01")
        self.screen("entry")
        self.citizen("types the 4-digit PIN and presses 確定")
        self.type("1234")
        self.press("enter")
        self.screen("result_ok")
        self.logout()

        self.scene(2)
        c.say("begin resident_registry")
        self.screen("entry")
        self.citizen("types a wrong PIN")
        self.type("0000")
        self.press("enter")
        self.screen("wrong_pin")
        self.citizen("taps もう一度 (try again) and types the right one")
        self.press("retry")
        self.screen("entry")
        self.type("1234")
        self.press("enter")
        self.screen("result_ok")
        self.logout()

        self.scene(3)
        c.say("begin card_info_input")
        for wrong in ("1111", "2222"):
            self.screen("entry")
            self.citizen(f"types a wrong PIN")
            self.type(wrong)
            self.press("enter")
            self.screen("wrong_pin")
            self.press("retry")
        self.screen("last_try_warning")
        self.citizen("reads the last-try warning and chooses to go on")
        self.press("continue")
        self.screen("entry")
        self.type("3333")
        self.press("enter")
        self.screen("locked")
        self.logout()

        self.scene(4)
        c.say("begin card_info_input")
        self.screen("locked")
        self.logout()

        self.scene(5)
        c.say("begin user_auth")
        self.screen("entry")
        self.citizen("types two digits, then takes the card out of the reader")
        self.type("12")
        self.kiosk.card.backend.remove()
        self.screen("card_removed")
        self.screen("idle")
        self.kiosk.card.backend.insert()
        time.sleep(0.5)

        self.scene(6)
        c.say("begin user_auth")
        self.screen("entry")
        self.citizen("types one digit and walks away")
        self.type("9")
        self.screen("timed_out", timeout_s=self.kiosk.cfg.session.inactivity_timeout_s + 10)
        self.screen("idle")

        self.scene(7)
        c.say("begin signature change op=clerk01")
        self.screen("entry")
        self.citizen("types the current signature PIN, then a new one twice (a typo first)")
        self.type("ABC123")
        self.press("enter")
        self.watch.wait(lambda v: v.step == "new")
        self.type("XYZ789")
        self.press("enter")
        self.watch.wait(lambda v: v.step == "confirm")
        self.type("XYZ788")
        self.press("enter")
        self.watch.wait(lambda v: v.problem == "mismatch")
        self.type("XYZ789")
        self.press("enter")
        self.watch.wait(lambda v: v.step == "confirm")
        self.type("XYZ789")
        self.press("enter")
        self.screen("result_ok")
        self.logout()

        self.scene(8)
        from calibration.procedure import CALIBRATION_FRACTIONS, DRIFT_CHECK_FRACTIONS, VALIDATION_FRACTIONS, targets_px

        self.drifted = self.kiosk.affine
        screen = self.kiosk.cfg.screen
        print(f"    (the touch panel has drifted {DRIFT_MM} mm right and {DRIFT_MM} mm down: "
              f"{DRIFT_MM * 2 ** 0.5:.1f} mm)", flush=True)
        for step in ("drift-check op=tech01", "calibrate op=tech01", "drift-check op=tech01"):
            c.say(step)
            kind = "drift_check" if step.startswith("drift") else "calibration"
            self.screen(kind)
            fractions = DRIFT_CHECK_FRACTIONS if kind == "drift_check" else CALIBRATION_FRACTIONS + VALIDATION_FRACTIONS
            print(f"    (technician: taps the {len(fractions)} targets)", flush=True)
            for x, y in targets_px(screen, fractions):
                self.touch_px(x, y)
                time.sleep(0.4)
            if kind == "calibration":
                self.screen("calibration_result")
                time.sleep(0.5)
                print("    (technician: reads the residual map and accepts)", flush=True)
                self.press("accept")
                self.drifted = None  # the new matrix is the panel's true map
            self.screen("idle")
        time.sleep(1.0)  # the last acks


def pin_scan(needles: list[bytes], blobs: dict[str, bytes]) -> list[str]:
    """Names of the blobs any needle occurs in."""
    return [name for name, data in blobs.items() for n in needles if n in data]


def window_wanted(args: argparse.Namespace, environ: dict[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    if args.window or args.headless:
        return args.window
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def run_window(args: argparse.Namespace) -> int:
    """The demo as a person tries it: a window to click, this terminal as the staff console."""
    from drivers.nullmodem import NullModem
    from kiosk.app import StartError, open_kiosk
    from kiosk.cli import EXIT_FAILURE
    from kiosk.console.commands import help_lines
    from kiosk.config import load_config
    from kiosk.loop import EventLoop

    base = config_from_args(args)
    state_dir = Path(getattr(args, "state_dir", None) or Path(args.out) / "state")
    modem = NullModem()
    video = "wayland" if os.environ.get("WAYLAND_DISPLAY") and not os.environ.get("DISPLAY") else "x11"
    overrides = {"touch": "mouse", "serial": modem.kiosk_path, "state_dir": str(state_dir), "video": video,
                 "card": "sim", "console.retransmit_s": 0.5, "screen.fullscreen": False}
    if args.lang:
        overrides["screen.language"] = args.lang
    cfg = load_config(base.source if base.source != "<defaults>" else None, overrides)
    print("pin-kiosk demo (window): click the keys with the mouse; type staff commands here.", flush=True)
    print("The simulated card's PINs: " + ", ".join(cfg.card.sim_pins.split(",")), flush=True)
    help_text = "\n".join(f"  {usage:<36} {text}" for usage, text in help_lines())
    print(help_text, flush=True)
    loop = EventLoop()
    try:
        kiosk = open_kiosk(cfg, loop=loop)
    except StartError as exc:
        print(f"pin-kiosk demo: {exc}", file=sys.stderr)
        modem.close()
        return EXIT_FAILURE
    console = DemoConsole(modem.console_path, cfg, echo=False)

    def read_stdin() -> None:
        for line in sys.stdin:
            line = line.strip()
            if line in ("quit", "exit"):
                break
            if line == "help":
                print(help_text, flush=True)
            elif line:
                console.say(line)
        os.kill(os.getpid(), signal.SIGTERM)

    kiosk.start()
    console.start()
    threading.Thread(target=read_stdin, name="demo-stdin", daemon=True).start()
    try:
        loop.run()
    finally:
        kiosk.close()
        loop.close()
        console.stopped.set()
        console.join(2)
        modem.close()
    return 0


def run(args: argparse.Namespace) -> int:
    if window_wanted(args):
        return run_window(args)
    from drivers.nullmodem import NullModem
    from drivers.touch.finger import Finger
    from kiosk.app import StartError, open_kiosk
    from kiosk.cli import EXIT_FAILURE
    from kiosk.config import load_config
    from kiosk.loop import EventLoop

    base = config_from_args(args)
    out_dir = Path(args.out)
    if out_dir.exists():
        for old in out_dir.glob("*.png"):
            old.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    state_dir = Path(getattr(args, "state_dir", None) or out_dir / "state")
    if not getattr(args, "state_dir", None) and state_dir.exists():
        shutil.rmtree(state_dir)  # every demo starts from a new terminal
    fifo = out_dir / "touch.fifo"
    if fifo.exists():
        fifo.unlink()
    os.mkfifo(fifo)
    modem = NullModem()
    overrides = {"touch": f"events:{fifo}", "serial": modem.kiosk_path, "state_dir": str(state_dir),
                 "video": "dummy", "card": "sim", "session.inactivity_timeout_s": args.timeout_s,
                 "console.retransmit_s": 0.5, "screen.fullscreen": False}
    if args.lang:
        overrides["screen.language"] = args.lang
    cfg = load_config(base.source if base.source != "<defaults>" else None, overrides)

    print("pin-kiosk demo: the simulated My Number card's PINs are", flush=True)
    for assignment in cfg.card.sim_pins.split(","):
        print(f"    {assignment}", flush=True)
    print(f"screens -> {out_dir}/*.png   state -> {state_dir}", flush=True)

    watch = ScreenWatch(out_dir)
    loop = EventLoop()
    try:
        kiosk = open_kiosk(cfg, loop=loop, on_frame=watch.on_frame)
    except StartError as exc:
        print(f"pin-kiosk demo: {exc}", file=sys.stderr)
        modem.close()
        return EXIT_FAILURE
    console = DemoConsole(modem.console_path, cfg)
    finger = Finger(str(fifo))
    director = Director(kiosk, watch, console, finger)
    kiosk.start()
    console.start()
    director.start()
    try:
        loop.run()
    finally:
        watch.flush()
        kiosk.close()
        loop.close()
        console.stopped.set()
        console.join(2)
        finger.lift_off()
        modem.close()
        fifo.unlink()
    if director.error is not None:
        print(f"pin-kiosk demo: stopped early: {type(director.error).__name__}: {director.error}", file=sys.stderr)
        return EXIT_FAILURE

    # The signature PINs: letters and digits that cannot occur by chance in hashes, ids and
    # times (a 4-digit PIN can: the tests scan for those field by field).
    pins = [p.split("=", 1)[1].encode() for p in cfg.card.sim_pins.split(",")
            if p.startswith("signature=")] + [b"XYZ789"]
    blobs = {"serial line": b"".join(d for _, d in modem.transcript)}
    for path in state_dir.rglob("*"):
        if path.is_file():
            blobs[str(path)] = path.read_bytes()
    leaks = pin_scan(sorted(set(pins)), blobs)
    print(f"\n===== done: {len(watch.saved)} screenshots in {out_dir}/ =====")
    print(f"PIN scan: {len(blobs)} places ({sum(map(len, blobs.values()))} bytes: serial line, audit trail, "
          f"journal, drift, metrics) searched for the signature PINs: "
          + ("none found" if not leaks else f"FOUND IN {leaks}"))
    return 0 if not leaks else EXIT_FAILURE
