"""The pcscd set-ups that leak a PIN are found, in every place they hide, and nothing else is."""
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.pcscd_setup import argument_words, findings, logs_apdus, network_readers
from support_ops import REPO


@pytest.mark.parametrize("words,logs", [
    (["-a"], True), (["--apdu"], True), (["-fda"], True), (["-af"], True), (["-f", "-d", "-a"], True),
    (["--foreground", "--auto-exit"], False), (["-fd"], False), (["-x"], False),
    (["-c", "-a"], False),           # "-a" is -c's file argument here, not an option
    (["-ca.conf"], False),            # -c with its argument glued on
    (["-fc", "/etc/x", "-a"], True), (["--", "-a"], False), ([], False),
])
def test_apdu_logging_is_found_in_combined_short_flags_too(words, logs):
    assert logs_apdus(words) is logs


@pytest.mark.parametrize("text,logs", [
    ('PCSCD_ARGS="-fda"\n', True),
    ('PCSCD_ARGS="--debug --apdu"\n', True),
    ('# PCSCD_ARGS="-a"\nPCSCD_ARGS="--debug"\n', False),
    ("[Service]\nExecStart=\nExecStart=/usr/sbin/pcscd -f -a\n", True),
    ('[Service]\nEnvironment="PCSCD_ARGS=-da"\n', True),
    ("[Unit]\nDescription=PC/SC -a daemon\n", False),  # words outside Exec/Environment are prose
])
def test_arguments_are_read_from_environment_files_and_units(text, logs):
    assert logs_apdus(argument_words(text)) is logs


VPCD = Path("/etc/reader.conf.d/vpcd")
VPCD_TEXT = ('FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x8C7B\n'
             "LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so\nCHANNELID    0x8C7B\n")


def test_network_readers_are_found_by_port_or_by_vpcd_driver():
    assert network_readers(VPCD_TEXT) == ["Virtual PCD"]
    assert network_readers('FRIENDLYNAME "Lab"\nDEVICENAME 10.0.0.5:35963\nLIBPATH /usr/lib/x.so\n') == ["Lab"]
    serial = 'FRIENDLYNAME "GemPC410"\nDEVICENAME /dev/ttyS0\nLIBPATH /usr/lib/pcsc/drivers/serial/libccidtwin.so\n'
    assert network_readers(serial) == []
    assert network_readers(serial + VPCD_TEXT) == ["Virtual PCD"]


def write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


def test_findings_name_the_file_and_the_reason(tmp_path):
    assert findings(str(tmp_path)) == []
    write(tmp_path, "lib/systemd/system/pcscd.service", Path("/lib/systemd/system/pcscd.service").read_text())
    assert findings(str(tmp_path)) == []  # Debian's own unit: --foreground --auto-exit
    write(tmp_path, "etc/systemd/system/pcscd.service.d/debug.conf", "[Service]\nExecStart=\nExecStart=/usr/sbin/pcscd -fda\n")
    write(tmp_path, "etc/reader.conf.d/vpcd", VPCD_TEXT)
    found = [str(f) for f in findings(str(tmp_path))]
    assert len(found) == 2
    assert found[0].startswith("/etc/systemd/system/pcscd.service.d/debug.conf: ") and "-a/--apdu" in found[0]
    assert found[1].startswith("/etc/reader.conf.d/vpcd: reader 'Virtual PCD' talks over a network")


def test_a_reader_file_given_with_c_is_checked_too(tmp_path):
    write(tmp_path, "etc/default/pcscd", 'PCSCD_ARGS="-c /srv/readers.conf"\n')
    write(tmp_path, "srv/readers.conf", VPCD_TEXT)
    assert [f.file for f in findings(str(tmp_path))] == ["/srv/readers.conf"]


@pytest.mark.stack
@pytest.mark.skipif(not VPCD.exists(), reason="this machine's vpcd reader configuration (vsmartcard-vpcd)")
def test_run_preflight_refuses_this_developer_machine_in_one_line(tmp_path):
    """The developer machine has vsmartcard-vpcd (the test stack): the unit's run would refuse it."""
    r = subprocess.run([sys.executable, "-m", "kiosk", "run", "--preflight", "--card", "sim", "--video", "dummy",
                        "--state-dir", str(tmp_path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("pin-kiosk run: refused: /etc/reader.conf.d/vpcd: reader 'Virtual PCD'")
