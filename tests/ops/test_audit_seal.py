"""Forward-secure sealing: what someone holding the SD card can no longer do undetected."""
from __future__ import annotations

import json

from kiosk.audit import AuditTrail, GENESIS, record_hash, verify_chain
from kiosk.audit_seal import SEAL_KEY_FILE, Sealer, epoch_key, init_sealing, load_state, next_key, \
    seal_tag, verify_seals
from kiosk.durable import read_records


def sealed_trail(tmp_path, seals=3):
    vk = init_sealing(tmp_path)
    sealer = Sealer(tmp_path)
    with AuditTrail(tmp_path) as t:
        for i in range(seals):
            t.record("alert", code="x", message=f"event {i}")
            t.record("shutdown", reason="test")
            assert sealer.seal(t)
        t.record("alert", code="x", message="after the last seal")
    return vk, sealer


def lines(tmp_path):
    return read_records(tmp_path / "audit.jsonl").lines


def rewrite(tmp_path, recs):
    """What a holder of the card can do: any records, every hash recomputed."""
    prev, out = GENESIS, []
    for i, rec in enumerate(recs, start=1):
        rec = {**{k: v for k, v in rec.items() if k != "hash"}, "seq": i, "prev": prev}
        body = {k: rec[k] for k in ["seq", "ts", "kind"] + [k for k in rec if k not in ("seq", "ts", "kind", "prev")]
                + ["prev"]}
        body["hash"] = record_hash(body)
        prev = body["hash"]
        out.append(json.dumps(body, separators=(",", ":")))
    (tmp_path / "audit.jsonl").write_text("".join(x + "\n" for x in out))


def test_seals_verify_and_the_terminal_keeps_only_the_current_epoch_key(tmp_path):
    vk, sealer = sealed_trail(tmp_path)
    report = verify_seals(lines(tmp_path), vk)
    assert report.ok and report.seals == 3 and report.unsealed_records == 1
    state = load_state(tmp_path)
    assert state.epoch == 3 and state.key == epoch_key(vk, 3)
    kept = (tmp_path / SEAL_KEY_FILE).read_text()
    assert all(epoch_key(vk, e).hex() not in kept for e in range(3))  # sealed epochs' keys are gone
    assert vk.hex() not in kept and (tmp_path / SEAL_KEY_FILE).stat().st_mode & 0o077 == 0


def test_a_forged_record_with_a_right_chain_before_the_last_seal_is_caught(tmp_path):
    vk, _ = sealed_trail(tmp_path)
    recs = [json.loads(x) for x in lines(tmp_path)]
    recs[0] = {**recs[0], "message": "nothing happened"}  # edit an early record, recompute every hash
    rewrite(tmp_path, recs)
    assert verify_chain(tmp_path / "audit.jsonl").ok  # the hash chain alone cannot tell
    report = verify_seals(lines(tmp_path), vk)
    assert not report.ok and "does not match" in report.reason


def test_seals_made_with_the_stolen_current_key_show_as_an_epoch_gap(tmp_path):
    vk, _ = sealed_trail(tmp_path)
    stolen = load_state(tmp_path)  # epoch 3's key, as on the card
    recs = [json.loads(x) for x in lines(tmp_path)][:3]  # drop everything from the second seal on
    recs.append({"seq": 0, "ts": recs[-1]["ts"], "kind": "alert", "code": "x", "message": "forged"})
    rewrite(tmp_path, recs)
    head = json.loads(lines(tmp_path)[-1])["hash"]
    recs = [json.loads(x) for x in lines(tmp_path)]
    recs.append({"seq": 0, "ts": recs[-1]["ts"], "kind": "audit.seal", "epoch": stolen.epoch,
                 "tag": seal_tag(stolen.key, stolen.epoch, len(recs), head)})
    rewrite(tmp_path, recs)
    assert verify_chain(tmp_path / "audit.jsonl").ok
    report = verify_seals(lines(tmp_path), vk)
    assert not report.ok and "expected 1" in report.reason
    assert next_key(epoch_key(vk, 2)) == stolen.key  # the key chain only runs forwards


def test_a_trail_shorter_than_the_last_seal_is_noticed_at_open(tmp_path):
    _, _ = sealed_trail(tmp_path)
    sealer = Sealer(tmp_path)
    with AuditTrail(tmp_path) as t:
        assert sealer.check_trail(t) is None
    (tmp_path / "audit.jsonl").unlink()
    with AuditTrail(tmp_path) as t:
        assert "0 records" in Sealer(tmp_path).check_trail(t)
