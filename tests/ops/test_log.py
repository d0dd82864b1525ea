"""Log lines: one per event, and an unexpected exception never prints its message (it may be a key)."""
import io
import logging
import subprocess
import sys

import pytest

from kiosk.log import describe_exception, setup_logging
from kiosk.loop import EventLoop


def test_exception_is_type_and_place_never_message():
    try:
        {}["K7QX"]  # what an unexpected lookup of a keypad key looks like
    except KeyError as exc:
        text = describe_exception(exc)
    assert text.startswith("KeyError at ops/test_log.py:") and "K7QX" not in text


def test_a_failing_loop_callback_logs_one_line_without_the_message():
    out = io.StringIO()
    setup_logging("info", stream=out)
    loop = EventLoop()

    def callback(now_s):
        loop.stop()
        raise KeyError("K7QX")

    loop.call_later(0, callback)
    loop.run()
    loop.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and "KeyError at" in lines[0] and "K7QX" not in lines[0]
    assert loop.errors == 1


def test_multiline_messages_stay_on_one_line():
    out = io.StringIO()
    setup_logging("info", stream=out)
    logging.getLogger("pin_kiosk.test").warning("a\nb\rc")
    assert out.getvalue() == "WARNING test: a\\nb\\rc\n"


@pytest.mark.stack
def test_internal_error_in_a_command_is_one_line_without_the_message(tmp_path):
    # a drift state file that is a directory makes `drift status` fail inside; no traceback
    (tmp_path / "drift.json").mkdir()
    r = subprocess.run([sys.executable, "-m", "kiosk", "drift", "status", "--state-dir", str(tmp_path)],
                       capture_output=True, text=True)
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.stack
def test_under_systemd_each_line_carries_its_syslog_priority(tmp_path):
    """stderr as the journal stream (JOURNAL_STREAM = its dev:inode): <N> prefixes; anything else: none."""
    import os
    log_file = tmp_path / "stderr"
    script = ("import logging, sys; from kiosk.log import setup_logging; setup_logging('debug'); "
              "g = logging.getLogger('pin_kiosk.t'); g.debug('d'); g.info('i'); g.warning('w'); g.error('e')")
    with open(log_file, "w") as fh:
        st = os.fstat(fh.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", script], stderr=fh, env=env, check=True)
    assert log_file.read_text().splitlines() == ["<7>DEBUG t: d", "<6>INFO t: i", "<4>WARNING t: w", "<3>ERROR t: e"]
    # a JOURNAL_STREAM inherited by a process whose stderr is elsewhere (a pipe): no prefixes
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert r.stderr.splitlines()[2] == "WARNING t: w"
