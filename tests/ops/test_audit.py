"""The audit trail: a whole chain verifies, every kind of tampering is caught, nothing but
whitelisted fields (never a PIN) can be written, a torn last line is quarantined."""
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.audit import (
    AUDIT_FILE, GENESIS, KINDS, QUARANTINE_FILE, AuditBusy, AuditError, AuditTrail, record_hash, verify_chain,
)
from kiosk.metrics import MetricsSnapshot, write_metrics
from kiosk.pin import Pin, PinType
from support_scan import pin_in_logs
from support_ops import REPO, FakeClock, audit_lines, pin_kiosk, set_audit_lines, write_sample_trail


def test_a_written_trail_verifies_and_the_head_is_the_last_hash(tmp_path):
    heads = write_sample_trail(tmp_path)
    lines = audit_lines(tmp_path)
    assert len(lines) == len(heads) == 21
    recs = [json.loads(x) for x in lines]
    assert recs[0]["prev"] == GENESIS and [r["seq"] for r in recs] == list(range(1, 22))
    assert all(r["prev"] == p["hash"] for p, r in zip(recs, recs[1:]))
    assert [r["hash"] for r in recs] == heads
    report = verify_chain(tmp_path / AUDIT_FILE, expected_head=heads[5])
    assert report.ok and report.records == 21 and report.head == heads[-1] and report.first_bad_line is None


def test_reopening_continues_the_chain(tmp_path):
    heads = write_sample_trail(tmp_path, sessions=1)
    with AuditTrail(tmp_path) as trail:
        assert trail.head == heads[-1] and trail.seq == len(heads) and trail.opened_report.ok
        new = trail.record("shutdown", reason="SIGTERM")
        assert trail.head == new
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert report.ok and report.records == len(heads) + 1 and report.head == new


def test_an_empty_or_missing_trail_is_ok(tmp_path):
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert report.ok and report.records == 0 and report.head == GENESIS


def _edit(lines):
    rec = json.loads(lines[5])
    assert rec["kind"] == "pin.result" and rec["result"] == "wrong"
    lines[5] = lines[5].replace('"result":"wrong"', '"result":"ok"')
    return 6


def _edit_and_rehash(lines):  # a careful forger recomputes this record's hash: the next prev breaks
    rec = json.loads(lines[5])
    rec["result"] = "ok"
    rec["hash"] = record_hash(rec)
    lines[5] = json.dumps(rec, separators=(",", ":"))
    return 7


def _whitespace(lines):
    lines[4] = lines[4].replace(",", ", ", 1)
    return 5


def _delete_middle(lines):
    del lines[10]
    return 11


def _delete_first(lines):
    del lines[0]
    return 1


def _reorder(lines):
    lines[5], lines[6] = lines[6], lines[5]
    return 6


def _insert_copy(lines):
    lines.insert(9, lines[8])
    return 10


def _insert_forged(lines):  # a well-formed record with a valid own hash, slipped in
    rec = json.loads(lines[3])
    rec["seq"] = 5
    rec["hash"] = record_hash(rec)
    lines.insert(4, json.dumps(rec, separators=(",", ":")))
    return 5


def _extra_field(lines):  # a field outside the whitelist, with the hash recomputed
    rec = json.loads(lines[7])
    rec["note"] = "x"
    rec["hash"] = record_hash(rec)
    lines[7] = json.dumps(rec, separators=(",", ":"))
    return 8


def _duplicate_key(lines):
    lines[7] = lines[7][:-1] + ',"result":"wrong"}'
    return 8


def _garbage(lines):
    lines[2] = "not json at all"
    return 3


TAMPERING = [_edit, _edit_and_rehash, _whitespace, _delete_middle, _delete_first, _reorder, _insert_copy,
             _insert_forged, _extra_field, _duplicate_key, _garbage]


@pytest.mark.parametrize("tamper", TAMPERING, ids=lambda f: f.__name__.strip("_"))
def test_verify_reports_the_first_bad_record(tmp_path, tamper):
    write_sample_trail(tmp_path)
    lines = audit_lines(tmp_path)
    bad_line = tamper(lines)
    set_audit_lines(tmp_path, lines)
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert not report.ok
    assert report.first_bad_line == bad_line, report.reason
    assert report.records == bad_line - 1 and report.reason


