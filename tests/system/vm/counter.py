"""The counter under test: a booted machine with its card, staff console and touch panel attached.

``Counter`` is what a system test talks to.  It boots ``machine.Machine``,
connects the VSCard card (``vscard``), opens the FTDI adapter's host pty as
the staff PC (``support_pty.TestConsole``, the protocol's console role, pumped
by a thread), creates the panel in the guest (``panel``) and offers what a
clerk and a citizen do: ``say`` a console command, ``press`` a key where
``pin-kiosk layout`` in the guest says it is, insert or pull the card, look
at the screen.  Everything seen on the console is kept (``console.raw``) for
the secrecy scan.
"""
from __future__ import annotations

import json
import os
import termios
import threading
import time
import tty
from pathlib import Path

from drivers.card.virtual import VirtualCard
from kiosk.config import config_from_dict
from kiosk.keypad import build_screen_layout
from kiosk.pin import PinType

from support_pty import TestConsole

from . import panel
from .image import Image
from .machine import Machine, wait_for
from .vscard import VSCardClient

GUEST_CONFIG = "/etc/pin-kiosk/kiosk.toml"
UA = PinType.USER_AUTH


class ConsolePump:
    """The staff PC: the test console on the adapter's host pty, pumped in a thread."""

    def __init__(self, pty_path: str) -> None:
        self.fd = os.open(pty_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.console = TestConsole(self.fd, retransmit_s=0.5)
        self._lock = threading.Lock()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="staff-pc", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            with self._lock:
                self.console.pump(0.02)

    def command(self, type_: str, **fields) -> dict:
        with self._lock:
            return self.console.command(type_, **fields)

    def frames(self, type_: str | None = None) -> list[dict]:
        with self._lock:
            return [f for f in self.console.received if type_ is None or f["type"] == type_]

    def wait_frame(self, type_: str, timeout_s: float = 60.0, count: int = 1, **match) -> dict:
        def found():
            hits = [f for f in self.frames(type_) if all(f.get(k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None
        try:
            return wait_for(f"console frame {type_} {match} #{count}", found, timeout_s, 0.05)
        except TimeoutError as exc:
            seen = [{k: v for k, v in f.items() if k not in ("v", "ts", "boot", "terminal")}
                    for f in self.frames() if f["type"] != "status"]
            raise AssertionError(f"{exc}; console saw {seen}") from None

    def close(self) -> None:
        self._stop = True
        self._thread.join(5)
        os.close(self.fd)


class Counter:
    """A booted virtual counter with a card in hand, the staff PC and the touch panel."""

    def __init__(self, image: Image, workdir: Path, pins: dict[PinType, str], **machine_args) -> None:
        self.dir = Path(workdir)
        self.machine = Machine(image, self.dir, **machine_args)
        self.card = VirtualCard.with_pins(pins)
        self.vscard: VSCardClient | None = None
        self.staff: ConsolePump | None = None
        self.spec = panel.device_spec()
        self.tracking_id = 0
        self.cfg = None
        self._layouts: dict[PinType, dict] = {}

    # -- life ------------------------------------------------------------------
    def boot(self) -> None:
        """Power on; the panel is plugged in from the start (the guest agent makes it before the kiosk)."""
        self.machine.start()
        # the reader is attached (VSCard ReaderAdd) from power-on, as a USB reader plugged in
        self.vscard = VSCardClient(self.card, str(self.dir / "vscard.sock"))
        self.vscard.connect()
        self.machine.wait_agent()
        self.staff = ConsolePump(self.machine.console_pty())
        toml = self.agent.read(GUEST_CONFIG).decode()
        import tomllib
        self.cfg = config_from_dict(tomllib.loads(toml))

    @property
    def agent(self):
        assert self.machine.agent is not None
        return self.machine.agent

    def stop(self, clean: bool = True) -> None:
        if clean:
            self.machine.shutdown()
        else:
            self.machine.kill()
        self._detach()

    def power_cut(self) -> None:
        """SIGKILL to QEMU: the counter loses power mid-whatever."""
        self.machine.kill()
        self._detach()

    def _detach(self) -> None:
        if self.staff is not None:
            self.staff.close()
        if self.vscard is not None:
            self.vscard.close()

    # -- the panel -------------------------------------------------------------
    def panel_create(self) -> None:
        self.agent.call("panel_create", spec=self.spec)

    def panel_destroy(self) -> None:
        self.agent.call("panel_destroy")

    def touch_px(self, x_px: float, y_px: float) -> list[float]:
        """A finger at a screen point; returns the guest's CLOCK_MONOTONIC time of each report."""
        self.tracking_id += 1
        x, y = panel.raw_of_px(x_px, y_px, self.spec, self.cfg.screen)
        times = self.agent.call("panel_events", events=panel.tap(x, y, tracking_id=self.tracking_id))["syn_times"]
        return times

    def layout(self, pin_type: PinType = UA) -> dict:
        """The entry keypad as ``pin-kiosk layout --json`` prints it in the guest."""
        if pin_type not in self._layouts:
            out = self.agent.sh(f"pin-kiosk layout --json --config {GUEST_CONFIG} --pin-type {pin_type.value}")
            self._layouts[pin_type] = json.loads(out)
        return self._layouts[pin_type]

    def press(self, key_id: str, pin_type: PinType = UA, screen: str = "entry", lang: str = "ja") -> None:
        if screen == "entry":
            key = next(k for k in self.layout(pin_type)["keys"] if k["id"] == key_id)
            centre = (key["x"] + key["w"] / 2, key["y"] + key["h"] / 2)
        else:  # buttons of other screens: the same layout code on the host, with the guest's config
            centre = build_screen_layout(screen, pin_type, self.cfg.screen, self.cfg.keypad, lang).key_centre_px(key_id)
        self.touch_px(*centre)
        time.sleep(0.3)  # a person's pace: past the same-key bounce interval (repeat_debounce_s)

    def type(self, text: str, pin_type: PinType = UA) -> None:
        for ch in text:
            self.press(ch, pin_type)

    # -- the clerk -------------------------------------------------------------
    def say(self, type_: str, **fields) -> dict:
        assert self.staff is not None
        return self.staff.command(type_, **fields)

    def wait_frame(self, type_: str, timeout_s: float = 60.0, count: int = 1, **match) -> dict:
        assert self.staff is not None
        return self.staff.wait_frame(type_, timeout_s, count, **match)

    # -- the guest -------------------------------------------------------------
    def journal(self, unit: str = "pin-kiosk") -> str:
        return self.agent.sh(f"journalctl -b -o cat --no-pager -u {unit}")

    def is_active(self, unit: str = "pin-kiosk") -> str:
        return self.agent.run("systemctl", "is-active", unit)[1].strip()
