"""The service files: the unit verifies with systemd's own tools, carries the settings the
product depends on, the udev rules and polkit rule do what they say, install.sh renders them.

How ``systemd-analyze verify`` runs here without systemd as PID 1: it loads the unit
offline and checks every directive and that ExecStart= is an executable file.  The test
unpacks the built Debian package into a temporary root (``dpkg-deb -x``, exactly the files
an install puts in place) and verifies the units there with ``--root``, so ExecStart=
must name the package's own /usr/bin/pin-kiosk.  Any output at all (unknown key, bad
value, missing executable) fails the test.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support_ops import REPO
from support_package import built_package

SYSTEMD = REPO / "systemd"
INSTALL = SYSTEMD / "install.sh"
UNIT = SYSTEMD / "pin-kiosk.service"
UNIT_DIR = "lib/systemd/system"


def install(*args, **kw):
    return subprocess.run(["sh", str(INSTALL), *args], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The package's files unpacked under a temporary root."""
    root = tmp_path_factory.mktemp("root")
    subprocess.run(["dpkg-deb", "-x", str(built_package()), str(root)], check=True)
    # the units the package's units refer to (sysinit.target, pcscd.socket, ...): this machine's
    ours = {p.name for p in (root / UNIT_DIR).iterdir()}
    for unit in Path("/lib/systemd/system").iterdir():
        if unit.name not in ours and unit.is_file():
            shutil.copy2(unit, root / UNIT_DIR / unit.name)
    return root


def analyze_verify(root, unit):
    return subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", f"/{UNIT_DIR}/{unit}"],
                          capture_output=True, text=True)


def unit_directives(text):
    """[(section, key, value)] of a unit file, keeping repeated keys (DeviceAllow=...)."""
    out, section = [], None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.append((section, key, value))
    return out


UNITS = ("pin-kiosk.service", "pin-kiosk-audit-verify.service", "pin-kiosk-audit-verify.timer")


@pytest.mark.stack
@pytest.mark.parametrize("name", UNITS)
def test_systemd_analyze_verify_accepts_the_packaged_units(staged, name):
    text = (staged / UNIT_DIR / name).read_text()
    if name.endswith(".service"):
        assert "ExecStart=/usr/bin/pin-kiosk " in text
    r = analyze_verify(staged, name)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stderr


@pytest.mark.stack
def test_the_daily_check_runs_audit_verify_and_fails_on_a_bad_chain(staged, tmp_path):
    """The timer's ExecStart, run as written (this checkout's pin-kiosk, state dir overridden)."""
    from support_ops import audit_lines, set_audit_lines, write_sample_trail
    unit = (staged / UNIT_DIR / "pin-kiosk-audit-verify.service").read_text()
    argv = next(v for s, k, v in unit_directives(unit) if k == "ExecStart").split()
    assert argv[0] == "/usr/bin/pin-kiosk" and argv[1:3] == ["audit", "verify"]
    argv[0:1] = [sys.executable, "-m", "kiosk"]
    argv[argv.index("--config") + 1] = str(staged / "etc/pin-kiosk/kiosk.toml")
    write_sample_trail(tmp_path, sessions=1)
    assert subprocess.run(argv + ["--state-dir", str(tmp_path)], capture_output=True).returncode == 0
    set_audit_lines(tmp_path, audit_lines(tmp_path)[1:])
    assert subprocess.run(argv + ["--state-dir", str(tmp_path)], capture_output=True).returncode == 1


@pytest.mark.stack
def test_systemd_analyze_verify_would_catch_a_mistake(staged, tmp_path):
    unit = staged / UNIT_DIR / "pin-kiosk.service"
    text = unit.read_text()
    try:
        unit.write_text(text.replace("WatchdogSec=15s", "WatchdogSec=15s\nWatchDogSec=15s"))
        assert "Unknown key" in analyze_verify(staged, "pin-kiosk.service").stderr
        unit.write_text(text.replace("/usr/bin/pin-kiosk", "/nonexistent/pin-kiosk"))
        r = analyze_verify(staged, "pin-kiosk.service")
        assert r.returncode != 0 and "not executable" in r.stderr
    finally:
        unit.write_text(text)


