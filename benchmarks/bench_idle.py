"""Idle cost of the kiosk screen: the event loop showing the idle screen for a while.

The real product blocks on the touch fd, the serial fd and a timer; here a
pipe stands in for each fd (nobody writes to them, as on a quiet counter) and
a timer far away stands in for the session's next deadline.  CPU time is
``time.process_time`` over the wall-clock window: target < 1 % of one core.
Also prints the cost of one keypress redraw (dirty rects) and of a full screen.

    .venv/bin/python benchmarks/bench_idle.py [SECONDS]
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kiosk.config import load_config  # noqa: E402
from kiosk.keypad import build_layout, build_screen_layout  # noqa: E402
from kiosk.loop import EventLoop  # noqa: E402
from kiosk.pin import PinType  # noqa: E402
from kiosk.ui.display import Display  # noqa: E402
from kiosk.view import View  # noqa: E402


def main() -> int:
    window_s = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    cfg = load_config(None, {"video": "dummy"})
    display = Display(cfg.screen, "evdev:/dev/null")
    idle = View("idle")
    display.show(idle, build_screen_layout("idle", None, cfg.screen, cfg.keypad))

    loop = EventLoop()
    fds = [os.pipe() for _ in range(2)]  # stand-ins for the touch and serial fds
    for r, _ in fds:
        loop.add_reader(r, lambda now: None)
    loop.call_later(3600.0, lambda now: None)  # the next session deadline, far away
    loop.call_later(window_s, lambda now: loop.stop())
    cpu0, wall0 = time.process_time(), time.monotonic()
    loop.run()
    cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - wall0
    print(f"idle loop: {cpu_s * 1000:.2f} ms CPU over {wall_s:.1f} s wall = "
          f"{100 * cpu_s / wall_s:.4f} % of one core, {loop.wakeups} wake-up(s)")

    layout = build_layout(PinType.USER_AUTH, cfg.screen, cfg.keypad)
    base = View("entry", pin_type=PinType.USER_AUTH, tries_left=3)
    display.show(base, layout)
    n = 200
    t0 = time.perf_counter()
    for i in range(n):
        display.show(View("entry", pin_type=PinType.USER_AUTH, tries_left=3, entered=i % 4,
                          pressed_key=str(i % 10) if i % 2 else None), layout)
    key_ms = (time.perf_counter() - t0) * 1000 / n
    t0 = time.perf_counter()
    for i in range(20):
        display.renderer.forget()
        display.show(base, layout)
    full_ms = (time.perf_counter() - t0) * 1000 / 20
    print(f"keypress redraw (dirty rects): {key_ms:.2f} ms; full entry screen again: {full_ms:.2f} ms "
          f"({cfg.screen.width_px}x{cfg.screen.height_px}, dummy driver)")

    # cold: the first time each screen is drawn (nothing measured or cached yet)
    from kiosk.commands.screens import sample_views
    from kiosk.ui.fonts import Fonts
    from kiosk.ui.render import Renderer
    cold = Renderer(Fonts(cfg.screen.font_path))
    times_ms = []
    for _, view in sample_views(cfg.screen.width_px, cfg.screen.height_px):
        layout = build_screen_layout(view.screen, view.pin_type, cfg.screen, cfg.keypad, view.lang)
        t0 = time.perf_counter()
        cold.forget()
        cold.render(display.surface, view, layout)
        times_ms.append((time.perf_counter() - t0) * 1000)
    print(f"first draw of a screen (cold): mean {sum(times_ms) / len(times_ms):.1f} ms, "
          f"max {max(times_ms):.1f} ms over {len(times_ms)} screens")
    display.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
