"""Test support for the operations area (audit trail, metrics, watchdog, systemd files)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from kiosk.audit import AUDIT_FILE, AuditTrail
from kiosk.pin import PinType

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    """A settable clock for the trail's timestamps (the trail takes ``clock=``)."""

    def __init__(self, t_s: float = 1_790_000_000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        self.t_s += 0.25
        return self.t_s


def write_sample_trail(state_dir: Path, sessions: int = 3) -> list[str]:
    """A trail as a day at the counter writes it; returns the heads after each record."""
    heads = []
    with AuditTrail(state_dir, clock=FakeClock()) as trail:
        heads.append(trail.record("boot", version="0.1.0", terminal="counter-1", boot="b00t"))
        heads.append(trail.record("config.loaded", source="/etc/pin-kiosk/kiosk.toml", sha256="ab" * 32))
        heads.append(trail.record("console.link", state="up", port="/dev/kiosk-console"))
        for i in range(sessions):
            s = f"s{i + 1}"
            heads.append(trail.record("card.inserted", reader="Virtual PCD 00 00"))
            heads.append(trail.record("session.start", session=s, pin_type=PinType.USER_AUTH,
                                      action="verify", operator="clerk-7"))
            heads.append(trail.record("pin.result", session=s, pin_type=PinType.USER_AUTH, action="verify",
                                      result="wrong", tries_left=2))
            heads.append(trail.record("pin.result", session=s, pin_type="user_auth", action="verify",
                                      result="ok", tries_left=3))
            heads.append(trail.record("session.end", session=s, reason="logout", cleared=True))
            heads.append(trail.record("card.removed", reader="Virtual PCD 00 00"))
    return heads


def audit_lines(state_dir: Path) -> list[str]:
    return (state_dir / AUDIT_FILE).read_text().splitlines()


def set_audit_lines(state_dir: Path, lines: list[str]) -> None:
    (state_dir / AUDIT_FILE).write_text("".join(line + "\n" for line in lines))


def pin_kiosk(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True,
                          cwd=REPO, **kw)


class NotifySocket:
    """The service manager's end of NOTIFY_SOCKET: a real AF_UNIX datagram socket we bind."""

    def __init__(self, address: str) -> None:
        """``address`` is a path, or ``@name`` for the abstract namespace (as systemd writes it)."""
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)

    def recv(self, timeout_s: float = 2.0) -> str | None:
        """The next datagram, or None if none came within ``timeout_s``."""
        self.sock.settimeout(timeout_s)
        try:
            return self.sock.recv(4096).decode()
        except (socket.timeout, BlockingIOError):
            return None

    def drain(self) -> list[str]:
        out = []
        while (msg := self.recv(0)) is not None:
            out.append(msg)
        return out

    def close(self) -> None:
        self.sock.close()
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except FileNotFoundError:
                pass
