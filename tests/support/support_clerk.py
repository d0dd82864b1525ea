"""The clerk's consoles as a person runs them: the line console in tmux, the window under Xvfb.

``Tmux`` runs one command in a private tmux server (its own socket, so parallel
runs never meet), types into it (``send-keys``) and reads the screen
(``capture-pane``).  ``Xvfb`` starts a virtual display on a free number and
stops it by PID.  Both are real programs: nothing here imitates a terminal or
a display.
"""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path


class Tmux:
    """One tmux session running ``argv`` in a private server."""

    def __init__(self, tmp: Path, argv: list[str], width: int = 200, height: int = 50,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        self.socket = str(tmp / "tmux.sock")
        command = " ".join(shlex.quote(a) for a in argv)
        environment = {**os.environ, "TERM": "xterm-256color", **(env or {})}
        self._tmux("new-session", "-d", "-s", "clerk", "-x", str(width), "-y", str(height),
                   "-c", str(cwd or Path.cwd()), command, env=environment)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["tmux", "-S", self.socket, "-f", "/dev/null", *args], capture_output=True,
                              text=True, check=True, env=env or os.environ).stdout

    def type(self, text: str, enter: bool = True) -> None:
        self._tmux("send-keys", "-t", "clerk", "-l", text)
        if enter:
            self._tmux("send-keys", "-t", "clerk", "Enter")

    def screen(self) -> str:
        """What the clerk sees now, scroll-back included (wrapped lines joined)."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "clerk", "-S", "-2000")

    def bottom_line(self, needle: str = "", timeout_s: float = 10.0) -> str:
        """The terminal's last line (the console's status line), once it holds ``needle``."""
        end = time.monotonic() + timeout_s
        while True:
            line = self._tmux("capture-pane", "-p", "-t", "clerk").rstrip("\n").split("\n")[-1]
            if needle in line or time.monotonic() > end:
                return line
            time.sleep(0.1)

    def wait_for(self, needle: str, timeout_s: float = 15.0, after: int = 0) -> str:
        """The screen once ``needle`` shows (counting only occurrences past the first ``after``)."""
        end = time.monotonic() + timeout_s
        while True:
            text = self.screen()
            if text.count(needle) > after:
                return text
            if time.monotonic() > end:
                raise AssertionError(f"{needle!r} never showed; screen:\n{text}")
            time.sleep(0.1)

    def pane_pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", "clerk", "#{pane_pid}").strip())

    def close(self) -> None:
        try:
            pid = self.pane_pid()
            os.kill(pid, signal.SIGTERM)
        except (subprocess.CalledProcessError, ValueError, ProcessLookupError):
            pass
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], capture_output=True)


class Xvfb:
    """A virtual X display on a free number, stopped by PID."""

    def __init__(self, width: int = 1024, height: int = 720) -> None:
        for number in range(140, 240):
            if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
                break
        self.display = f":{number}"
        self.proc = subprocess.Popen(["Xvfb", self.display, "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError(f"Xvfb {self.display} did not start")
            time.sleep(0.05)
        self.env = {**os.environ, "DISPLAY": self.display}

    def run(self, *argv: str) -> str:
        return subprocess.run(list(argv), capture_output=True, text=True, check=True, env=self.env).stdout

    def click(self, x: int, y: int) -> None:
        self.run("xdotool", "mousemove", str(x), str(y), "click", "1")

    def screenshot(self, path: Path) -> None:
        self.run("import", "-window", "root", str(path))

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