@pytest.mark.stack
def test_the_offline_security_review_rates_the_unit_ok(staged):
    unit = staged / UNIT_DIR / "pin-kiosk.service"
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for pin-kiosk.service: (\d+\.\d+)", r.stdout)
    assert m, r.stdout[-500:]
    assert float(m.group(1)) <= 2.0, r.stdout


def test_the_unit_carries_what_the_product_depends_on():
    d = unit_directives(UNIT.read_text())
    get = {(s, k): v for s, k, v in d}
    assert get[("Service", "Type")] == "notify" and get[("Service", "NotifyAccess")] == "main"
    assert get[("Service", "WatchdogSec")] == "15s" and get[("Service", "Restart")] == "always"
    assert "StartLimitIntervalSec" in {k for s, k, _ in d if s == "Unit"}
    assert "StartLimitBurst" in {k for s, k, _ in d if s == "Unit"}
    assert get[("Unit", "StartLimitAction")] == "reboot"  # a crash loop never leaves the counter dark
    assert any(s == "Unit" and k == "After" and "time-sync.target" in v for s, k, v in d)
    assert get[("Service", "LimitCORE")] == "0"  # no core dump can hold a PIN
    assert "--preflight" in get[("Service", "ExecStart")].split()
    assert "pcscd.socket" in get[("Unit", "Wants")]
    assert any(s == "Unit" and k == "After" and "pcscd.socket" in v for s, k, v in d)
    assert get[("Service", "User")] == "pin-kiosk"
    assert set(get[("Service", "SupplementaryGroups")].split()) >= {"input", "dialout", "video"}
    assert get[("Service", "StateDirectory")] == "pin-kiosk"
    for key, value in [("ProtectSystem", "strict"), ("ProtectHome", "yes"), ("PrivateTmp", "yes"),
                       ("NoNewPrivileges", "yes"), ("DevicePolicy", "closed")]:
        assert get[("Service", key)] == value, key
    allowed = {v for s, k, v in d if k == "DeviceAllow"}
    assert allowed == {"char-input rw", "char-ttyUSB rw", "char-ttyACM rw", "char-drm rw", "char-alsa rw"}
    assert get[("Service", "RestartPreventExitStatus")] == "2"  # a config error does not loop
    assert get[("Service", "CapabilityBoundingSet")] == ""  # KMSDRM without root or capabilities


@pytest.mark.stack
def test_shipped_udev_rules_are_what_install_sh_renders_by_default():
    r = install("--print-rules")
    assert r.returncode == 0 and r.stdout == (SYSTEMD / "99-pin-kiosk.rules").read_text()


UDEV_KEYS = {"ACTION", "SUBSYSTEM", "KERNEL", "ATTRS", "ENV", "SYMLINK", "GROUP", "MODE", "TAG", "GOTO", "LABEL"}


def udev_rule_tokens(line):
    """KEY{attr}OP"value" tokens of one rule line; AssertionError on anything else."""
    tokens = []
    for part in re.split(r",\s*", line):
        m = re.fullmatch(r'([A-Z_]+)(\{[A-Za-z_]+\})?(==|!=|\+=|=)"([^"]*)"', part.strip())
        assert m, f"not a udev key/value: {part!r}"
        assert m.group(1) in UDEV_KEYS, m.group(1)
        tokens.append((m.group(1) + (m.group(2) or ""), m.group(3), m.group(4)))
    return tokens


def rules_of(text):
    return [udev_rule_tokens(x) for x in text.splitlines() if x.strip() and not x.startswith("#")]


def test_udev_rules_name_the_devices_and_keep_modemmanager_off_the_console():
    rules = rules_of((SYSTEMD / "99-pin-kiosk.rules").read_text())
    console = next(r for r in rules if ("SYMLINK", "+=", "kiosk-console") in r)
    touch = next(r for r in rules if ("SYMLINK", "+=", "kiosk-touch") in r)
    assert ("ENV{ID_MM_DEVICE_IGNORE}", "=", "1") in console and ("TAG", "+=", "systemd") in console
    assert ("SUBSYSTEM", "==", "tty") in console and ("GROUP", "=", "dialout") in console
    assert ("TAG", "+=", "systemd") in touch and ("KERNEL", "==", "event*") in touch
    assert ("ENV{ID_MM_DEVICE_IGNORE}", "=", "1") not in touch


