"""The command line frame: help lists every subcommand, exit codes, version."""
import subprocess
import sys

import pytest

from kiosk import __version__
from kiosk.cli import COMMANDS

pytestmark = pytest.mark.stack


def pin_kiosk(*args, **kw):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True, **kw)


def test_help_lists_every_subcommand_with_one_line():
    r = pin_kiosk("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert f"    {name}" in r.stdout


def test_every_subcommand_has_help():
    for name in COMMANDS:
        r = pin_kiosk(name, "--help")
        assert r.returncode == 0, (name, r.stderr)
        assert "usage: pin-kiosk" in r.stdout


def test_version():
    r = pin_kiosk("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"pin-kiosk {__version__}"


def test_no_subcommand_and_unknown_subcommand_exit_2():
    assert pin_kiosk().returncode == 2
    r = pin_kiosk("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_common_options_work_after_the_subcommand(tmp_path):
    r = pin_kiosk("config", "--json", "--state-dir", str(tmp_path), "--card", "sim")
    assert r.returncode == 0, r.stderr
    assert f'"dir": "{tmp_path}"' in r.stdout
