"""systemd's side of the kiosk, with systemd's own protocol: READY, WATCHDOG from the loop, STOPPING.

The test binds the notify socket systemd would (an AF_UNIX datagram socket
named by NOTIFY_SOCKET) and starts ``pin-kiosk run`` with WATCHDOG_USEC.
A process stopped with SIGSTOP must stop pinging (systemd would then kill
and restart it: that part needs systemd as PID 1, see docs/operations.md).
"""
from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from support_kiosk import KioskUnderTest

pytestmark = pytest.mark.stack


def messages(sock: socket.socket, seconds: float) -> list[str]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(0.01, end - time.monotonic()))
        try:
            out.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return out


def test_ready_watchdog_from_the_loop_and_stopping(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    k = KioskUnderTest(tmp_path, card="sim", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"})
    try:
        first = messages(sock, 2.0)
        assert any("READY=1" in m for m in first), first
        assert sum("WATCHDOG=1" in m for m in first) >= 3  # every quarter of the 1 s watchdog
        # STATUS= says what a technician needs first (systemctl status), kept current
        status = [line for m in first for line in m.splitlines() if line.startswith("STATUS=")]
        assert status[-1] == "STATUS=console up, reader present, touch MISSING, drift ok, 0 sessions", first
        assert any(m.startswith("READY=1\nSTATUS=console ") for m in first), first

        os.kill(k.proc.pid, signal.SIGSTOP)  # a hung loop
        messages(sock, 0.3)  # what was already on its way
        assert not any("WATCHDOG=1" in m for m in messages(sock, 1.5))
        os.kill(k.proc.pid, signal.SIGCONT)
        assert any("WATCHDOG=1" in m for m in messages(sock, 1.5))
    finally:
        rc = k.stop()
    assert rc == 0
    assert any("STOPPING=1" in m for m in messages(sock, 1.0))
    sock.close()
