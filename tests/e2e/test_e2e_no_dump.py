"""No PIN on disk, ever: a watchdog's SIGABRT in the middle of an entry writes no core.

systemd's watchdog ends a stuck kiosk with SIGABRT.  The kernel would then write a
core file into the working directory (the state directory, in the unit) holding
whatever the process held: the characters typed so far.  The kiosk runs here the
way the unit runs it (working directory = state directory) and with the most
permissive core limit a parent could hand it (unlimited), so only the kiosk's own
hardening stands between the PIN and the disk.
"""
from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

import pytest

from support_kiosk import PIN_ARG, PINS, SECRETS, SIG, KioskUnderTest
from support_pcsc import running_stack

pytestmark = pytest.mark.stack

TYPED = PINS[SIG][:6]  # 6 of the 8 characters, Enter not pressed


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS) as s:
        yield s


def unlimited_cores() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def core_dirs(cwd: Path) -> list[Path]:
    """Where the kernel's core_pattern would put this process's core."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|"):  # a helper (systemd-coredump, apport) stores it
        return [cwd, Path("/var/lib/systemd/coredump"), Path("/var/crash")]
    return [cwd if not pattern.startswith("/") else Path(pattern).parent]


def test_sigabrt_mid_entry_leaves_no_core_and_no_pin_on_disk(stack, tmp_path):
    stack.insert_card("--pins", PIN_ARG)
    state = tmp_path / "state"
    state.mkdir()
    k = KioskUnderTest(tmp_path, cwd=state, preexec_fn=unlimited_cores)
    try:
        k.say("begin", pin_type=SIG.value, action="verify", operator="clerk01")
        k.wait_frame("entry.started")
        k.type(TYPED, pin_type=SIG)
        k.console.pump(0.5)  # the last key committed
        status = Path(f"/proc/{k.proc.pid}/status").read_text()
        locked_kb = int(next(line for line in status.splitlines() if line.startswith("VmLck:")).split()[1])
        assert locked_kb >= 4, status  # the PIN's page is mlocked: never swapped out
        smaps = Path(f"/proc/{k.proc.pid}/smaps").read_text()
        flags = [line.split()[1:] for line in smaps.splitlines() if line.startswith("VmFlags:")]
        assert any("lo" in f and "dd" in f for f in flags)  # locked and excluded from dumps
        limits = Path(f"/proc/{k.proc.pid}/limits").read_text()
        assert any(line.startswith("Max core file size") and line.split()[4:6] == ["0", "0"]
                   for line in limits.splitlines()), limits
        os.kill(k.proc.pid, signal.SIGABRT)
        assert k.proc.wait(20) == -signal.SIGABRT
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
            k.proc.wait()
        k.finger.lift_off()
        os.close(k.console.fd)
        k.stdout.close()
        k.stderr.close()
        stack.remove_card()
    cores = [p for d in core_dirs(state) if d.is_dir() for p in d.iterdir() if p.name.startswith("core")]
    assert cores == []
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_fifo():
            assert TYPED.encode() not in path.read_bytes(), path
    assert TYPED.encode() not in bytes(k.console.raw)
