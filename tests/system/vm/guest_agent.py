#!/usr/bin/python3
"""The test channel's guest end: runs in the virtual counter, never on a real terminal.

Installed into the test image by ``tests/system/vm/image.py`` (not by the
Debian package) as ``/usr/local/lib/pin-kiosk-test/guest_agent.py`` with a
systemd unit.  It serves one virtio-serial port (``/dev/virtio-ports/
pinkiosk.agent``) with JSON lines, one request, one answer:

* ``run``: a command (argv, optional stdin, time limit) -> rc, stdout, stderr;
* ``read``: a file's bytes (base64);
* ``panel_create`` / ``panel_events`` / ``panel_destroy``: a touchscreen made
  with uinput from a device description the host parsed (bits and absinfo of
  a real panel's evemu ``.desc``), and kernel events written into it with the
  delays the host asked for, so the kiosk reads it through evdev like a panel.

Only the standard library: the image has Debian's python3 because the kiosk
needs it, and nothing of the developer test stack.
"""
import base64
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import time

PORT = "/dev/virtio-ports/pinkiosk.agent"
#: The panel plugged in at power-on (written by the image tooling): made before the kiosk starts.
BOOT_PANEL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "panel.json")

# linux/uinput.h
UINPUT_IOCTL_BASE = ord("U")


def _IOW(nr, size):
    return (1 << 30) | (size << 16) | (UINPUT_IOCTL_BASE << 8) | nr


def _IO(nr):
    return (UINPUT_IOCTL_BASE << 8) | nr


UI_DEV_CREATE = _IO(1)
UI_DEV_DESTROY = _IO(2)
UI_SET_EVBIT = _IOW(100, 4)
UI_SET_KEYBIT = _IOW(101, 4)
UI_SET_ABSBIT = _IOW(103, 4)
UI_SET_PROPBIT = _IOW(110, 4)
UINPUT_SETUP = struct.Struct("HHHH80sI")  # struct uinput_setup: input_id, name, ff_effects_max
UI_DEV_SETUP = _IOW(3, UINPUT_SETUP.size)
ABS_SETUP = struct.Struct("HHiiiiii")  # struct uinput_abs_setup: code, pad, input_absinfo
UI_ABS_SETUP = _IOW(4, ABS_SETUP.size)
INPUT_EVENT = struct.Struct("llHHi")
EV_KEY, EV_ABS = 1, 3
SET_BIT = {EV_KEY: UI_SET_KEYBIT, EV_ABS: UI_SET_ABSBIT}
CLOCK_MONOTONIC = 1


class Panel:
    """A uinput touchscreen: created from a description, fed events, destroyed."""

    def __init__(self, spec):
        self.fd = os.open("/dev/uinput", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        for ev_type, codes in spec["bits"].items():
            ev_type = int(ev_type)
            fcntl.ioctl(self.fd, UI_SET_EVBIT, ev_type)
            if ev_type in SET_BIT:
                for code in codes:
                    fcntl.ioctl(self.fd, SET_BIT[ev_type], code)
        for prop in spec["props"]:
            fcntl.ioctl(self.fd, UI_SET_PROPBIT, prop)
        for code, (value, minimum, maximum, fuzz, flat, res) in spec["abs"].items():
            fcntl.ioctl(self.fd, UI_ABS_SETUP, ABS_SETUP.pack(int(code), 0, value, minimum, maximum, fuzz, flat, res))
        bus, vendor, product, version = spec["id"]
        fcntl.ioctl(self.fd, UI_DEV_SETUP, UINPUT_SETUP.pack(bus, vendor, product, version,
                                                             spec["name"].encode()[:79], 0))
        fcntl.ioctl(self.fd, UI_DEV_CREATE)

    def write(self, events):
        """Write [delay_s, type, code, value] events, each after its delay; returns the
        CLOCK_MONOTONIC time of every SYN_REPORT written (the benchmark's touch times)."""
        syn_times = []
        start = time.monotonic()
        due = start
        for delay_s, ev_type, code, value in events:
            due += delay_s
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # the finger's own timing, not a wait for a condition
            os.write(self.fd, INPUT_EVENT.pack(0, 0, ev_type, code, value))
            if ev_type == 0 and code == 0:
                syn_times.append(time.clock_gettime(CLOCK_MONOTONIC))
        return syn_times

    def destroy(self):
        fcntl.ioctl(self.fd, UI_DEV_DESTROY)
        os.close(self.fd)


def notify(state):
    """sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET."""
    import socket
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), path)


class Agent:
    def __init__(self):
        self.panel = None

    def handle(self, req):
        op = req.get("op")
        if op == "ping":
            return {"pong": True, "boot_id": open("/proc/sys/kernel/random/boot_id").read().strip()}
        if op == "run":
            try:
                proc = subprocess.run(req["argv"], input=base64.b64decode(req.get("stdin", "")),
                                      capture_output=True, timeout=req.get("limit_s", 60))
            except subprocess.TimeoutExpired as exc:
                return {"rc": -1, "out": "", "err": f"timed out after {exc.timeout} s"}
            except OSError as exc:
                return {"rc": -1, "out": "", "err": str(exc)}
            return {"rc": proc.returncode, "out": base64.b64encode(proc.stdout).decode(),
                    "err": base64.b64encode(proc.stderr).decode()}
        if op == "read":
            with open(req["path"], "rb") as f:
                return {"data": base64.b64encode(f.read()).decode()}
        if op == "panel_create":
            if self.panel is not None:
                self.panel.destroy()
            self.panel = Panel(req["spec"])
            return {"ok": True}
        if op == "panel_events":
            return {"syn_times": self.panel.write(req["events"])}
        if op == "panel_destroy":
            if self.panel is not None:
                self.panel.destroy()
                self.panel = None
            return {"ok": True}
        return {"error": f"unknown op {op!r}"}

    def serve(self):
        if os.path.exists(BOOT_PANEL):
            with open(BOOT_PANEL) as f:
                self.panel = Panel(json.load(f))
        notify("READY=1")  # the unit is Type=notify and ordered before pin-kiosk.service
        fd = os.open(PORT, os.O_RDWR | os.O_CLOEXEC)
        buf = b""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            poller.poll(1000)
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:  # the host side is not connected: wait for it
                time.sleep(0.2)
                continue
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    req = json.loads(line)
                    answer = self.handle(req)
                except Exception as exc:  # an agent error goes back to the test, the agent stays up
                    req = req if isinstance(req, dict) else {}
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                answer["id"] = req.get("id")
                out = json.dumps(answer).encode() + b"\n"
                while out:
                    out = out[os.write(fd, out):]


if __name__ == "__main__":
    sys.exit(Agent().serve())
