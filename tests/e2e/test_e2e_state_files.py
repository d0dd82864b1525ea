"""``pin-kiosk run`` always starts, whatever an earlier run (or a person) left in the state directory.

Each test edits one state file the way issue 21 measured on main (every one of
these kept the kiosk from starting: exit 1, under systemd a restart loop),
starts the real kiosk (``support_kiosk``: FIFO finger, pty console, simulated
card), and checks that it starts, says which file and why (an alert to the
console and an audit record), keeps the bad file aside and runs on the safe
state.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support_kiosk import KioskUnderTest
from support_repo import ROOT

from calibration.drift import DriftEstimator
from kiosk.audit import AUDIT_FILE, AuditTrail, verify_chain
from kiosk.config import DriftConfig
from kiosk.console_link import SEEN_COMMANDS_NAME
from kiosk.journal import JOURNAL_NAME

pytestmark = pytest.mark.stack

ENVELOPE = {"v": 1, "seq": 1, "boot": "0123456789abcdef", "ts": "2026-12-03T10:00:00.000Z", "terminal": "e2e-1"}
FRAME = {**ENVELOPE, "type": "alert", "code": "test", "message": "from the last run"}


def audit_records(state: Path) -> list[dict]:
    """The trail's records; a line that is not one (the edits below) as {"kind": None}."""
    out = []
    for line in (state / AUDIT_FILE).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):
            out.append({"kind": None})
    return out


def set_aside_reported(k: KioskUnderTest, name: str) -> tuple[dict, dict]:
    """The alert and the audit record of ``name`` set aside, and the kept copy exists."""
    alert = k.wait_frame("alert", code="state_file_unusable")
    assert name in alert["message"], alert
    k.finish()
    (rec,) = [r for r in audit_records(k.state_dir) if r["kind"] == "state.set_aside"]
    assert rec["file"] == name and rec["kept_as"].startswith(f"{name}.corrupt-")
    assert (k.state_dir / rec["kept_as"]).is_file()
    assert verify_chain(k.state_dir / AUDIT_FILE).ok
    return alert, rec


# -- the audit trail: a whole line that does not verify is a break, reported, never a crash ----------
def _audit_with_last_line(edit):
    def prepare(state: Path) -> None:
        with AuditTrail(state) as trail:
            trail.record("boot", version="0.1.0", terminal="e2e-1", boot="b0")
            trail.record("drift.check", technician="t1", passed=True, rms_mm=1.0, max_mm=2.0)
        lines = (state / AUDIT_FILE).read_text().splitlines()
        (state / AUDIT_FILE).write_text("\n".join(lines[:-1] + [edit(lines[-1])]) + "\n")
    return prepare


@pytest.mark.parametrize("edit", [
    lambda line: line.replace('"rms_mm":1.0', '"rms_mm":NaN'),       # the last record holding NaN
    lambda line: "[" * 100_000,                                       # RecursionError on main
], ids=["nan", "deep"])
def test_a_last_audit_record_that_does_not_verify(tmp_path, edit):
    k = KioskUnderTest(tmp_path, card="sim", prepare=_audit_with_last_line(edit))
    alert = k.wait_frame("alert", code="audit_chain_broken")
    assert "line 2" in alert["message"]
    k.finish()
    kinds = [r["kind"] for r in audit_records(k.state_dir)[2:]]
    assert kinds[0] == "audit.chain_broken" and "boot" in kinds and "shutdown.unclean" not in kinds
    assert verify_chain(k.state_dir / AUDIT_FILE).first_bad_line == 2  # the break stays visible


# -- the console journal: bad records skipped, the file kept aside, events may be lost -----------------
@pytest.mark.parametrize("record", [
    '{"frame":' + json.dumps({**ENVELOPE, "type": "drift", "level": "ok", "shift_mm": "N"}).replace('"N"', "NaN")
    + "}",                                                                      # a frame holding NaN
    '{"lost": Infinity}',
    json.dumps({"frame": {**FRAME, "message": "x" * 5000}}),                    # no frame fits 5 KB
], ids=["nan", "lost-infinity", "5kb"])
def test_a_bad_journal_record(tmp_path, record):
    good = {**FRAME, "seq": 2, "message": "still pending"}

    def prepare(state: Path) -> None:
        (state / JOURNAL_NAME).write_text(record + "\n" + json.dumps({"frame": good}) + "\n")

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    k.wait_frame("alert", message="still pending")  # the good frame is still replayed
    alert, rec = set_aside_reported(k, JOURNAL_NAME)
    assert "events may be lost" in alert["message"] and "1 of 2 records" in rec["reason"]
    assert (k.state_dir / rec["kept_as"]).read_text().startswith(record)


