"""Power-cut-safe writes: atomic replace, fsynced appends, torn tails reported."""
import os

from kiosk.durable import append_record, read_records, truncate_torn_tail, write_atomic


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "calibration.json"
    write_atomic(target, b"old")
    write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert os.listdir(target.parent) == ["calibration.json"]


def test_write_atomic_failure_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "c.json"
    write_atomic(target, b"good")

    def boom(*a):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    try:
        write_atomic(target, b"bad")
    except OSError:
        pass
    assert target.read_bytes() == b"good"
    assert os.listdir(tmp_path) == ["c.json"]


def test_append_and_read_records(tmp_path):
    log = tmp_path / "audit.jsonl"
    for i in range(3):
        append_record(log, f'{{"n": {i}}}')
    recs = read_records(log)
    assert recs.lines == ['{"n": 0}', '{"n": 1}', '{"n": 2}'] and recs.torn_tail is None


def test_torn_last_line_is_reported_and_cut(tmp_path):
    log = tmp_path / "audit.jsonl"
    append_record(log, "one")
    with open(log, "ab") as f:
        f.write(b'{"half')  # power lost mid-write
    recs = read_records(log)
    assert recs.lines == ["one"] and recs.torn_tail == b'{"half'
    assert truncate_torn_tail(log, recs) == b'{"half'
    append_record(log, "two")
    assert read_records(log).lines == ["one", "two"]


def test_only_a_torn_line(tmp_path):
    log = tmp_path / "j"
    log.write_bytes(b"partial")
    recs = read_records(log)
    assert recs.lines == [] and recs.torn_tail == b"partial"


def test_missing_file_is_empty(tmp_path):
    recs = read_records(tmp_path / "nope")
    assert recs.lines == [] and recs.torn_tail is None


def test_a_record_is_one_line(tmp_path):
    import pytest
    with pytest.raises(ValueError):
        append_record(tmp_path / "x", "a\nb")
