"""Every state format loads whatever is on disk without raising, and says what it set aside.

Property tests (hypothesis) per format: random JSON structures, NaN,
Infinity, huge numbers, deep nesting, wrong types in a valid document, and
the valid file truncated at every byte.  What must hold: loading never
raises, a file that does not load is moved to ``NAME.corrupt-<time>`` (or, for
a log that goes on, copied there) with a notice, and a valid file loads as
it was written.  The real kiosk starts on such files in
``test_e2e_state_files.py``.
"""
from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calibration import store
from calibration.drift import DriftEstimator
from calibration.matrix import Affine
from drivers.touch.events import AxisRange, Axes
from kiosk import state_files
from kiosk.audit import AUDIT_FILE, AuditTrail, verify_chain
from kiosk.config import DriftConfig, config_from_dict
from kiosk.console_link import SEEN_COMMANDS_NAME, ConsoleLink
from kiosk.drift_state import STATE_FILE, load_estimator, save_estimator
from kiosk.journal import Journal
from kiosk.state_files import StateFileError, parse_json

AXES = Axes(AxisRange(0, 4095), AxisRange(0, 4095))
SCREEN = (800, 480)
M = Affine(0.19, 0.001, 5.0, -0.002, 0.118, -2.0)
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12))
json_values = st.recursive(leaves, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=16)
#: Texts no writer of ours produces: the constants Python's json accepts, huge numbers, deep nesting.
hostile = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "9" * 5000, "[" * 100_000,
                           '{"a":' * 50_000, '"\ud800"', "\x00", ""])


def dumps(value) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity as Python writes them: the hostile case


@st.composite
def edited(draw, valid: dict) -> str:
    """``valid`` with one value somewhere replaced by a random one (a wrong type, NaN, a deep list, ...)."""
    doc = json.loads(json.dumps(valid))
    text = dumps(doc)
    node = doc
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        k = draw(st.sampled_from(keys))
        if isinstance(node[k], (dict, list)) and node[k] and draw(st.booleans()):
            node = node[k]
            continue
        if draw(st.booleans()):
            node[k] = draw(json_values)
            return dumps(doc)
        marker = '"__HOSTILE__"'
        node[k] = "__HOSTILE__"
        return dumps(doc).replace(marker, draw(hostile), 1)
    return text


def any_text(valid: dict):
    return st.one_of(edited(valid), json_values.map(dumps), hostile, st.binary(max_size=64).map(
        lambda b: b.decode("latin-1")))


# -- the one strict reader -------------------------------------------------------------------------
@SETTINGS
@given(text=st.one_of(json_values.map(dumps), hostile, st.binary(max_size=200)))
def test_parse_json_returns_finite_bounded_json_or_one_line_error(text):
    try:
        value = parse_json(text, max_bytes=200_000)
    except StateFileError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    # what it returns is what the kiosk writes: no NaN or Infinity anywhere, nested at most MAX_DEPTH
    json.dumps(value, allow_nan=False)
    assert state_files._depth_ok(value, state_files.MAX_DEPTH)


def test_parse_json_refuses_what_pythons_json_accepts():
    for text in ("NaN", "[Infinity]", '{"a": -Infinity}', "1e999", '{"a":1,"a":2}', "9" * 5000, "[" * 100_000,
                 "[" * 17 + "]" * 17):
        with pytest.raises(StateFileError):
            parse_json(text)
    assert parse_json("[" * 16 + "]" * 16) is not None


# -- calibration/active.json -------------------------------------------------------------------------
def _calibrated(d: Path) -> dict:
    store.install(d, M, {"technician": "t1", "installed_at": "2026-12-03T10:00:00Z", "rejected": [3]},
                  axes=AXES, screen=SCREEN)
    return json.loads((d / "calibration" / "active.json").read_text())


def _load_calibration(d: Path, data: bytes, keep_history: bool):
    path = d / "calibration" / "active.json"
    path.write_bytes(data)
    if not keep_history:
        (d / "calibration" / "history.jsonl").unlink(missing_ok=True)
    affine, status = store.load_active(d, AXES, SCREEN, set_aside_corrupt=True)
    if status.source == "active":
        assert not status.set_aside and path.read_bytes() == data
    elif status.alert == "calibration_corrupt" or status.set_aside:
        (notice,) = status.set_aside
        assert not path.exists() and (d / notice.kept_as).read_bytes() == data
        assert notice.file == "calibration/active.json" and notice.reason
        assert status.alert == ("calibration_corrupt" if status.source == "history" else "calibration_missing")
        assert affine == (M if status.source == "history" else store.uncalibrated(AXES, SCREEN))
        for p in (d / "calibration").glob("active.json.corrupt-*"):
            p.unlink()
    else:
        assert status.alert == "calibration_mismatch" and path.exists()  # another panel's: valid, kept
    assert isinstance(status.meta, dict) and all(math.isfinite(v) for v in affine.as_tuple())


@SETTINGS
@given(data=st.data(), keep_history=st.booleans())
def test_calibration_loads_anything_and_sets_aside_what_it_cannot_use(data, keep_history):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        valid = _calibrated(d)
        text = data.draw(any_text(valid))
        _load_calibration(d, text.encode("utf-8", "surrogatepass"), keep_history)


def test_calibration_truncated_at_every_byte():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        _calibrated(d)
        full = (d / "calibration" / "active.json").read_bytes()
        for n in range(len(full)):
            _load_calibration(d, full[:n], keep_history=n % 2 == 0)


# -- drift.json ----------------------------------------------------------------------------------------
def _drift_valid() -> dict:
    est = DriftEstimator(DriftConfig(), 14.5)
    return json.loads(est.to_json())