def test_infinity_in_the_commands_seen(tmp_path):
    def prepare(state: Path) -> None:
        (state / SEEN_COMMANDS_NAME).write_text('[["0123456789abcdef", Infinity]]')

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    alert, rec = set_aside_reported(k, SEEN_COMMANDS_NAME)
    assert "carried out twice" in alert["message"] and not (k.state_dir / SEEN_COMMANDS_NAME).exists()


def test_infinity_in_the_drift_state(tmp_path):
    def prepare(state: Path) -> None:
        doc = json.loads(DriftEstimator(DriftConfig(), 14.5).to_json())
        doc["sessions"] = "INF"
        (state / "drift.json").write_text(json.dumps(doc).replace('"INF"', "Infinity"))

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    assert k.wait_frame("status")["drift"] == {"level": "ok", "shift_mm": 0.0, "shift_x_mm": 0.0,
                                               "shift_y_mm": 0.0, "taps": 0}
    alert, rec = set_aside_reported(k, "drift.json")
    assert "baseline learned again from now" in alert["message"]
    assert not (k.state_dir / "drift.json").exists()  # nothing learned yet: the next session saves


def test_calibration_meta_as_a_list(tmp_path):
    def prepare(state: Path) -> None:
        path = state / "calibration" / "active.json"
        doc = json.loads(path.read_text())
        doc["meta"] = ["not", "an", "object"]
        path.write_text(json.dumps(doc))

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    k.wait_frame("alert", code="calibration_corrupt")  # the history's copy is used meanwhile
    set_aside_reported(k, "calibration/active.json")


def test_no_usable_calibration_at_all_is_calibration_missing(tmp_path):
    def prepare(state: Path) -> None:
        (state / "calibration" / "active.json").write_text('{"version": 1, "affine": [NaN')
        (state / "calibration" / "history.jsonl").unlink()

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    k.wait_frame("alert", code="calibration_missing")  # the technician's job now
    status = k.wait_frame("status")
    assert status["calibrated"] is False
    set_aside_reported(k, "calibration/active.json")


# -- leftovers of interrupted writes -------------------------------------------------------------------
INSTALL_FOREVER = """
import sys
from calibration import store
from calibration.matrix import Affine
from drivers.touch.events import AxisRange, Axes
axes = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
while True:
    store.install(sys.argv[1], Affine(0.19, 0.0, 5.0, 0.0, 0.118, -2.0), {"n": 1}, axes=axes, screen=(800, 480))
"""


def test_temp_files_of_writes_killed_midway_are_removed_at_start(tmp_path):
    left_before = []

    def prepare(state: Path) -> None:
        for i in range(12):  # kill -9 during calibration saves, as a power cut would
            p = subprocess.Popen([sys.executable, "-c", INSTALL_FOREVER, str(state)], cwd=ROOT)
            time.sleep(0.8 + (i % 7) * 0.013)  # past start-up, somewhere in the install loop
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        (state / ".drift.json.k1llx9.tmp").write_bytes(b'{"version": 1')  # one for sure, whatever the timing
        left_before.extend(p.name for p in state.rglob(".*.tmp"))

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    k.finish()
    assert left_before and [p.name for p in k.state_dir.rglob(".*.tmp")] == []
    assert f"removed {len(left_before)} temporary files of interrupted writes" in k.err()
    assert (k.state_dir / "calibration" / "active.json").is_file()  # the calibration itself untouched


def test_a_power_cut_mid_record_is_an_unclean_shutdown_not_tampering(tmp_path):
    def prepare(state: Path) -> None:
        with AuditTrail(state) as trail:
            trail.record("boot", version="0.1.0", terminal="e2e-1", boot="b0")
        with open(state / AUDIT_FILE, "ab") as f:  # the power went while this record was written
            f.write(b'{"seq":2,"ts":"2026-12-03T10:00:00.000Z","kind":"card.ins')

    k = KioskUnderTest(tmp_path, card="sim", prepare=prepare)
    k.wait_frame("status")
    k.finish()
    recs = audit_records(k.state_dir)
    assert recs[1]["kind"] == "shutdown.unclean" and recs[1]["bytes"] == 57
    assert "audit.chain_broken" not in [r["kind"] for r in recs]
    assert not k.frames("alert") or all(a["code"] != "audit_chain_broken" for a in k.frames("alert"))
    assert "ERROR" not in k.err() and "unclean shutdown" in k.err()
    assert verify_chain(k.state_dir / AUDIT_FILE).ok
