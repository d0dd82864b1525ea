"""The real PC/SC stack for tests: our own pcscd with the vpcd reader, and the virtual card.

``PcscStack`` starts ``pcscd -f`` (as root; there is no systemd here) in a
private mount namespace where ``/run/pcscd`` is a temporary directory, so
its socket lives in that directory and neither disturbs nor sees a system
pcscd.  Its reader configuration (``-c``) is a temporary copy of vpcd's with
a free port pair, so parallel test runs do not collide.  Clients in this
process find the socket through ``PCSCLITE_CSOCK_NAME``; libpcsclite reads
it once per process, hence one fixed directory per test process (set at
import, before anything talks to PC/SC).

The virtual card is ``pin-kiosk simcard`` as a separate process: stopping it
is pulling the card out.  Everything started is stopped by PID.  pcscd runs
at its default (error) log level and never with ``--apdu``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from support_scan import pin_in_logs  # noqa: F401  (the PIN scan of pcscd's and the card's logs)

ROOT = Path(__file__).resolve().parents[2]
BASE_DIR = Path(tempfile.gettempdir()) / f"pin-kiosk-pcsc-{os.getpid()}"
RUN_DIR = BASE_DIR / "run"
SOCKET = RUN_DIR / "pcscd.comm"
os.environ["PCSCLITE_CSOCK_NAME"] = str(SOCKET)

READER_0 = "Virtual PCD 00 00"
READER_1 = "Virtual PCD 00 01"

VPCD_CONF = """FRIENDLYNAME "Virtual PCD"
DEVICENAME   /dev/null:{port:#06x}
LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
CHANNELID    {port:#06x}
"""


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 1):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("0.0.0.0", p))
            except OSError:
                return False
    return True


def free_port_pair() -> int:
    """A TCP port P with P and P+1 free (vpcd listens on one port per slot)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            port = s.getsockname()[1]
        if port < 65535 and _port_pair_free(port):
            return port
    raise RuntimeError("no free port pair for vpcd")


def pcsc_readers() -> list[str] | None:
    """Readers our pcscd lists; None when it is not reachable."""
    from smartcard import scard

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        return None
    try:
        rc, readers = scard.SCardListReaders(ctx, [])
        return list(readers) if rc == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(ctx)


def card_present(reader: str = READER_0) -> bool:
    from smartcard import scard

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if rc != scard.SCARD_S_SUCCESS:
        return False
    try:
        rc, states = scard.SCardGetStatusChange(ctx, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return rc == scard.SCARD_S_SUCCESS and bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def wait_for(predicate, timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


class PcscStack:
    """pcscd + vpcd + the simcard process, started and stopped by PID."""

    def __init__(self) -> None:
        BASE_DIR.mkdir(parents=True, exist_ok=True)
        RUN_DIR.mkdir(exist_ok=True)
        self.conf_dir = BASE_DIR / "reader.conf.d"
        self.conf_dir.mkdir(exist_ok=True)
        self.port = free_port_pair()
        (self.conf_dir / "vpcd").write_text(VPCD_CONF.format(port=self.port))
        self.pcscd_log = BASE_DIR / "pcscd.log"
        self.pcscd_log.write_bytes(b"")
        self.card_log = BASE_DIR / "simcard.log"
        self.card_log.write_bytes(b"")
        self.pcscd: subprocess.Popen | None = None
        self.card: subprocess.Popen | None = None
        self.second: subprocess.Popen | None = None
        self.env = {**os.environ, "PCSCLITE_CSOCK_NAME": str(SOCKET), "PYTHONPATH": str(ROOT)}

    @property
    def vpcd(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- pcscd -----------------------------------------------------------------
    def start_pcscd(self) -> None:
        for stale in ("pcscd.comm", "pcscd.pid"):
            (RUN_DIR / stale).unlink(missing_ok=True)
        script = 'mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd -f -c "$2"'
        with open(self.pcscd_log, "ab") as out:
            self.pcscd = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                 str(RUN_DIR), str(self.conf_dir)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        # the socket may appear before the readers: wait for both vpcd slots
        wait_for(lambda: (pcsc_readers() or []) == [READER_0, READER_1] or self.pcscd.poll() is not None,
                 10.0, "pcscd readers")
        if self.pcscd.poll() is not None:
            raise RuntimeError(f"pcscd exited: {self.pcscd_log.read_text(errors='replace')[-500:]}")

    def stop_pcscd(self) -> None:
        if self.pcscd is not None and self.pcscd.poll() is None:
            self.pcscd.send_signal(signal.SIGTERM)
            try:
                self.pcscd.wait(5)
            except subprocess.TimeoutExpired:
                self.pcscd.kill()
                self.pcscd.wait()
        self.pcscd = None

    # -- the virtual card --------------------------------------------------------
    def insert_card(self, *args: str, wait: bool = True, slot: int = 0, second: bool = False) -> None:
        """Start ``pin-kiosk simcard`` on ``slot`` with extra ``args`` (--pins, --tries, ...).

        Started as ``python -m kiosk.commands.simcard`` (the same command, without loading
        every other subcommand), so the stack does not depend on the rest of the tree.
        ``second``: a second card beside the first (``self.second``), e.g. in slot 1.
        """
        if second:
            self._stop_process(self.second)
        else:
            self.remove_card()
        with open(self.card_log, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "kiosk.commands.simcard", "--vpcd", f"127.0.0.1:{self.port + slot}", *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT)
        if second:
            self.second = process
        else:
            self.card = process
        if wait:
            reader = (READER_0, READER_1)[slot]
            wait_for(lambda: card_present(reader) or process.poll() is not None, 10.0, "card in reader")
            if process.poll() is not None:
                raise RuntimeError(f"simcard exited: {self.card_log.read_text(errors='replace')[-500:]}")

    @staticmethod
    def _stop_process(process: subprocess.Popen | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def remove_card(self, wait: bool = True) -> None:
        """Pull every card (the first and a second one) and wait until pcscd saw them go."""
        running = [p for p in (self.card, self.second) if p is not None and p.poll() is None]
        for process in running:
            self._stop_process(process)
        if running and wait and self.pcscd is not None:
            wait_for(lambda: not card_present(READER_0) and not card_present(READER_1), 5.0, "card removal")
        self.card = self.second = None

    def kill_card(self) -> None:
        """Pull the card at once (SIGKILL: no goodbye on the socket)."""
        if self.card is not None and self.card.poll() is None:
            self.card.kill()
            self.card.wait()
        self.card = None

    def stop(self) -> None:
        self.remove_card(wait=False)
        self.stop_pcscd()

    def logs(self) -> bytes:
        return self.pcscd_log.read_bytes() + self.card_log.read_bytes()

    def cleanup(self) -> bytes:
        """Stop everything, remove the directory; returns the logs (pcscd's and the card's)."""
        self.stop()
        logs = self.logs()
        shutil.rmtree(BASE_DIR, ignore_errors=True)
        return logs


@contextlib.contextmanager
def running_stack(secrets: tuple[str, ...] | list[str] = ()) -> "Iterator[PcscStack]":
    """pcscd + vpcd up for a test module; afterwards stopped by PID, removed, logs scanned for ``secrets``."""
    s = PcscStack()
    s.start_pcscd()
    try:
        yield s
    finally:
        logs = s.cleanup()
        for secret in secrets:
            assert not pin_in_logs(secret, logs), "a PIN reached pcscd's or the card's output"
