"""The console journal: durable before send, forgotten on ack, replayed in order, bounded, compacted."""
from kiosk.journal import COMPACT_SLACK, Journal


def frame(seq, boot="b1"):
    return {"v": 1, "type": "alert", "seq": seq, "boot": boot, "code": "test", "message": f"e{seq}"}


def test_replay_in_order_after_restart_without_acked_frames(tmp_path):
    j = Journal(tmp_path / "j", 100)
    for s in range(1, 6):
        j.append(frame(s))
    j.remove([("b1", 2), ("b1", 4)])
    again = Journal(tmp_path / "j", 100)
    assert [f["seq"] for f in again.load()] == [1, 3, 5]
    # after load the file holds only the live frames
    assert len((tmp_path / "j").read_text().splitlines()) == 3


def test_frames_of_several_boots_keep_their_identity(tmp_path):
    j = Journal(tmp_path / "j", 100)
    j.append(frame(1, "old"))
    j.append(frame(1, "new"))
    j.remove([("new", 1)])
    assert Journal(tmp_path / "j", 100).load() == [frame(1, "old")]


def test_torn_last_record_is_cut_and_the_rest_survives(tmp_path):
    j = Journal(tmp_path / "j", 100)
    j.append(frame(1))
    j.append(frame(2))
    with open(tmp_path / "j", "ab") as f:
        f.write(b'{"frame":{"v":1,"type":"al')  # power cut mid-append: this frame was never sent
    again = Journal(tmp_path / "j", 100)
    assert [f["seq"] for f in again.load()] == [1, 2]
    again.append(frame(3))
    assert [f["seq"] for f in Journal(tmp_path / "j", 100).load()] == [1, 2, 3]


def test_unreadable_record_is_skipped_and_counted(tmp_path):
    (tmp_path / "j").write_text('{"frame":' + '{"v":1,"type":"alert","seq":1,"boot":"b"}}\nnot json\n')
    j = Journal(tmp_path / "j", 100)
    assert [f["seq"] for f in j.load()] == [1] and j.corrupt_records == 1


def test_overflow_drops_the_oldest_and_says_which(tmp_path):
    j = Journal(tmp_path / "j", 3)
    assert [j.append(frame(s)) for s in (1, 2, 3)] == [[], [], []]
    assert j.append(frame(4)) == [("b1", 1)]
    assert [f["seq"] for f in Journal(tmp_path / "j", 3).load()] == [2, 3, 4]


def test_lowered_bound_applies_at_load(tmp_path):
    j = Journal(tmp_path / "j", 10)
    for s in range(1, 8):
        j.append(frame(s))
    assert [f["seq"] for f in Journal(tmp_path / "j", 3).load()] == [5, 6, 7]


def test_compaction_keeps_the_file_near_the_backlog(tmp_path):
    j = Journal(tmp_path / "j", 10000)
    j.load()
    for s in range(1, 401):
        j.append(frame(s))
        if s > 1:
            j.remove([("b1", s - 1)])
    lines = (tmp_path / "j").read_text().splitlines()
    assert len(lines) <= 2 * len(j) + COMPACT_SLACK + 2
    assert [f["seq"] for f in Journal(tmp_path / "j", 10000).load()] == [400]


def test_empty_and_missing(tmp_path):
    j = Journal(tmp_path / "none", 10)
    assert j.load() == [] and len(j) == 0
    j.remove([("x", 1)])  # nothing to forget: no write
    assert not (tmp_path / "none").exists()
