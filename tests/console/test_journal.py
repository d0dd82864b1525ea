"""The console journal: durable before send, forgotten on ack, replayed in order, bounded, compacted."""
import json

from kiosk.journal import COMPACT_SLACK, Journal


def frame(seq, boot="b1"):
    """A frame as the kiosk journals it (the journal refuses anything else on load)."""
    return {"v": 1, "type": "alert", "seq": seq, "boot": boot, "ts": "2026-12-03T10:00:00.000Z",
            "terminal": "t1", "code": "test", "message": f"e{seq}"}


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


def test_unreadable_record_is_skipped_counted_and_the_file_kept_aside(tmp_path):
    good = json.dumps({"frame": frame(1)})
    (tmp_path / "j").write_text(good + "\nnot json\n")
    j = Journal(tmp_path / "j", 100)
    assert [f["seq"] for f in j.load()] == [1] and j.corrupt_records == 1
    assert j.set_aside.file == "j" and "1 of 2 records" in j.set_aside.reason
    assert (tmp_path / j.set_aside.kept_as).read_text() == good + "\nnot json\n"
    assert (tmp_path / "j").read_text() == json.dumps({"frame": frame(1)}, separators=(",", ":")) + "\n"


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


def overflow_alert(seq, lost, boot="b1"):
    return {**frame(seq, boot), "code": "journal_overflow", "lost": lost, "message": f"{lost} lost"}


def test_loss_count_is_durable_reported_once_and_given_back_if_its_alert_is_dropped(tmp_path):
    j = Journal(tmp_path / "j", 3)
    for s in range(1, 6):
        j.append(frame(s))
    assert j.lost == 2 and not j.overflow_alert_pending
    again = Journal(tmp_path / "j", 3)
    again.load()
    assert again.lost == 2  # survives a restart
    again.append(overflow_alert(6, 2))  # reports the 2 in the same record (and drops frame 3)
    assert again.lost == 1 and again.overflow_alert_pending
    third = Journal(tmp_path / "j", 3)
    third.load()
    assert third.lost == 1 and third.overflow_alert_pending
    for s in (7, 8, 9):  # the alert falls out unsent: its 2 come back, plus 2 more frames
        third.append(frame(s))
    assert not third.overflow_alert_pending and third.lost == 1 + 2 + 2
    third.compact()
    assert (tmp_path / "j").read_text().splitlines()[0] == '{"lost":5}'
    fourth = Journal(tmp_path / "j", 3)
    assert [f["seq"] for f in fourth.load()] == [7, 8, 9] and fourth.lost == 5


def test_acked_overflow_alert_leaves_nothing_to_report(tmp_path):
    j = Journal(tmp_path / "j", 2)
    for s in (1, 2, 3):
        j.append(frame(s))
    j.append(overflow_alert(4, j.lost))
    j.remove([("b1", 4), ("b1", 3)])
    again = Journal(tmp_path / "j", 2)
    again.load()
    assert again.lost == 1 and not again.overflow_alert_pending  # frame 2 fell out for the alert
