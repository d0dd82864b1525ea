"""The counter boots as it ships: systemd as PID 1 starts the packaged unit, which draws on KMS.

One boot for the module.  The first frame is the virtio-gpu scanout captured
with QEMU's ``screendump``, compared with the idle screen ``pin-kiosk
screens`` renders in the same guest.
"""
from __future__ import annotations

import pytest

from vm import screens
from vm.image import TERMINAL_ID

pytestmark = pytest.mark.system


def test_boot_reaches_the_idle_screen_on_kms(counter):
    frac = screens.wait_screen(counter, "idle", timeout_s=120)
    assert frac <= 0.01
    assert counter.is_active("pin-kiosk") == "active"


def test_udev_names_the_counters_devices(counter):
    agent = counter.agent
    touch = agent.sh("readlink -f /dev/kiosk-touch").strip()
    assert touch.startswith("/dev/input/event")
    props = agent.sh(f"udevadm info --query=property --name={touch}")
    assert "ID_INPUT_TOUCHSCREEN=1" in props
    console = agent.sh("readlink -f /dev/kiosk-console").strip()
    assert console == "/dev/ttyUSB0"
    usb = agent.sh("udevadm info --query=property --name=/dev/ttyUSB0")
    assert "ID_VENDOR_ID=0403" in usb and "ID_MODEL_ID=6001" in usb
    assert "ftdi_sio" in agent.sh("readlink -f /sys/class/tty/ttyUSB0/device/driver")


def test_the_kiosk_greets_the_staff_pc_and_sees_reader_and_panel(counter):
    hello = counter.wait_frame("hello", timeout_s=120)
    assert hello["terminal"] == TERMINAL_ID
    # reader=True: the kiosk lists the USB CCID reader over PC/SC (pcscd + libccid in the guest)
    status = counter.wait_frame("status", timeout_s=120, reader=True, touch=True)
    assert status["state"] == "idle"


def test_the_reader_is_qemus_usb_ccid_device_under_pcscd(counter):
    ids = counter.agent.sh("cd /sys/bus/usb/devices && for d in *; do [ -f $d/idVendor ] && "
                           "echo $(cat $d/idVendor):$(cat $d/idProduct); done").split()
    assert "08e6:4433" in ids and "0403:6001" in ids
    assert counter.agent.sh("systemctl is-active pcscd").strip() == "active"


def test_the_kiosk_runs_as_its_user_on_its_devices(counter):
    agent = counter.agent
    pid = agent.sh("systemctl show -p MainPID --value pin-kiosk").strip()
    assert pid not in ("", "0")
    assert agent.sh(f"ps -o user= -p {pid}").strip() == "pin-kiosk"
    held = agent.sh(f"ls -l /proc/{pid}/fd | sed 's/.* -> //'").split()
    touch = agent.sh("readlink -f /dev/kiosk-touch").strip()
    assert "/dev/dri/card0" in held  # KMS: the kiosk holds the DRM card itself
    assert touch in held and "/dev/ttyUSB0" in held  # evdev panel and the FTDI console adapter
