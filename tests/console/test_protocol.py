"""The pure link: greeting, window, retransmission, acks, dedup, command validation, the whitelist."""
import json

import pytest

from kiosk import frames
from kiosk.protocol import (
    COMMANDS, KIOSK_FRAMES, LINK_TABLE, SILENT_HEARTBEATS, Acked, Command, Greeted, Link, LinkEvent,
    LinkState, Received, Rejected, Role, filter_fields, validate_command,
)


def kiosk(**kw):
    return Link(Role.KIOSK, "k1", retransmit_s=1.0, heartbeat_s=5.0, terminal="t1", **kw)


def console():
    c = Link(Role.CONSOLE, "c1", retransmit_s=1.0)
    c.opened(0.0)
    return c


def decode(lines):
    d = frames.FrameDecoder()
    return d.feed(b"".join(lines))


def greet(k, c, now=0.0):
    """Open the kiosk and let the console ack its hello; returns the console's events."""
    hello, _ = k.build("hello", {"version": 1}, "ts")
    k.opened(now, hello)
    events = []
    for f in decode(k.poll(now)):
        events += c.receive(f, now)
    for f in decode(c.poll(now)):
        assert k.receive(f, now) == [Greeted()]
    return events


def test_table_covers_the_documented_transitions():
    assert LINK_TABLE[(Role.KIOSK, LinkState.DOWN, LinkEvent.OPENED)] is LinkState.GREETING
    assert LINK_TABLE[(Role.KIOSK, LinkState.GREETING, LinkEvent.HELLO_ACKED)] is LinkState.UP
    assert LINK_TABLE[(Role.KIOSK, LinkState.UP, LinkEvent.PEER_SILENT)] is LinkState.GREETING
    assert all(LINK_TABLE[(r, s, LinkEvent.LOST)] is LinkState.DOWN
               for r in Role for s in (LinkState.UP,))


def test_greeting_holds_everything_but_hello_until_it_is_acked():
    k, c = kiosk(), console()
    f, _ = k.build("session.started", {}, "ts")
    k.submit(f)
    hello, _ = k.build("hello", {"version": 1}, "ts")
    k.opened(0.0, hello)
    sent = decode(k.poll(0.0))
    assert [x["type"] for x in sent] == ["hello"] and k.state is LinkState.GREETING
    assert decode(k.poll(0.5)) == []
    assert decode(k.poll(1.0)) == sent  # hello retransmitted unchanged
    for x in decode(c.poll(1.0)) if c.receive(sent[0], 1.0) else []:
        assert k.receive(x, 1.0) == [Greeted()]
    assert k.state is LinkState.UP
    assert [x["type"] for x in decode(k.poll(1.0))] == ["session.started"]


def test_envelope_fields_and_seq_numbering():
    k = kiosk()
    a, _ = k.build("session.started", {}, "2026-01-01T00:00:00.000Z")
    b, _ = k.build("alert", {"code": "test", "message": "m"}, "ts")
    assert (a["v"], a["seq"], a["boot"], a["terminal"], a["ts"]) == (1, 1, "k1", "t1", "2026-01-01T00:00:00.000Z")
    assert b["seq"] == 2


def test_retransmission_is_unchanged_in_order_until_acked_and_counts():
    k, c = kiosk(), console()
    greet(k, c)
    for i in range(3):
        k.submit(k.build("alert", {"code": "test", "message": f"e{i}"}, "ts")[0])
    first = k.poll(0.0)
    assert len(first) == 3 and k.poll(0.9) == []
    assert k.poll(1.0) == first and k.retransmissions == 3
    # the console acks the middle one only
    c.receive(decode(first)[1], 1.0)
    for f in decode(c.poll(1.0)):
        assert k.receive(f, 1.0) == [Acked("k1", 3)]
    assert k.poll(2.0) == [first[0], first[2]]


def test_window_bounds_frames_in_flight():
    k, c = kiosk(window=4), console()
    greet(k, c)
    for i in range(10):
        k.submit(k.build("alert", {"code": "test", "message": f"e{i}"}, "ts")[0])
    assert len(k.poll(0.0)) == 4 and k.poll(0.1) == []
    assert len(k.poll(0.0, room_bytes=0)) == 0


def test_status_is_acked_but_never_retransmitted_or_queued():
    k, c = kiosk(), console()
    greet(k, c)
    s, _ = k.build("status", {"state": "idle"}, "ts")
    k.send_unreliable(s)
    assert [f["type"] for f in decode(k.poll(0.0))] == ["status"] and k.pending == 0
    assert k.poll(5.0) == []
    k.lost(6.0)
    k.send_unreliable(s)  # while down: superseded, not kept
    assert k.poll(7.0) == []