def test_a_torn_last_line_is_reported_by_verify(tmp_path):
    write_sample_trail(tmp_path, sessions=1)
    with open(tmp_path / AUDIT_FILE, "ab") as f:
        f.write(b'{"seq":10,"ts":"2026-')
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert not report.ok and report.first_bad_line == 10 and "torn" in report.reason and report.records == 9


def test_records_cut_off_the_end_are_caught_with_the_head_the_console_saw(tmp_path):
    heads = write_sample_trail(tmp_path)
    set_audit_lines(tmp_path, audit_lines(tmp_path)[:-2])
    assert verify_chain(tmp_path / AUDIT_FILE).ok  # the file alone cannot tell...
    report = verify_chain(tmp_path / AUDIT_FILE, expected_head=heads[-1])  # ...the console's head can
    assert not report.ok and "head the console saw" in report.reason


def test_a_full_rewrite_with_recomputed_hashes_is_caught_with_the_console_head(tmp_path):
    heads = write_sample_trail(tmp_path, sessions=1)
    prev, forged = GENESIS, []
    for line in audit_lines(tmp_path):  # change one result, then recompute every prev and hash after it
        rec = json.loads(line)
        if rec["kind"] == "pin.result":
            rec["result"] = "ok"
        rec["prev"] = prev
        rec["hash"] = prev = record_hash(rec)
        forged.append(json.dumps(rec, separators=(",", ":")))
    set_audit_lines(tmp_path, forged)
    assert verify_chain(tmp_path / AUDIT_FILE).ok  # internally consistent...
    report = verify_chain(tmp_path / AUDIT_FILE, expected_head=heads[-1])
    assert not report.ok and "rewritten" in report.reason  # ...but not the chain the console saw


def test_a_torn_last_line_is_an_unclean_shutdown_kept_in_quarantine_never_tampering(tmp_path, caplog):
    heads = write_sample_trail(tmp_path, sessions=1)
    torn = b'{"seq":10,"ts":"2026-11-26T10:00:00.000Z","kind":"card_ins'
    with open(tmp_path / AUDIT_FILE, "ab") as f:
        f.write(torn)
    with AuditTrail(tmp_path) as trail:
        assert not trail.opened_report.ok and "torn" in trail.opened_report.reason
        trail.record("boot", version="0.1.0", terminal="counter-1", boot="b2")
    q = [json.loads(x) for x in (tmp_path / QUARANTINE_FILE).read_text().splitlines()]
    assert len(q) == 1 and base64.b64decode(q[0]["torn_b64"]) == torn
    assert q[0]["after_seq"] == 9 and q[0]["after_hash"] == heads[-1]
    recs = [json.loads(x) for x in audit_lines(tmp_path)]
    assert recs[9]["kind"] == "shutdown.unclean" and recs[9]["bytes"] == len(torn) and recs[9]["after_seq"] == 9
    # a power cut, not tampering: no chain_broken record, no ERROR (main before issue 21 wrote both)
    assert [r["kind"] for r in recs[10:]] == ["boot"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"] and trail.broken_line is None
    assert trail.unclean == "torn_record"
    assert verify_chain(tmp_path / AUDIT_FILE).ok


def test_opening_a_broken_chain_records_the_break_and_keeps_it_visible(tmp_path):
    write_sample_trail(tmp_path, sessions=1)
    lines = audit_lines(tmp_path)
    _edit(lines)
    set_audit_lines(tmp_path, lines)
    with AuditTrail(tmp_path) as trail:  # by default only the last record is checked at start
        assert trail.opened_report.ok
    set_audit_lines(tmp_path, lines)
    with AuditTrail(tmp_path, verify_on_open=True) as trail:
        trail.record("shutdown", reason="SIGTERM")
    recs = [json.loads(x) for x in audit_lines(tmp_path)]
    assert recs[-2]["kind"] == "audit.chain_broken" and recs[-2]["line"] == 6
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert not report.ok and report.first_bad_line == 6


def test_opening_checks_the_last_record_and_records_a_break_there(tmp_path):
    write_sample_trail(tmp_path, sessions=1)
    lines = audit_lines(tmp_path)
    lines[-1] = lines[-1].replace('"reader":"Virtual PCD 00 00"', '"reader":"Other reader"')
    set_audit_lines(tmp_path, lines)
    with AuditTrail(tmp_path) as trail:
        assert not trail.opened_report.ok and trail.opened_report.first_bad_line == 9
    recs = [json.loads(x) for x in audit_lines(tmp_path)]
    assert recs[-1]["kind"] == "audit.chain_broken" and recs[-1]["line"] == 9 and recs[-1]["seq"] == 10
    assert verify_chain(tmp_path / AUDIT_FILE).first_bad_line == 9


def test_one_writer_at_a_time(tmp_path):
    trail = AuditTrail(tmp_path)
    with pytest.raises(AuditBusy):
        AuditTrail(tmp_path)
    trail.close()
    AuditTrail(tmp_path).close()
    with pytest.raises(RuntimeError):
        trail.record("shutdown", reason="x")


@pytest.mark.parametrize("kind,fields,why", [
    ("keypress", {"x": 1}, "unknown audit kind"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify", "result": "ok",
                    "tries_left": 3, "pin": "1234"}, "not allowed"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify", "result": "ok",
                    "tries_left": 3, "keys": [1, 2]}, "not allowed"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify"}, "result is required"),
    ("pin.result", {"session": "s", "pin_type": "pin4", "action": "verify", "result": "ok"}, "must be one of"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify", "result": "ok",
                    "tries_left": "3"}, "must be an integer"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify", "result": "ok",
                    "tries_left": True}, "must be an integer"),
    ("pin.result", {"session": "s", "pin_type": "user_auth", "action": "verify", "result": "ok",
                    "tries_left": 99}, "from 0 to 15"),
    ("session.start", {"session": "s 1", "pin_type": "user_auth", "action": "verify"}, "must be 1+"),
    ("alert", {"code": "x", "message": "two\nlines"}, "printable"),
    ("calibration", {"technician": "t1", "outcome": "accepted", "residuals_mm": [1.0, float("nan")]},
     "must hold numbers"),
    ("drift.level", {"level_from": "ok", "level_to": "warn", "shift_mm": float("inf")}, "from 0"),
])
def test_the_whitelist_refuses_anything_else(tmp_path, kind, fields, why):
    with AuditTrail(tmp_path) as trail:
        with pytest.raises(AuditError, match=why):
            trail.record(kind, **fields)
    assert not (tmp_path / AUDIT_FILE).exists()