def _load_drift(d: Path, data: bytes, save: bool = True) -> None:
    cfg = config_from_dict({"state": {"dir": str(d)}})
    (d / STATE_FILE).write_bytes(data)
    est, notice = load_estimator(cfg, 14.5, set_aside_corrupt=True)
    status = est.status()
    json.dumps(status, allow_nan=False)  # whatever it loaded is fit for frames and metrics
    if notice is None:
        assert (d / STATE_FILE).read_bytes() == data
    else:
        assert est.learning and est.sessions == 0 and not (d / STATE_FILE).exists()
        assert (d / notice.kept_as).read_bytes() == data and "from now" in notice.consequence
        (d / notice.kept_as).unlink()
    if save:
        save_estimator(cfg, est)  # and it can be written back


@SETTINGS
@given(data=st.data())
def test_drift_state_loads_anything_and_resets_what_it_cannot_use(data):
    with tempfile.TemporaryDirectory() as tmp:
        _load_drift(Path(tmp), data.draw(any_text(_drift_valid())).encode("utf-8", "surrogatepass"))


def test_drift_state_truncated_at_every_byte():
    full = json.dumps(_drift_valid()).encode()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(len(full) + 1):
            _load_drift(Path(tmp), full[:n], save=n % 50 == 0)


# -- console journal -------------------------------------------------------------------------------------
FRAME = {"v": 1, "type": "alert", "seq": 1, "boot": "0123456789abcdef", "ts": "2026-12-03T10:00:00.000Z",
         "terminal": "t1", "code": "test", "message": "m"}
GOOD = [{"frame": FRAME}, {"frame": {**FRAME, "seq": 2}, "drop": [["0123456789abcdef", 1]]}, {"lost": 1},
        {"done": [["0123456789abcdef", 2]]}]


def _load_journal(d: Path, data: bytes) -> None:
    path = d / "console-journal.jsonl"
    path.write_bytes(data)
    j = Journal(path, 100)
    frames_ = j.load()
    for f in frames_:
        json.dumps(f, allow_nan=False)
    assert j.lost >= 0
    if j.corrupt_records:
        assert j.set_aside is not None and (d / j.set_aside.kept_as).is_file()
        assert "events may be lost" in j.set_aside.consequence
        (d / j.set_aside.kept_as).unlink()
    else:
        assert j.set_aside is None
    assert [f["seq"] for f in Journal(path, 100).load()] == [f["seq"] for f in frames_]  # compacted, stable


@SETTINGS
@given(data=st.data(), which=st.integers(0, len(GOOD) - 1))
def test_journal_loads_anything_and_keeps_its_good_records(data, which):
    lines = [json.dumps(r) for r in GOOD]
    lines[which] = data.draw(any_text(GOOD[which])).replace("\n", " ")
    with tempfile.TemporaryDirectory() as tmp:
        _load_journal(Path(tmp), ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))


def test_journal_truncated_at_every_byte():
    full = ("\n".join(json.dumps(r) for r in GOOD) + "\n").encode()
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(len(full) + 1):
            _load_journal(Path(tmp), full[:n])


# -- commands seen ---------------------------------------------------------------------------------------
@SETTINGS
@given(text=st.one_of(edited([["0123456789abcdef", 5], ["fedcba9876543210", 7]]), json_values.map(dumps), hostile))
def test_commands_seen_loads_anything(text):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / SEEN_COMMANDS_NAME).write_text(text, errors="surrogatepass")
        cfg = config_from_dict({"console": {"port": "loop://"}, "state": {"dir": tmp}})
        link = ConsoleLink(cfg, d)
        try:
            if link.set_aside:
                (notice,) = link.set_aside
                assert notice.file == SEEN_COMMANDS_NAME and not (d / SEEN_COMMANDS_NAME).exists()
        finally:
            link.close()


# -- audit trail: any last line, and a torn tail at every byte --------------------------------------------
def _trail(d: Path) -> list[str]:
    with AuditTrail(d) as trail:
        trail.record("boot", version="0.1.0", terminal="t1", boot="b1")
        trail.record("drift.check", technician="t1", passed=True, rms_mm=1.0, max_mm=2.0)
    return (d / AUDIT_FILE).read_text().splitlines()


@SETTINGS
@given(data=st.data())
def test_audit_opens_on_any_last_line_and_reports_it_as_a_break(data):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        lines = _trail(d)
        last = data.draw(any_text(json.loads(lines[-1]))).replace("\n", " ").replace("\r", " ")
        (d / AUDIT_FILE).write_text("\n".join(lines[:-1] + [last]) + "\n", errors="surrogatepass")
        with AuditTrail(d) as trail:
            pass
        if last != lines[-1] and last.strip():
            assert trail.broken_line == 2 and verify_chain(d / AUDIT_FILE).first_bad_line == 2


def test_audit_torn_at_every_byte_of_the_last_record_is_an_unclean_shutdown_not_a_break():
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        lines = _trail(d)
        whole = "\n".join(lines[:-1]) + "\n"
        for n in range(1, len(lines[-1])):
            (d / AUDIT_FILE).write_text(whole + lines[-1][:n])
            (d / "audit.quarantine").unlink(missing_ok=True)
            with AuditTrail(d) as trail:
                assert trail.unclean == "torn_record" and trail.broken_line is None
            recs = [json.loads(x) for x in (d / AUDIT_FILE).read_text().splitlines()]
            assert recs[-1]["kind"] == "shutdown.unclean" and recs[-1]["bytes"] == n
            assert verify_chain(d / AUDIT_FILE).ok