@pytest.mark.stack
def test_udev_rules_match_a_chosen_adapter_by_vendor_product_serial():
    r = install("--print-rules", "--console-usb", "0403:6001:FT5XK2QA", "--touch-usb", "0EEF:0005")
    assert r.returncode == 0, r.stderr
    rules = rules_of(r.stdout)
    console = next(r for r in rules if ("SYMLINK", "+=", "kiosk-console") in r)
    touch = next(r for r in rules if ("SYMLINK", "+=", "kiosk-touch") in r)
    assert {("ENV{ID_VENDOR_ID}", "==", "0403"), ("ENV{ID_MODEL_ID}", "==", "6001"),
            ("ENV{ID_SERIAL_SHORT}", "==", "FT5XK2QA")} <= set(console)
    assert {("ENV{ID_VENDOR_ID}", "==", "0eef"), ("ENV{ID_MODEL_ID}", "==", "0005")} <= set(touch)
    r = install("--print-rules", "--touch-name", "generic ft5x06 (79)")
    assert 'ATTRS{name}=="generic ft5x06 (79)"' in r.stdout


@pytest.mark.stack
@pytest.mark.parametrize("args", [["--console-usb", "403:6001"], ["--touch-usb", "0eef:0005:a b"],
                                  ["--touch-name", 'x"y'], ["--bogus"]])
def test_install_sh_refuses_bad_options_with_one_line(args):
    r = install("--print-rules", *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, (r.stdout, r.stderr)


def test_install_sh_only_wraps_the_package():
    text = INSTALL.read_text()
    assert "apt-get install -y \"$DEB\"" in text
    for gone in ("pip ", "venv", "/opt/pin-kiosk", "systemctl restart"):
        assert gone not in text, gone


@pytest.mark.stack
def test_sysusers_creates_the_service_user_in_a_staged_root(staged):
    r = subprocess.run(["systemd-sysusers", f"--root={staged}", str(staged / "usr/lib/sysusers.d/pin-kiosk.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    entry = next(x for x in (staged / "etc/passwd").read_text().splitlines() if x.startswith("pin-kiosk:"))
    assert entry.endswith(":/var/lib/pin-kiosk:/usr/sbin/nologin")


POLKIT_HARNESS = """
const fs = require("fs"); const rules = [];
const polkit = {Result: {YES: "yes", NO: "no"}, addRule: f => rules.push(f)};
new Function("polkit", fs.readFileSync(process.argv[1], "utf8"))(polkit);
const ask = (id, user) => rules.map(r => r({id, lookup: () => undefined}, {user}))
    .find(x => x !== undefined) || "unchanged";
console.log(JSON.stringify([
  ask("org.debian.pcsc-lite.access_pcsc", "pin-kiosk"), ask("org.debian.pcsc-lite.access_card", "pin-kiosk"),
  ask("org.debian.pcsc-lite.access_pcsc", "www-data"), ask("org.freedesktop.login1.reboot", "pin-kiosk")]));
"""


@pytest.mark.stack
def test_polkit_rule_grants_pcscd_to_the_service_user_only():
    # polkitd needs a system D-Bus, which this machine does not run; the rule is plain
    # JavaScript, so it runs in node with a stand-in for the `polkit` object polkitd provides.
    node = shutil.which("node")
    assert node, "node (Debian package nodejs) runs the polkit rule in this test"
    r = subprocess.run([node, "-e", POLKIT_HARNESS, str(SYSTEMD / "polkit-60-pin-kiosk.rules")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == '["yes","yes","unchanged","unchanged"]'
    assert "-a" in (SYSTEMD / "polkit-60-pin-kiosk.rules").read_text()  # the never-run-with -a note