def test_a_pin_or_bytes_can_never_be_passed_whatever_the_field(tmp_path):
    pin = Pin.from_text("4827")
    with AuditTrail(tmp_path) as trail:
        for key in ("session", "message", "reader", "code", "anything"):
            with pytest.raises(AuditError, match="a Pin is never audited"):
                trail.record("alert", **{key: pin})
        with pytest.raises(AuditError, match="raw bytes"):
            trail.record("alert", code="x", message=bytearray(b"4827"))
    assert not (tmp_path / AUDIT_FILE).exists()
    pin.wipe()


def test_every_kind_has_a_whitelist_of_typed_fields():
    for kind, spec in KINDS.items():
        assert spec, kind
        assert not {"pin", "keys", "key", "position", "x_px", "y_px"} & set(spec), kind


def test_a_known_pin_flow_leaves_no_pin_in_the_audit_or_metrics_files(tmp_path):
    """Play the records of sessions with known PINs; the PINs appear in no byte written."""
    pins = {PinType.USER_AUTH: "4827", PinType.SIGNATURE: "K7Q2M9X4", PinType.RESIDENT_REGISTRY: "9051"}
    with AuditTrail(tmp_path) as trail:
        for n, (pin_type, text) in enumerate(pins.items(), start=1):
            pin = Pin.from_text(text)
            trail.record("session.start", session=f"s{n}", pin_type=pin_type, action="verify")
            for field in ("session", "result", "operator"):  # every try to sneak it in fails
                with pytest.raises(AuditError):
                    trail.record("pin.result", **{"session": f"s{n}", "pin_type": pin_type,
                                                  "action": "verify", "result": "ok", field: pin})
            trail.record("pin.result", session=f"s{n}", pin_type=pin_type, action="verify", result="wrong",
                         tries_left=2)
            trail.record("alert", code="pin_entry", message=f"entry {pin} refused")  # formats as a mask
            trail.record("session.end", session=f"s{n}", reason="timeout", cleared=True)
            pin.wipe()
    write_metrics(tmp_path / "metrics.prom", MetricsSnapshot("counter-1", {"wrong": 3}), now_s=1.0)
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"session.start" in written and b"pin_kiosk_sessions_total" in written
    for text in pins.values():
        assert not pin_in_logs(text, written)
    assert verify_chain(tmp_path / AUDIT_FILE).ok


