"""A trail that a stolen SD card cannot rewrite: sealing and anchors over a real ``pin-kiosk run``.

The state directory is set up with ``pin-kiosk audit seal-init`` (the verification
key stays with the test, as with the city's IT team); the kiosk seals every second
and at shutdown.  Then the test is someone holding the card: it rewrites an early
record and recomputes every hash (the chain alone and ``--head`` pass it), and it
appends a record after the last seal (``--anchor`` flags it).  Last, the trail is
deleted: the next start is an alert and an audit record, not a silent new chain.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from support_kiosk import ROOT, KioskUnderTest
from kiosk.audit import GENESIS, record_hash
from kiosk.durable import read_records

pytestmark = pytest.mark.stack

SEALING = "[state]\nseal_interval_s = 1.0\n"


def audit(state, *args):
    return subprocess.run([sys.executable, "-m", "kiosk", "audit", *args, "--state-dir", str(state)],
                          capture_output=True, text=True, cwd=ROOT)


def rewrite(path, recs):
    """Any records, every hash recomputed, in the kiosk's own form."""
    prev, out = GENESIS, []
    for i, rec in enumerate(recs, start=1):
        fields = {k: v for k, v in rec.items() if k not in ("seq", "ts", "kind", "prev", "hash")}
        body = {"seq": i, "ts": rec["ts"], "kind": rec["kind"], **fields, "prev": prev}
        body["hash"] = record_hash(body)
        prev = body["hash"]
        out.append(json.dumps(body, separators=(",", ":")))
    path.write_text("".join(x + "\n" for x in out))


def test_sealed_trail_forgeries_are_caught_and_a_deleted_trail_is_an_alert(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    r = audit(state, "seal-init")
    assert r.returncode == 0, r.stderr
    vk = re.search(r"verification key ([0-9a-f]{64})", r.stdout).group(1)
    assert vk not in (state / "audit.sealkey").read_text()
    k = KioskUnderTest(tmp_path, card="sim", extra_config=SEALING)
    k.say("begin", pin_type="user_auth", action="verify", operator="clerk01")
    k.wait_frame("entry.started")
    k.say("logout")
    ended = k.wait_frame("session.ended")
    anchor = f"{ended['audit_seq']}:{ended['audit_head']}"
    k.console.pump(2.5)  # at least one timed seal
    k.finish()
    trail = state / "audit.jsonl"
    good = audit(state, "verify", "--verify-key", vk, "--anchor", anchor)
    assert good.returncode == 0 and "seals valid" in good.stdout and "unanchored" in good.stdout, good.stdout
    recs = [json.loads(x) for x in read_records(trail).lines]
    seals = [i for i, rec in enumerate(recs) if rec["kind"] == "audit.seal"]
    assert len(seals) >= 2

    # someone with the card appends a record after the last seal, chain intact
    rewrite(trail, recs + [{"ts": recs[-1]["ts"], "kind": "alert", "code": "x", "message": "forged"}])
    assert audit(state, "verify", "--head", ended["audit_head"]).returncode == 0  # the old check passes it
    flagged = audit(state, "verify", "--verify-key", vk, "--anchor", anchor)
    assert "are unanchored" in flagged.stdout and "1 unsealed" in flagged.stdout

    # ... or edits a record before the last seal and recomputes every hash
    session_start = next(i for i, rec in enumerate(recs) if rec["kind"] == "session.start")
    assert session_start < seals[-1]
    edited = [dict(rec) for rec in recs]
    edited[session_start]["operator"] = "nobody"
    rewrite(trail, edited)
    assert audit(state, "verify", "--head", json.loads(read_records(trail).lines[-1])["hash"]).returncode == 0
    caught = audit(state, "verify", "--verify-key", vk)
    assert caught.returncode == 1 and "BAD seal" in caught.stdout
    assert audit(state, "verify", "--anchor", anchor).returncode == 1  # the console's anchor differs too

    # the trail is deleted: the next start says so, in the alert and in the new trail
    trail.unlink()
    (tmp_path / "again").mkdir()
    k2 = KioskUnderTest(tmp_path / "again", card="sim", extra_config=SEALING, state_dir=state)
    try:
        alert = k2.wait_frame("alert", 30, code="audit_trail_short")  # behind the journal replay of the first run
        assert "shorter than sealed" in alert["message"]
    except BaseException:
        k2.stop()  # no kiosk left running after a failure
        raise
    k2.finish()
    new = [json.loads(x) for x in read_records(trail).lines]
    kinds = [rec["kind"] for rec in new]
    assert kinds.index("audit.trail_short") < kinds.index("boot")  # the new trail starts by saying so
    assert "the last seal was record" in new[kinds.index("audit.trail_short")]["reason"]
