"""The Debian package: lintian is clean, it holds the product and nothing of the test stack, and
it installs, upgrades and purges in a fresh Debian 12 the way a city's IT team would do it.

The package is built once per run with the documented command (``scripts/dev package``).
All are ``stack`` tests; the install tests run in a Debian 12 chroot made by mmdebstrap from Debian's own
archive (cached outside the clone: ``tests/support_package.py``); no systemd runs there, so
they also prove the maintainer scripts start nothing by themselves.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from support_ops import REPO
from support_package import Chroot, built_package, deb_field, deb_files

pytestmark = pytest.mark.stack  # every test runs dpkg-deb, lintian or a chroot

#: Developer and test-stack packages that must never be pulled onto a terminal.
TEST_STACK = {"vsmartcard-vpcd", "opensc", "prometheus", "nodejs", "gcc", "build-essential", "swig",
              "python3-dev", "libpcsclite-dev", "python3-pytest", "python3-hypothesis", "python3-venv",
              "python3-pip", "evemu-tools", "xvfb", "qemu-system-x86"}


@pytest.fixture(scope="session")
def deb():
    return built_package()


@pytest.fixture(scope="session")
def previous_deb():
    """The same tree under a lower version: what an upgrade starts from."""
    return built_package(version="0.0.9+previous")


def test_lintian_reports_no_errors_and_no_warnings(deb):
    r = subprocess.run(["lintian", "--no-tag-display-limit", str(deb)], capture_output=True, text=True)
    tags = [line for line in r.stdout.splitlines() if line[:2] in ("E:", "W:")]
    assert tags == [] and r.returncode == 0, r.stdout


def test_the_package_is_one_architecture_independent_build_on_debians_own_python_packages(deb):
    assert deb_field(deb, "Architecture") == "all"
    depends = {d.strip().split()[0] for d in deb_field(deb, "Depends").split(",")}
    assert {"python3-serial", "python3-pyscard", "python3-evdev", "python3-pygame", "pcscd", "libccid"} <= depends
    assert not depends & TEST_STACK
    assert "vsmartcard-vpcd" in deb_field(deb, "Conflicts")


def test_the_package_holds_production_parts_only(deb):
    files = deb_files(deb)
    for needed in ("/usr/bin/pin-kiosk", "/lib/systemd/system/pin-kiosk.service",
                   "/lib/systemd/system/pin-kiosk-audit-verify.timer", "/lib/udev/rules.d/99-pin-kiosk.rules",
                   "/usr/lib/sysusers.d/pin-kiosk.conf", "/usr/lib/tmpfiles.d/pin-kiosk.conf",
                   "/usr/share/polkit-1/rules.d/60-pin-kiosk.rules", "/usr/lib/modules-load.d/pin-kiosk.conf",
                   "/etc/pin-kiosk/kiosk.toml", "/usr/share/pin-kiosk/kiosk/ui/kms.py",
                   "/usr/share/pin-kiosk/config/demo.toml", "/usr/share/man/man1/pin-kiosk.1.gz",
                   "/usr/share/doc/pin-kiosk/service.md", "/usr/share/doc/pin-kiosk/operations.md",
                   "/usr/share/pin-kiosk/monitoring/grafana-pin-kiosk.json"):
        assert needed in files, needed
    unit = next(p for p in files if p.endswith("/pin-kiosk.service"))
    assert unit == "/lib/systemd/system/pin-kiosk.service"
    for doc in re.findall(r"file:(\S+)", (REPO / "systemd/pin-kiosk.service").read_text()):
        assert doc in files, doc  # the unit's Documentation= is there, uncompressed
    for path in files:
        parts = set(path.split("/"))
        assert not parts & {"tests", "benchmarks", "demo-output", ".hypothesis", ".pytest_cache", ".venv",
                            ".git", "__pycache__", "fixtures", "debian"}, path
        assert not path.endswith((".pyc", ".orig", ".rej", ".png")), path
        assert not path.startswith("/usr/lib/python3/dist-packages/"), path  # private: no 'drivers' module for all
    conffiles = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(deb)], capture_output=True, check=True).stdout
    import io
    import tarfile
    with tarfile.open(fileobj=io.BytesIO(conffiles)) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("conffiles"))
        assert tar.extractfile(member).read().decode().split() == ["/etc/pin-kiosk/kiosk.toml"]


@pytest.fixture
def chroot(tmp_path):
    root = Chroot(tmp_path / "root")
    yield root
    root.remove()


def install(chroot, deb):
    path = chroot.put(deb, f"/tmp/{deb.name}")
    return chroot.ok(f"apt-get install -y --no-install-recommends {path} 2>&1")


def check_config(chroot, expect_rc, expect_text):
    r = chroot.run("pin-kiosk config")
    assert r.returncode == expect_rc and expect_text in (r.stdout + r.stderr), (r.stdout, r.stderr)
    return r


SET_ID = "sed -i 's/^id = \"\"/id = \"counter-7\"/' /etc/pin-kiosk/kiosk.toml"


def test_install_in_a_fresh_debian_starts_nothing_and_waits_for_a_terminal_id(chroot, deb):
    log = install(chroot, deb)
    assert "Setting up pin-kiosk" in log
    assert chroot.ok("pin-kiosk --version").strip() == f"pin-kiosk {deb_field(deb, 'Version').split('~')[0].split('+')[0]}"
    # the shipped config is valid but names no terminal: config says so in one line, exit 2
    r = check_config(chroot, 2, "terminal.id: unset")
    assert r.stderr.count("\n") == 1 and "/etc/pin-kiosk/kiosk.toml" in r.stderr
    chroot.ok(SET_ID)
    check_config(chroot, 0, "# /etc/pin-kiosk/kiosk.toml: valid")
    # installed, not enabled; the user exists; the metrics link is in node_exporter's directory
    assert not (chroot.path / "etc/systemd/system/multi-user.target.wants/pin-kiosk.service").exists()
    assert (chroot.path / "etc/systemd/system/timers.target.wants/pin-kiosk-audit-verify.timer").is_symlink()
    assert "pin-kiosk:" in (chroot.path / "etc/passwd").read_text()
    link = chroot.path / "var/lib/prometheus/node-exporter/pin-kiosk.prom"
    assert link.is_symlink() and str(link.readlink()) == "/run/pin-kiosk/metrics.prom"
    # other subcommands find the terminal's config without --config
    assert "/var/lib/pin-kiosk" in chroot.ok("pin-kiosk config --json")
    # nothing of the test stack came with it
    installed = set(chroot.ok("dpkg-query -W -f '${Package}\\n'").split())
    assert not installed & TEST_STACK, installed & TEST_STACK


def test_upgrade_from_the_previous_build_keeps_config_and_state(chroot, deb, previous_deb):
    install(chroot, previous_deb)
    chroot.ok(SET_ID + " && mkdir -p /var/lib/pin-kiosk && echo trail > /var/lib/pin-kiosk/audit.jsonl")
    log = install(chroot, deb)
    assert "Unpacking pin-kiosk" in log and "over (0.0.9+previous)" in log
    assert chroot.ok("pin-kiosk --version").strip() == "pin-kiosk 0.1.0"
    check_config(chroot, 0, "valid")
    assert 'id = "counter-7"' in (chroot.path / "etc/pin-kiosk/kiosk.toml").read_text()
    assert (chroot.path / "var/lib/pin-kiosk/audit.jsonl").read_text() == "trail\n"


def test_remove_keeps_state_and_purge_removes_it(chroot, deb):
    install(chroot, deb)
    chroot.ok(SET_ID + " && mkdir -p /var/lib/pin-kiosk/calibration && echo x > /var/lib/pin-kiosk/calibration/active.json")
    chroot.ok("pin-kiosk --version")
    check_config(chroot, 0, "valid")
    chroot.ok("apt-get remove -y pin-kiosk")
    assert (chroot.path / "var/lib/pin-kiosk/calibration/active.json").exists()
    assert (chroot.path / "etc/pin-kiosk/kiosk.toml").exists()  # a removed package keeps its conffiles
    chroot.ok("apt-get purge -y pin-kiosk")
    assert not (chroot.path / "var/lib/pin-kiosk").exists()
    assert not (chroot.path / "etc/pin-kiosk").exists()
    assert not (chroot.path / "var/lib/prometheus/node-exporter/pin-kiosk.prom").is_symlink()
    assert chroot.run("command -v pin-kiosk").returncode != 0
