"""One virtual counter: QEMU with the counter's devices, driven from the host.

The devices are the ones a counter has, each behind the real guest kernel
driver: virtio-gpu (the kiosk on KMS; ``screendump`` captures it), a USB
CCID reader (``usb-ccid`` + ``ccid-card-passthru``, served by
``vscard.VSCardClient`` with the project's virtual card), an FTDI USB-serial
adapter (``usb-serial``, 0403:6001, ftdi_sio) whose host side is a pty for the
staff console, and a virtio-serial port for the test agent (commands, files,
the uinput touch panel).  No network device at all.

KVM is used when a short probe shows it boots; otherwise TCG with two
threads.  Every wait is on a condition with a limit; QEMU is stopped by the
PID this object started.
"""
from __future__ import annotations

import base64
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .image import Image, make_state_disk

AGENT_PORT = "pinkiosk.agent"
SCREEN_W_PX, SCREEN_H_PX = 800, 480


def wait_for(what: str, check: Callable[[], Any], timeout_s: float, interval_s: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; TimeoutError naming ``what`` after the limit."""
    end = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        time.sleep(interval_s)


_kvm_verdict: dict[str, bool] = {}


def kvm_works(vmlinuz: Path, timeout_s: float = 8.0) -> bool:
    """Whether a guest really runs under KVM here: the image's kernel, with no root, must reach
    its "VFS: Unable to mount root" panic (and exit, ``panic=-1 -no-reboot``) within seconds.

    On this kind of machine /dev/kvm opens, ``-cpu host`` aborts on an MSR and the default CPU
    starts but never runs the guest: only a kernel that prints proves KVM works.
    """
    if "kvm" in _kvm_verdict:
        return _kvm_verdict["kvm"]
    ok = False
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        try:
            proc = subprocess.run(
                ["qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-nodefaults", "-no-user-config",
                 "-display", "none", "-no-reboot", "-kernel", str(vmlinuz),
                 "-append", "console=ttyS0 panic=-1", "-serial", "stdio"],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
            ok = b"Kernel panic" in proc.stdout or b"VFS:" in proc.stdout
        except (subprocess.TimeoutExpired, OSError):
            ok = False
    _kvm_verdict["kvm"] = ok
    return ok


class QMP:
    """QEMU's machine protocol over a unix socket: one command, one answer."""

    def __init__(self, path: Path, timeout_s: float = 30.0) -> None:
        self.sock = wait_for("QMP socket", lambda: self._connect(path), timeout_s)
        self.sock.settimeout(60)
        self.reader = self.sock.makefile("rb")
        self.events: list[dict] = []
        json.loads(self.reader.readline())  # greeting
        self.command("qmp_capabilities")

    @staticmethod
    def _connect(path: Path) -> socket.socket | None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            return None

    def command(self, name: str, **arguments: Any) -> Any:
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            answer = json.loads(self.reader.readline())
            if "event" in answer:
                self.events.append(answer)
                continue
            if "error" in answer:
                raise RuntimeError(f"QMP {name}: {answer['error'].get('desc')}")
            return answer.get("return")

    def close(self) -> None:
        self.sock.close()


class Agent:
    """The host end of the guest agent's virtio-serial port (JSON lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self._buf = b""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def connect(self, timeout_s: float) -> None:
        """Connect to QEMU's end of the port and ping until the guest agent answers (late in boot)."""
        self.sock = wait_for("agent socket", lambda: QMP._connect(self.path), 30)
        end = time.monotonic() + timeout_s
        while True:
            try:
                self.call("ping", timeout_s=2.0)
                return
            except TimeoutError:
                if time.monotonic() > end:
                    raise TimeoutError(f"guest agent silent for {timeout_s:.0f} s") from None

    def _readline(self, deadline: float) -> bytes:
        assert self.sock is not None
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("guest agent did not answer in time")
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("guest agent channel closed")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line

    def call(self, op: str, timeout_s: float = 120.0, **fields: Any) -> dict:
        """One request; its answer (answers to earlier, abandoned requests are skipped)."""
        assert self.sock is not None
        with self._lock:
            rid = next(self._ids)
            self.sock.sendall(json.dumps({"op": op, "id": rid, **fields}).encode() + b"\n")
            deadline = time.monotonic() + timeout_s
            while True:
                answer = json.loads(self._readline(deadline))
                if answer.get("id") == rid:
                    break
        if "error" in answer:
            raise RuntimeError(f"guest agent {op}: {answer['error']}")
        return answer

    def run(self, *argv: str, stdin: bytes = b"", timeout_s: float = 120.0) -> tuple[int, str, str]:
        a = self.call("run", timeout_s=timeout_s + 10, argv=list(argv),
                      stdin=base64.b64encode(stdin).decode(), limit_s=timeout_s)
        return (a["rc"], base64.b64decode(a["out"]).decode(errors="replace"),
                base64.b64decode(a["err"]).decode(errors="replace"))

    def sh(self, script: str, timeout_s: float = 120.0) -> str:
        """Run a shell snippet in the guest; its stdout, or RuntimeError with rc and stderr."""
        rc, out, err = self.run("/bin/sh", "-c", script, timeout_s=timeout_s)
        if rc != 0:
            raise RuntimeError(f"guest: {script!r}: rc {rc}: {err.strip()[-500:]}")
        return out

    def read(self, path: str) -> bytes:
        return base64.b64decode(self.call("read", path=path)["data"])

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


class Machine:
    """A booted virtual counter.  ``boot()`` starts QEMU, ``kill()``/``shutdown()`` stop it."""

    def __init__(self, image: Image, workdir: Path, *, state_disk: Path | None = None,
                 root_disk: Path | None = None, memory_mib: int = 1536, read_only_root: bool = False) -> None:
        self.image = image
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.root_disk = root_disk or self.dir / "root.qcow2"
        self.state_disk = state_disk or self.dir / "state.img"
        self.memory_mib = memory_mib
        self.read_only_root = read_only_root
        self.proc: subprocess.Popen | None = None
        self.qmp: QMP | None = None
        self.agent: Agent | None = None
        self.accel = ""
        self.boots = 0
        self.boot_started_s = 0.0

    # -- disks -----------------------------------------------------------------
    def _prepare_disks(self) -> None:
        if not self.root_disk.exists():  # a copy-on-write layer over the cached image
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                            str(self.image.root_img), str(self.root_disk)], check=True)
        if not self.state_disk.exists():
            make_state_disk(self.state_disk)

    def command_line(self) -> list[str]:
        d = self.dir
        accel = ["-accel", "kvm"] if kvm_works(self.image.vmlinuz) else ["-accel", "tcg,thread=multi"]
        self.accel = accel[1].split(",")[0]
        append = "console=ttyS0 panic=-1 " + ("ro" if self.read_only_root else "rw") + " root=/dev/vda"
        ro = ",readonly=on" if self.read_only_root else ""
        return [
            "nice", "-n", "10", "qemu-system-x86_64", *accel, "-smp", "2", "-m", str(self.memory_mib),
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", str(self.image.vmlinuz), "-initrd", str(self.image.initrd), "-append", append,
            "-drive", f"file={self.root_disk},if=virtio,format=qcow2,cache=writeback{ro}",
            "-drive", f"file={self.state_disk},if=virtio,format=raw,cache=writeback",
            "-serial", f"file:{d / 'serial.log'}",
            "-qmp", f"unix:{d / 'qmp.sock'},server=on,wait=off",
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=agent,path={d / 'agent.sock'},server=on,wait=off",
            "-device", f"virtserialport,chardev=agent,name={AGENT_PORT}",
            "-device", f"virtio-gpu-pci,xres={SCREEN_W_PX},yres={SCREEN_H_PX}", "-vga", "none",
            "-device", "qemu-xhci,id=xhci",
            "-chardev", "pty,id=staffpc",
            "-device", "usb-serial,bus=xhci.0,chardev=staffpc,always-plugged=on,id=console-adapter",
            "-chardev", f"socket,id=vscard,path={d / 'vscard.sock'},server=on,wait=off",
            "-device", "usb-ccid,bus=xhci.0,id=reader",
            "-device", "ccid-card-passthru,chardev=vscard,bus=reader.0,id=card",
            "-nic", "none",
        ]

    # -- life ------------------------------------------------------------------
    def boot(self, agent_timeout_s: float = 600.0) -> None:
        """Start QEMU and wait until the guest agent answers (systemd is up to multi-user)."""
        self.start()
        self.wait_agent(agent_timeout_s)

    def start(self) -> None:
        """Start QEMU (its chardev sockets and QMP are up at once; the guest boots on)."""
        self._prepare_disks()
        for name in ("qmp.sock", "agent.sock", "vscard.sock"):
            (self.dir / name).unlink(missing_ok=True)
        self.boots += 1
        self.qemu_log = open(self.dir / f"qemu-{self.boots}.log", "wb")
        self.boot_started_s = time.monotonic()
        self.proc = subprocess.Popen(self.command_line(), stdout=self.qemu_log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self.qmp = QMP(self.dir / "qmp.sock")
        except BaseException:
            self.kill()
            raise

    def wait_agent(self, timeout_s: float = 600.0) -> None:
        try:
            self.agent = Agent(self.dir / "agent.sock")
            self.agent.connect(timeout_s)
        except BaseException:
            self.kill()
            raise

    def console_pty(self) -> str:
        """The host end of the FTDI adapter: the pty QEMU opened for it."""
        assert self.qmp is not None
        for dev in self.qmp.command("query-chardev"):
            if dev["label"] == "staffpc":
                return dev["filename"].removeprefix("pty:")
        raise RuntimeError("no staffpc chardev")

    def screendump(self, path: Path) -> Path:
        """The virtio-gpu scanout as a PPM file (QEMU's monitor writes it)."""
        assert self.qmp is not None
        path = Path(path)
        path.unlink(missing_ok=True)
        self.qmp.command("screendump", filename=str(path))
        return wait_for(f"screendump {path.name}", lambda: path if path.exists() and path.stat().st_size else None, 30)

    def device_del(self, dev_id: str, timeout_s: float = 60.0) -> None:
        assert self.qmp is not None
        self.qmp.command("device_del", id=dev_id)
        wait_for(f"{dev_id} unplugged", lambda: not self._has_device(dev_id), timeout_s, 0.2)

    def device_add(self, driver: str, **props: Any) -> None:
        assert self.qmp is not None
        self.qmp.command("device_add", driver=driver, **props)

    def _has_device(self, dev_id: str) -> bool:
        assert self.qmp is not None
        try:
            self.qmp.command("qom-get", path=f"/machine/peripheral/{dev_id}", property="type")
            return True
        except RuntimeError:
            return False

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Pull the power: SIGKILL to the QEMU this object started (its own process group)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
        self._close_channels()

    def shutdown(self, timeout_s: float = 180.0) -> None:
        """A clean power-off (systemctl poweroff), waiting for QEMU to exit; kill after the limit."""
        if not self.running():
            return
        try:
            assert self.agent is not None
            self.agent.run("systemctl", "poweroff", "--no-block", timeout_s=30)
        except (RuntimeError, OSError, ValueError):
            pass
        try:
            assert self.proc is not None
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _close_channels(self) -> None:
        for chan in (self.agent, self.qmp):
            if chan is not None:
                try:
                    chan.close()
                except OSError:
                    pass
        self.agent = self.qmp = None
        if getattr(self, "qemu_log", None):
            self.qemu_log.close()


def new_workdir(prefix: str = "pin-kiosk-vm-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
