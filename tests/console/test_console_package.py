"""The console distribution for the staff PC (console/pyproject.toml): what it holds, and that the console
runs from it alone, with pygame, pyscard, evdev and the POSIX-only ``resource`` refused and libc absent."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import prompt_toolkit
import serial
import pytest
import wcwidth

from support_repo import ROOT

pytestmark = pytest.mark.stack  # builds and runs the wheel in subprocesses

#: Run inside a bare interpreter (-S -I): only the installed wheel and the console's own dependencies
#: are on sys.path; the terminal's drivers are refused as on a PC that lacks them, and loading a
#: C library fails as it does on Windows.
RUN = r"""
import sys, importlib.abc, ctypes
sys.path[:0] = sys.argv[1].split("|")
REFUSED = ("pygame", "smartcard", "evdev", "resource")
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in REFUSED:
            raise ImportError(f"{name} is not on the staff PC")
sys.meta_path.insert(0, Refuse())
def no_libc(*a, **k):
    raise OSError("no libc here")
ctypes.CDLL = no_libc
import kiosk.console.line, kiosk.console.window, kiosk.console.plain
from kiosk.console.main import main
assert kiosk.console.main.__file__.startswith(sys.argv[1].split("|")[0]), kiosk.console.main.__file__
rc = main(["--port", "loop://"])
bad = sorted(m for m in sys.modules if m.split(".")[0] in REFUSED + ("calibration",) or m in ("kiosk.app", "kiosk.terminal", "kiosk.ui.render", "kiosk.ui.display", "kiosk.ui.fonts"))
print("RC", rc, "BAD", bad)
"""


def test_the_console_wheel_holds_the_console_only_and_runs_without_the_terminal_drivers(tmp_path):
    shutil.rmtree(ROOT / "console" / "build", ignore_errors=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path / "dist"), str(ROOT / "console")], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("pin_kiosk_console-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        metadata = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "kiosk/console/client.py" in names and "kiosk/console/window.py" in names
    assert not [n for n in names if n.startswith(("calibration/", "drivers/card", "drivers/touch"))
                or (n.startswith("kiosk/ui/") and n not in ("kiosk/ui/__init__.py", "kiosk/ui/strings.py"))
                or n in ("kiosk/app.py", "kiosk/session.py")]
    requires = sorted(line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist"))
    assert [r.split(">")[0].split(";")[0].strip() for r in requires] == ["prompt-toolkit", "pyserial", "tzdata"]

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    deps = [str(Path(m.__file__).resolve().parent.parent) for m in (serial, prompt_toolkit, wcwidth)]
    r = subprocess.run([sys.executable, "-S", "-I", "-c", RUN, "|".join([str(target), *deps])],
                       input="help\nbegin 2 op=tanaka\nquit\n", capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "RC 0 BAD []" in r.stdout, r.stdout + r.stderr
    assert "コマンド一覧" in r.stdout and "暗証番号の入力を始める" in r.stdout
