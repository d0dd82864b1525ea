"""``pin-kiosk run`` refusing to start says why in one line (exit 1), and nothing else."""
import subprocess
import sys

import pytest

import pytest

from kiosk.audit import AuditTrail

from support_repo import ROOT

pytestmark = pytest.mark.stack


def run(tmp_path, *extra):
    cmd = [sys.executable, "-m", "kiosk", "run", "--video", "dummy", "--card", "sim", "--serial", "loop://",
           "--touch", f"events:{tmp_path / 'no-panel'}", "--state-dir", str(tmp_path / "state"), *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SDL_VIDEODRIVER": "dummy"})


def errors(r):
    return [ln for ln in r.stderr.splitlines() if not ln.startswith(("INFO", "WARNING"))]


def test_no_japanese_font(tmp_path):
    config = tmp_path / "k.toml"
    config.write_text('[screen]\nfont_path = "/nonexistent/font.ttc"\n')
    r = run(tmp_path, "--config", str(config))
    assert r.returncode == 1
    (line,) = errors(r)
    assert "screen.font_path" in line and "fonts-noto-cjk" in line and "Traceback" not in r.stderr


def test_state_dir_held_by_another_kiosk(tmp_path):
    trail = AuditTrail(tmp_path / "state")  # the running kiosk holds the trail
    try:
        r = run(tmp_path)
    finally:
        trail.close()
    assert r.returncode == 1
    (line,) = errors(r)
    assert "another kiosk is running" in line


@pytest.mark.stack
def test_a_pcsc_source_without_a_reader_pattern_is_refused(tmp_path):
    """Any reader would do: the PIN could reach a card in another reader.  One line, exit 2."""
    config = tmp_path / "k.toml"
    config.write_text('[card]\nsource = "pcsc"\nreader_pattern = ""\n')
    r = run(tmp_path, "--config", str(config), "--card", "pcsc")
    assert r.returncode == 2
    (line,) = errors(r)
    assert f"{config}: card.reader_pattern: empty" in line and "Traceback" not in r.stderr


def test_the_shipped_production_config_names_its_reader():
    from kiosk.config import load_config

    assert load_config(ROOT / "config" / "kiosk.toml").card.reader_pattern