# -- property: any single change to the file is caught ----------------------------
_trail_cache: dict[str, tuple[list[str], str]] = {}


def _sample(tmp_path_factory) -> tuple[list[str], str]:
    if "t" not in _trail_cache:
        d = tmp_path_factory.mktemp("trail")
        heads = write_sample_trail(d, sessions=2)
        _trail_cache["t"] = (audit_lines(d), heads[-1])
    return _trail_cache["t"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_change_is_caught_given_the_console_head(tmp_path_factory, data):
    lines, head = _sample(tmp_path_factory)
    lines = list(lines)
    op = data.draw(st.sampled_from(["delete", "swap", "duplicate", "flip", "truncate"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if op == "delete":
        del lines[i]
    elif op == "swap":
        j = data.draw(st.integers(0, len(lines) - 1).filter(lambda j: j != i))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "flip":
        k = data.draw(st.integers(0, len(lines[i]) - 1))
        c = data.draw(st.sampled_from("0af9\"{}:, x"))
        if lines[i][k] == c:
            return
        lines[i] = lines[i][:k] + c + lines[i][k + 1:]
    else:
        lines = lines[:i]
    d = tmp_path_factory.mktemp("t")
    set_audit_lines(d, lines)
    assert not verify_chain(d / AUDIT_FILE, expected_head=head).ok


# -- the command line --------------------------------------------------------------
@pytest.mark.stack
def test_cli_verify_ok_and_bad(tmp_path):
    heads = write_sample_trail(tmp_path)
    r = pin_kiosk("audit", "verify", "--state-dir", str(tmp_path))
    assert r.returncode == 0 and "ok, 21 records" in r.stdout and heads[-1] in r.stdout
    lines = audit_lines(tmp_path)
    _delete_middle(lines)
    set_audit_lines(tmp_path, lines)
    r = pin_kiosk("audit", "verify", "--state-dir", str(tmp_path), "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["first_bad_line"] == 11 and out["records"] == 10
    r = pin_kiosk("audit", "verify", "--state-dir", str(tmp_path))
    assert r.returncode == 1 and "BAD at line 11" in r.stdout


@pytest.mark.stack
def test_cli_verify_with_the_console_head(tmp_path):
    heads = write_sample_trail(tmp_path)
    set_audit_lines(tmp_path, audit_lines(tmp_path)[:-1])
    assert pin_kiosk("audit", "verify", "--state-dir", str(tmp_path), "--head", heads[-2]).returncode == 0
    r = pin_kiosk("audit", "verify", "--state-dir", str(tmp_path), "--head", heads[-1])
    assert r.returncode == 1 and "end of trail" in r.stdout
    r = pin_kiosk("audit", "verify", "--state-dir", str(tmp_path), "--head", "xyz")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


@pytest.mark.stack
def test_cli_show_and_usage_errors(tmp_path):
    write_sample_trail(tmp_path)
    r = pin_kiosk("audit", "show", "--state-dir", str(tmp_path), "--kind", "pin.result", "--tail", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 2 and all(" pin.result " in x for x in out) and 'result="ok"' in out[-1]
    r = pin_kiosk("audit", "show", "--state-dir", str(tmp_path), "--json", "--tail", "1")
    assert json.loads(r.stdout)["kind"] == "card.removed"
    for bad in (["audit"], ["audit", "show", "--kind", "nope"], ["audit", "show", "--tail", "-1"]):
        r = pin_kiosk(*bad, "--state-dir", str(tmp_path))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, bad


def test_the_sessions_own_audit_effects_are_accepted_and_carry_no_pin(tmp_path):
    """Drive the real session core (kiosk.session) through wrong, right, timeout and card
    removal; write every ToAudit effect as the app will: ``record(fx.kind, **fx.fields)``."""
    from kiosk.session import CardOp, Session, ToAudit

    s = Session(inactivity_timeout_s=30)
    written: list[str] = []

    def run(fx, answer=None):
        out = list(fx)
        for f in fx:
            if isinstance(f, CardOp) and answer:
                out += run(s.card_result(s.now_s, f.request_id, *answer(f)))
        return out

    def play(now, pin_type, text, outcome, tries_left):
        fx = run(s.begin(now, pin_type, "verify", "clerk-7"), lambda f: ("ok", tries_left + 1))
        for ch in text:
            fx += s.key(now + 1, ch)
        fx += run(s.key(now + 2, "enter"), lambda f: (outcome, tries_left))
        return fx

    with AuditTrail(tmp_path) as trail:
        effects = play(0, PinType.USER_AUTH, "4827", "wrong", 1)
        effects += s.logout(5)
        effects += s.tick(20)
        effects += play(30, PinType.SIGNATURE, "K7Q2M9X4", "ok", 4)
        effects += s.card_removed(35)
        effects += s.tick(50)
        effects += run(s.begin(60, PinType.RESIDENT_REGISTRY), lambda f: ("ok", 3))
        effects += s.tick(200)  # inactivity timeout
        for fx in effects:
            if isinstance(fx, ToAudit):
                trail.record(fx.kind, **fx.fields)
                written.append(fx.kind)
    assert written.count("session.start") == 3 and written.count("session.end") == 3
    assert written.count("pin.result") >= 2
    data = (tmp_path / AUDIT_FILE).read_bytes()
    assert not pin_in_logs("4827", data) and not pin_in_logs("K7Q2M9X4", data)
    assert verify_chain(tmp_path / AUDIT_FILE).ok


WRITER = """
import sys
from kiosk.audit import AuditTrail
trail = AuditTrail(sys.argv[1])
while True:
    trail.record("alert", code="burst", message="x" * 200)
"""


@pytest.mark.stack
def test_a_writer_killed_mid_burst_leaves_a_chain_that_verifies_and_continues(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            path = tmp_path / AUDIT_FILE
            if path.exists() and path.stat().st_size > 40_000:
                break
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert report.ok and report.records > 50, report
    with AuditTrail(tmp_path) as trail:  # the flock died with the process
        assert trail.seq == report.records
        trail.record("boot", version="0.1.0", terminal="counter-1", boot="after-kill")
    assert verify_chain(tmp_path / AUDIT_FILE).ok


def test_records_from_several_threads_form_one_chain(tmp_path):
    with AuditTrail(tmp_path) as trail:
        def worker(n):
            for _ in range(40):
                trail.record("card.inserted", reader=f"reader {n}")
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report = verify_chain(tmp_path / AUDIT_FILE)
    assert report.ok and report.records == 160


def test_times_never_go_backwards_when_the_clock_does(tmp_path):
    """A Pi without RTC: the clock at boot can be behind the last record; ts holds, seq orders."""
    from kiosk.audit import AuditTrail, parse_utc_iso, verify_chain
    from kiosk.boot_clock import kernel_boot_id
    now = [1_790_000_000.0]
    with AuditTrail(tmp_path, clock=lambda: now[0]) as trail:
        trail.record("boot", version="0.1.0", terminal="t", boot="b1", kernel_boot=kernel_boot_id(), clock="synced")
        now[0] -= 3600  # NTP moved the clock back an hour
        trail.record("shutdown", reason="signal")
    now[0] = 1_000_000_000.0  # the next boot starts in 2001 (no RTC, no fake-hwclock)
    with AuditTrail(tmp_path, clock=lambda: now[0]) as trail:
        trail.record("boot", version="0.1.0", terminal="t", boot="b2", clock="unsynced")
        now[0] = 1_790_000_100.0  # synchronised
        trail.record("shutdown", reason="signal")
    recs = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    times = [parse_utc_iso(r["ts"]) for r in recs]
    assert times == [1_790_000_000.0, 1_790_000_000.0, 1_790_000_000.0, 1_790_000_100.0]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4] and recs[2]["clock"] == "unsynced"
    assert len(recs[0]["kernel_boot"]) == 32
    assert verify_chain(tmp_path / "audit.jsonl").ok