def test_duplicate_is_acked_again_but_acted_on_once():
    k, c = kiosk(), console()
    greet(k, c)
    cmd, _ = c.build("cancel", {})
    assert k.receive(cmd, 1.0) == [Command("cancel", {}, "c1", 1)]
    assert k.receive(cmd, 2.0) == [] and k.duplicates == 1
    acks = decode(k.poll(2.0))  # both arrivals before the line had room: one ack (coalesced)
    assert [(a["type"], a["ack"], a["ack_boot"], a["seq"], a["boot"]) for a in acks] == [("ack", 1, "c1", 0, "k1")]
    assert k.receive(cmd, 3.0) == [] and k.duplicates == 2
    assert [a["ack"] for a in decode(k.poll(3.0))] == [1]  # a later duplicate is acked again


def test_same_seq_from_a_new_boot_is_a_new_frame():
    k = kiosk()
    f = {"v": 1, "type": "logout", "seq": 1, "boot": "a"}
    assert k.receive(f, 0.0) and k.receive({**f, "boot": "b"}, 0.0)


@pytest.mark.parametrize("frame,reason", [
    ({"type": "reboot"}, "unknown command type"),
    ({"type": "begin"}, "missing pin_type"),
    ({"type": "begin", "pin_type": "bank_card"}, "bad value for pin_type"),
    ({"type": "begin", "pin_type": "signature", "action": "reset"}, "bad value for action"),
    ({"type": "begin", "pin_type": "signature", "pin": "1234"}, "unknown field"),
    ({"type": "drift_check"}, "missing technician"),
    ({"type": "calibrate", "technician": "a b"}, "bad value for technician"),
    ({"type": "cancel", "now": True}, "unknown field"),
])
def test_bad_commands_are_rejected_and_change_nothing(frame, reason):
    k = kiosk()
    ev = k.receive({"v": 1, "seq": 5, "boot": "c", **frame}, 0.0)
    assert len(ev) == 1 and isinstance(ev[0], Rejected) and reason in ev[0].reason


def test_valid_commands_with_defaults():
    assert validate_command({"v": 1, "type": "begin", "seq": 1, "boot": "c", "pin_type": "signature",
                             "operator": "clerk-07"}) == (
        {"pin_type": "signature", "operator": "clerk-07", "action": "verify"}, "")
    for t in ("cancel", "logout", "status_request"):
        assert validate_command({"v": 1, "type": t, "seq": 1, "boot": "c", "ts": "x"}) == ({}, "")
    assert validate_command({"v": 1, "type": "calibrate", "seq": 1, "boot": "c", "technician": "T1"})[0] == {
        "technician": "T1"}


def test_whitelist_refuses_fields_outside_the_schema_and_pin_like_values():
    kept, refused = filter_fields("pin.result", {
        "pin_type": "user_auth", "action": "verify", "result": "wrong", "tries_left": 2,
        "pin": "1234", "keys": [1, 2, 3, 4], "key_id": 3}, Role.KIOSK)
    assert kept == {"pin_type": "user_auth", "action": "verify", "result": "wrong", "tries_left": 2}
    assert sorted(refused) == ["key_id", "keys", "pin"]
    # state and reason words cannot carry digits
    assert filter_fields("session.ended", {"reason": "1234", "cleared": True}.copy() | {"reason": "timeout"},
                         Role.KIOSK)[1] == []
    with pytest.raises(ValueError):
        filter_fields("session.ended", {"reason": "pin1234", "cleared": True}, Role.KIOSK)
    assert filter_fields("status", {"state": "entry4821"}, Role.KIOSK) == ({}, ["state"])
    with pytest.raises(ValueError):
        filter_fields("pin.entered", {}, Role.KIOSK)


def test_every_kiosk_type_and_command_round_trips_through_the_wire():
    assert set(KIOSK_FRAMES) == {"hello", "status", "session.started", "entry.started", "card.counter", "pin.result",
                                 "session.ended", "drift", "calibration.result", "alert"}
    assert set(COMMANDS) == {"begin", "cancel", "logout", "status_request", "drift_check", "calibrate"}
    k, c = kiosk(), console()
    greet(k, c)
    samples = {
        "session.started": {"operator": "clerk-1"},
        "entry.started": {"pin_type": "signature", "action": "change", "tries_left": 5,
                          "cert_valid_until": "2030-03-31"},
        "card.counter": {"pin_type": "user_auth", "reason": "removed_during_verify", "card": "same", "tries_left": 2},
        "pin.result": {"pin_type": "user_auth", "action": "verify", "result": "locked", "tries_left": 0},
        "session.ended": {"reason": "card_removed", "cleared": True},
        "drift": {"level": "warn", "shift_mm": 1.7, "taps": 80},
        "calibration.result": {"kind": "calibrate", "ok": True, "technician": "T1", "rms_mm": 0.4},
        "alert": {"code": "reader_gone", "message": "カードリーダーがありません", "level": "fault"},
    }
    for t, fields in samples.items():
        frame, refused = k.build(t, fields, "ts")
        assert refused == []
        k.submit(frame)
    got = []
    for f in decode(k.poll(1.0)):
        got += [e.frame for e in c.receive(f, 1.0) if isinstance(e, Received)]
    assert [g["type"] for g in got] == list(samples)
    assert all({k2: g[k2] for k2 in samples[g["type"]]} == samples[g["type"]] for g in got)


