"""The whole kiosk as a subprocess for end-to-end tests: ``pin-kiosk run`` headless.

``KioskUnderTest`` starts ``pin-kiosk run --video dummy`` with a FIFO touch
source, a pty console link behind a symlink (the udev name) and the real
PC/SC stack (``support_pcsc``), after installing a deliberately skewed
calibration; the test is the staff console (``support_pty.TestConsole``) and
the finger (``drivers.touch.finger.Finger``).  ``everything_written`` gathers
every byte the kiosk wrote, for the PIN scans.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import support_pcsc  # noqa: F401  (points PCSCLITE_CSOCK_NAME at the tests' pcscd before anything uses PC/SC)
from support_pty import TestConsole, open_pty, pin_leaks, repoint, wait_for
from support_scan import pin_in_logs

from calibration import store
from calibration.matrix import Affine
from drivers.touch.events import AxisRange, Axes
from drivers.touch.finger import Finger
from kiosk.config import load_config
from kiosk.keypad import build_layout, build_screen_layout
from kiosk.pin import PinType

ROOT = Path(__file__).resolve().parents[2]
UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT
# 4-digit PINs are scanned field by field (pin_leaks); the signature PINs anywhere, byte for byte.
PINS = {UA: "4821", SIG: "K7QX2P9M", RR: "4821", CI: "4821"}
PIN_ARG = ",".join(f"{t}={p}" for t, p in PINS.items())
NEW_SIG = "N3WPIN7Q"
WRONG_SIG = "WR0NGPIN"
SECRETS = ["K7QX2P9M", NEW_SIG, WRONG_SIG]

CONFIG = """
[terminal]
id = "e2e-1"
[screen]
video = "dummy"
fullscreen = false
[touch]
x_min = 0
x_max = 4095
y_min = 0
y_max = 4095
[session]
inactivity_timeout_s = 5.0
ended_screen_s = 1.0
[console]
retransmit_s = 0.3
heartbeat_s = 2.0
reopen_max_s = 0.5
key_file = "{key_file}"
"""
#: The panel's raw range is 0..4095 on both axes; the installed matrix adds skew and an offset,
#: so a finger that ignored calibration would land on the wrong keys.
SKEWED = Affine(800 / 4096 * 0.97, 0.01, 6.0, -0.008, 480 / 4096 * 1.02, -4.0)


class KioskUnderTest:
    """``pin-kiosk run`` in a subprocess, its console (the test) and its finger."""

    def __init__(self, tmp: Path, card: str = "pcsc:Virtual PCD", extra_config: str = "",
                 env: dict[str, str] | None = None, cwd: Path | None = None,
                 preexec_fn=None, key: bytes | None = None, state_dir: Path | None = None,
                 prepare: Callable[[Path], None] | None = None) -> None:
        """``key``: provision the terminal's console key (protocol 2) for the kiosk and the test console;
        ``prepare(state_dir)`` runs after the calibration is installed, before the kiosk starts."""
        self.tmp = tmp
        self.state_dir = state_dir or tmp / "state"
        self.config = tmp / "kiosk.toml"
        self.key = key
        self.key_file = tmp / "console.key"  # absent unless ``key``: a version-1 link
        if key is not None:
            self.key_file.write_text(key.hex() + "\n")
            self.key_file.chmod(0o600)
        self.config.write_text(CONFIG.format(key_file=self.key_file) + extra_config)
        self.cfg = load_config(self.config)
        axes = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
        store.install(self.state_dir, SKEWED, {"technician": "e2e"}, axes=axes, screen=self.cfg.screen)
        if prepare is not None:
            prepare(self.state_dir)
        self.fifo = tmp / "touch.fifo"
        os.mkfifo(self.fifo)
        self.port_link = tmp / "kiosk-console"  # the udev symlink
        self.master, slave = open_pty()
        repoint(self.port_link, slave)
        self.console = TestConsole(self.master, retransmit_s=0.3, key=key)
        self.stdout = open(tmp / "stdout", "wb")
        self.stderr = open(tmp / "stderr", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "run", "--config", str(self.config), "--touch", f"events:{self.fifo}",
             "--card", card, "--serial", str(self.port_link), "--state-dir", str(self.state_dir)],
            cwd=cwd or ROOT, stdout=self.stdout, stderr=self.stderr, stdin=subprocess.DEVNULL,
            preexec_fn=preexec_fn,
            env={**os.environ, "SDL_VIDEODRIVER": "dummy", **(env or {})})
        self.finger = Finger(str(self.fifo))  # blocks until the kiosk opened the FIFO
        self.transcript = bytearray()
        self.wait_frame("hello", 20)
        self.lang = "ja"
        #: How the panel really maps raw units to the screen (a test makes it drift).
        self.panel = SKEWED

    # -- the console ---------------------------------------------------------------
    def frames(self, type_: str) -> list[dict]:
        return [f for f in self.console.received if f["type"] == type_]

    def wait_frame(self, type_: str, timeout_s: float = 10.0, count: int = 1, **match) -> dict:
        def found():
            hits = [f for f in self.frames(type_) if all(f.get(k) == v for k, v in match.items())]
            return hits[count - 1] if len(hits) >= count else None
        ok = wait_for(lambda: found() is not None, timeout_s, step=self.console.pump)
        assert ok, f"no {type_} {match} (#{count}); got {self.console.types()}; stderr: {self.err()[-800:]}"
        return found()

    def say(self, type_: str, **fields) -> None:
        self.console.command(type_, **fields)
        self.console.pump(0.05)

    def err(self) -> str:
        return (self.tmp / "stderr").read_text(errors="replace")

    # -- the finger ----------------------------------------------------------------
    def press(self, key_id: str, screen: str = "entry", pin_type: PinType = UA, pump: bool = True) -> None:
        if screen == "entry":
            layout = build_layout(pin_type, self.cfg.screen, self.cfg.keypad, self.lang)
        else:
            layout = build_screen_layout(screen, pin_type, self.cfg.screen, self.cfg.keypad, self.lang)
        self.touch_px(*layout.key_centre_px(key_id), pump=pump)

    def touch_px(self, x_px: float, y_px: float, pump: bool = True) -> None:
        """A finger on the glass at this screen point (through the panel's true mapping)."""
        self.finger.tap(*self.panel.inverse().apply(x_px, y_px))
        if pump:
            self.console.pump(0.3)  # a person's pace, past the same-key bounce interval
        else:
            time.sleep(0.3)

    def type(self, text: str, pin_type: PinType = UA) -> None:
        for ch in text:
            self.press(ch, pin_type=pin_type)

    # -- the end -------------------------------------------------------------------
    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.finger.lift_off()
            self.console.pump(0.1)
            os.close(self.console.fd)
            self.stdout.close()
            self.stderr.close()
        return rc

    def finish(self) -> None:
        """Stop with SIGTERM; the kiosk must exit 0 without a traceback."""
        rc = self.stop()
        assert rc == 0, self.err()[-2000:]
        assert "Traceback" not in self.err()

    def everything_written(self) -> dict[str, bytes]:
        blobs = {"stdout": (self.tmp / "stdout").read_bytes(), "stderr": (self.tmp / "stderr").read_bytes(),
                 "serial": bytes(self.console.raw)}
        for path in self.state_dir.rglob("*"):
            if path.is_file():
                blobs[str(path.relative_to(self.tmp))] = path.read_bytes()
        return blobs

    def assert_no_pin_anywhere(self) -> None:
        blobs = self.everything_written()
        assert blobs["stderr"] and blobs["serial"] and any("audit" in k for k in blobs)  # real output scanned
        for name, data in blobs.items():
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret} in {name}"
        assert pin_leaks(blobs["serial"], self.key) == []
        # the 4-digit PIN as a token anywhere (not as chance digits inside hashes, ids and times)
        for name, data in blobs.items():
            if name != "serial":
                assert not pin_in_logs(PINS[UA], data), f"4-digit PIN in {name}"


@contextlib.contextmanager
def kiosk_on_stack(stack, tmp: Path, card_args: tuple[str, ...] = (), **options) -> "Iterator[KioskUnderTest]":
    """A fresh card (the shared PINs, and ``card_args`` for ``pin-kiosk simcard``) and a kiosk over
    ``stack``; afterwards a clean exit and no PIN anywhere."""
    if stack.pcscd is None:
        stack.start_pcscd()
    stack.insert_card("--pins", PIN_ARG, *card_args)
    k = KioskUnderTest(tmp, **options)
    try:
        yield k
    finally:
        k.finish()
        k.assert_no_pin_anywhere()
        stack.remove_card()