def test_silent_console_sends_the_kiosk_back_to_greeting():
    k, c = kiosk(), console()
    greet(k, c, now=0.0)
    limit = SILENT_HEARTBEATS * 5.0
    assert not k.peer_silent(limit - 0.1) and k.peer_silent(limit + 0.1)
    assert k.next_deadline_s(1.0) <= limit + 0.01
    k.regreet(k.build("hello", {"version": 1}, "ts")[0])
    assert k.state is LinkState.GREETING and [f["type"] for f in decode(k.poll(limit + 0.1))] == ["hello"]


def test_lost_link_resends_everything_after_the_next_greeting():
    k, c = kiosk(), console()
    greet(k, c)
    f, _ = k.build("session.started", {}, "ts")
    k.submit(f)
    assert len(k.poll(0.0)) == 1
    k.lost(0.1)
    assert k.state is LinkState.DOWN and k.poll(0.2) == [] and k.next_deadline_s(0.2) is None
    greet(k, c, now=0.3)
    assert decode(k.poll(0.3)) == [f]  # at once, not after retransmit_s


def test_unsendable_frame_does_not_spend_a_seq():
    k = kiosk()
    with pytest.raises(frames.FrameError):
        k.build("alert", {"code": "x", "message": "m" * 200, "level": "fault"} | {"message": "é" * 200}, "t" * 4000)
    assert k.next_seq == 1


def test_ack_with_junk_fields_is_ignored():
    k = kiosk()
    assert k.receive({"v": 1, "type": "ack", "seq": 0, "boot": "c", "ack": "1", "ack_boot": 3}, 0.0) == []
    assert json.loads(json.dumps(k.poll(0.0))) == []


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.none() | st.booleans() | st.integers(-5, 2**60) | st.floats(allow_nan=False) | st.text(max_size=40)
_field_names = st.sampled_from(["pin_type", "action", "operator", "technician", "pin", "x", "ts", "ack", "ack_boot"])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(COMMANDS) + ["ack", "reboot", "hello", "status"]),
       st.dictionaries(_field_names, _values | st.sampled_from(["user_auth", "signature", "verify", "change", "T1"]),
                       max_size=4),
       st.integers(0, 3), st.sampled_from(["c1", "c2"]))
def test_fuzz_kiosk_never_raises_and_acts_only_on_schema_valid_commands(type_, fields, seq, boot):
    k = kiosk()
    greet(k, console())
    frame = {**fields, "v": 1, "type": type_, "seq": seq, "boot": boot}
    try:
        line = frames.encode(frame)
    except frames.FrameError:
        return
    for f in frames.FrameDecoder().feed(line):
        events = k.receive(f, 1.0) + k.receive(f, 1.5)  # and its duplicate
        commands = [e for e in events if isinstance(e, Command)]
        assert len(commands) <= 1
        for c in commands:
            schema = COMMANDS[c.type]
            assert set(c.fields) <= set(schema.fields) and schema.required <= set(c.fields)
            assert all(schema.fields[n](v) for n, v in c.fields.items())
        if type_ != "ack":
            acks = [f for f in decode(k.poll(2.0)) if f["type"] == "ack"]
            assert [(a["ack_boot"], a["ack"]) for a in acks] == [(boot, seq)]  # acked (coalesced), acted on once


def test_own_echo_is_ignored_and_kiosk_frames_at_a_kiosk_start_no_alert_storm():
    k = kiosk()
    hello, _ = k.build("hello", {"version": 1}, "ts")
    k.opened(0.0, hello)
    for f in decode(k.poll(0.0)):  # a loop-back line hands the kiosk its own hello
        assert k.receive(f, 0.0) == []
    assert k.echoes == 1 and k.state is LinkState.GREETING and k.poll(0.1) == []
    other = {"v": 1, "type": "alert", "seq": 3, "boot": "other-kiosk", "code": "x", "message": "m"}
    assert k.receive(other, 0.2) == [] and k.misdirected == 1
    assert [f["type"] for f in decode(k.poll(0.2))] == ["ack"]  # acked, never answered
