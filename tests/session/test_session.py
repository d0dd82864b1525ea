"""The citizen session state machine, alone: every transition, and properties over random event sequences.

The card is represented by the values it answers (outcome, tries_left): this is the pure
core's own input, not a mock of the PC/SC stack (that runs in the end-to-end tests).
"""
from hypothesis import given, settings, strategies as st

from kiosk.pin import PIN_RULES, Pin, PinType, entry_problem
from kiosk.session import (CARD_CHECK, ENDED, ENTRY, IDLE, RESULT, VERIFYING, WARNING, CardOp,
                           SessionClosed, Session, ToAudit, ToConsole, TRANSITIONS)

UA = PinType.USER_AUTH
SIG = PinType.SIGNATURE


def frames(fx, type_=None):
    return [e for e in fx if isinstance(e, ToConsole) and (type_ is None or e.type == type_)]


def card_op(fx):
    ops = [e for e in fx if isinstance(e, CardOp)]
    assert len(ops) == 1, fx
    return ops[0]


def start(s, pin_type=UA, action="verify", tries=3, now=0.0):
    op = card_op(s.begin(now, pin_type, action))
    assert op.op in ("identify", "tries_left") and op.pins == ()
    return s.card_result(now, op.request_id, "ok", tries)


def type_text(s, text, now=1.0):
    for ch in text:
        s.key(now, ch)


def test_begin_reads_tries_without_spending_and_reports_entry_started():
    s = Session()
    fx = s.begin(0, UA)
    assert [f.type for f in frames(fx)] == ["session.started"]
    assert s.state == CARD_CHECK and s.view().screen == "card_check"
    fx = s.card_result(0, card_op(fx).request_id, "ok", 3)
    (f,) = frames(fx, "entry.started")
    assert f.fields == {"pin_type": "user_auth", "action": "verify", "tries_left": 3}
    assert s.state == ENTRY and s.view().screen == "entry" and s.view().tries_left == 3


def test_right_pin_goes_to_the_card_once_and_is_wiped():
    s = Session()
    start(s)
    type_text(s, "1234")
    assert s.view().entered == 4 and s.view().enter_enabled
    op = card_op(s.key(2, "enter"))
    assert op.op == "verify" and len(op.pins) == 1 and s.state == VERIFYING
    with op.pins[0].reveal() as raw:
        assert bytes(raw) == b"1234"
    fx = s.card_result(3, op.request_id, "ok", 3)
    assert op.pins[0].wiped and s.pins_held() == 0
    (r,) = frames(fx, "pin.result")
    assert r.fields == {"pin_type": "user_auth", "action": "verify", "result": "ok", "tries_left": 3}
    assert s.view().screen == "result_ok"


def test_invalid_entry_never_reaches_the_card():
    s = Session()
    start(s)
    type_text(s, "123")
    assert not s.view().enter_enabled
    assert s.key(2, "enter") == [] and s.state == ENTRY and s.view().problem == "too_short"
    type_text(s, "45")  # a fifth digit is refused: 4-digit PIN
    assert s.view().entered == 4
    type_text(s, "A")  # not on a digits keypad; ignored if it ever came
    assert s.view().entered == 4


def test_wrong_pin_then_retry_rereads_counter_and_warns_before_last_try():
    s = Session()
    start(s, tries=2)
    type_text(s, "1111")
    op = card_op(s.key(2, "enter"))
    fx = s.card_result(3, op.request_id, "wrong", 1)
    assert frames(fx, "pin.result")[0].fields["result"] == "wrong"
    assert s.view().screen == "wrong_pin" and s.view().tries_left == 1
    op = card_op(s.key(4, "retry"))  # an explicit tap, then the counter is read again
    assert op.op == "tries_left"
    s.card_result(4, op.request_id, "ok", 1)
    assert s.state == WARNING and s.view().screen == "last_try_warning"
    assert s.key(5, "1") == [] and s.view().entered == 0  # typing impossible before confirming
    s.key(5, "continue")
    assert s.state == ENTRY


def test_last_wrong_try_locks():
    s = Session()
    start(s, tries=1)
    s.key(1, "continue")
    type_text(s, "9999")
    op = card_op(s.key(2, "enter"))
    fx = s.card_result(3, op.request_id, "wrong", 0)
    assert frames(fx, "pin.result")[0].fields == {
        "pin_type": "user_auth", "action": "verify", "result": "locked", "tries_left": 0}
    assert s.view().screen == "locked"


def test_locked_pin_sends_nothing_to_the_card():
    s = Session()
    op = card_op(s.begin(0, UA))
    fx = s.card_result(0, op.request_id, "locked", 0)
    assert frames(fx, "pin.result")[0].fields["result"] == "locked"
    assert not [e for e in fx if isinstance(e, CardOp)] and s.view().screen == "locked"
    assert s.key(1, "retry") == []


def test_no_card():
    s = Session()
    op = card_op(s.begin(0, UA))
    fx = s.card_result(0, op.request_id, "no_card", None)
    assert frames(fx, "pin.result")[0].fields["result"] == "no_card" and s.view().screen == "no_card"


def test_every_end_wipes_and_tells_the_console():
    for end in ("logout", "cancel", "citizen_cancel", "timeout", "card_removed"):
        s = Session(inactivity_timeout_s=60)
        start(s)
        type_text(s, "12")
        pin = s.entry.pins["current"]
        if end == "logout":
            fx = s.logout(2)
        elif end == "cancel":
            fx = s.cancel(2)
        elif end == "citizen_cancel":
            fx = s.key(2, "cancel")
        elif end == "timeout":
            assert s.tick(60.9) == []
            fx = s.tick(61.0)
        else:
            fx = s.card_removed(2)
        reason = {"citizen_cancel": "cancel"}.get(end, end)
        result = {"logout": "cancelled", "cancel": "cancelled", "citizen_cancel": "cancelled"}.get(end, end)
        assert frames(fx, "pin.result")[0].fields["result"] == result
        ended = frames(fx, "session.ended")[0].fields
        assert ended["reason"] == reason and ended["cleared"] is True
        assert pin.wiped and s.entry is None and s.state == ENDED
        assert any(isinstance(e, SessionClosed) for e in fx)
        assert s.view().screen in ("session_ended", "timed_out", "card_removed")
        assert s.view().entered == 0 and s.view().pin_type is None


def test_ended_screen_then_idle():
    s = Session(ended_screen_s=5)
    start(s)
    s.logout(10)
    assert s.next_deadline_s() == 15
    s.tick(14.9)
    assert s.state == ENDED
    s.tick(15)
    assert s.state == IDLE and s.view().screen == "idle"


def test_logout_while_verifying_waits_for_the_card_then_ends():
    s = Session()
    start(s)
    type_text(s, "1234")
    op = card_op(s.key(2, "enter"))
    assert s.logout(2.1) == [] and not op.pins[0].wiped  # the card worker still holds it
    fx = s.card_result(2.2, op.request_id, "wrong", 2)
    assert [f.type for f in frames(fx)] == ["pin.result", "session.ended"]
    assert op.pins[0].wiped and s.state == ENDED


def test_card_pulled_mid_verify_reports_card_removed():
    s = Session()
    start(s)
    type_text(s, "1234")
    op = card_op(s.key(2, "enter"))
    assert s.card_removed(2.1) == []  # the driver answers the command itself
    fx = s.card_result(2.2, op.request_id, "card_removed", None)
    assert frames(fx, "pin.result")[0].fields["result"] == "card_removed"
    assert frames(fx, "session.ended")[0].fields["reason"] == "card_removed"


def test_change_pin_three_steps_with_rules_and_mismatch():
    s = Session()
    start(s, pin_type=SIG, action="change", tries=5)
    assert s.view().step == "current"
    type_text(s, "ABC123")
    s.key(1, "enter")
    assert s.view().step == "new" and s.view().entered == 0
    type_text(s, "123456")  # digits only: a new signature PIN must mix letters and digits
    assert not s.view().enter_enabled
    s.key(1, "enter")
    assert s.view().problem == "needs_letter_and_digit" and s.view().step == "new"
    s.key(1, "clear")
    type_text(s, "XYZ789")
    s.key(1, "enter")
    assert s.view().step == "confirm"
    type_text(s, "XYZ788")
    assert s.key(1, "enter") == []  # mismatch: nothing sent
    assert s.view().problem == "mismatch" and s.view().step == "new" and s.view().entered == 0
    type_text(s, "XYZ789")
    s.key(1, "enter")
    type_text(s, "XYZ789")
    op = card_op(s.key(1, "enter"))
    assert op.op == "change" and len(op.pins) == 2
    with op.pins[0].reveal() as old, op.pins[1].reveal() as new:
        assert (bytes(old), bytes(new)) == (b"ABC123", b"XYZ789")
    s.card_result(2, op.request_id, "ok", 5)
    assert all(p.wiped for p in op.pins) and s.view().screen == "result_ok"


def test_begin_during_entry_is_refused_with_an_alert():
    s = Session()
    start(s)
    fx = s.begin(1, SIG)
    assert frames(fx, "alert") and s.entry.pin_type == UA


def test_second_entry_in_the_same_session_after_a_result():
    s = Session()
    start(s)
    type_text(s, "1234")
    op = card_op(s.key(2, "enter"))
    s.card_result(3, op.request_id, "ok", 3)
    sid = s.session_id
    fx = s.begin(4, SIG)
    assert not frames(fx, "session.started") and s.session_id == sid and s.state == CARD_CHECK


def test_touching_the_idle_screen_starts_nothing():
    s = Session()
    for k in ("1", "enter", "retry", "continue", "cancel"):
        assert s.key(0, k) == []
    assert s.state == IDLE


def test_language_toggle_resets_with_the_session():
    s = Session(language="ja")
    start(s)
    s.key(1, "lang")
    assert s.view().lang == "en"
    s.logout(2)
    s.tick(100)
    assert s.view().lang == "ja"


def test_countdown_before_timeout():
    s = Session(inactivity_timeout_s=60)
    start(s)
    s.key(0, "1")
    assert s.next_deadline_s() == 50
    s.tick(50)
    assert s.view().seconds_left == 10
    assert s.next_deadline_s() == 51


def test_stale_card_answers_are_ignored():
    s = Session()
    op = card_op(s.begin(0, UA))
    s.logout(1)
    assert s.card_result(2, op.request_id, "ok", 3) == []
    assert s.state == ENDED


def test_table_covers_every_state():
    assert set(TRANSITIONS) == {IDLE, CARD_CHECK, WARNING, ENTRY, VERIFYING, RESULT, ENDED, "technician"}


# --- properties ---------------------------------------------------------------
KEYS = list("0123456789ABZ") + ["backspace", "clear", "cancel", "enter", "lang", "retry", "continue"]
EVENTS = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS)),
    st.tuples(st.just("begin"), st.sampled_from([(t, a) for t in PinType for a in ("verify", "change")])),
    st.tuples(st.just("logout"), st.none()),
    st.tuples(st.just("cancel"), st.none()),
    st.tuples(st.just("card_removed"), st.none()),
    st.tuples(st.just("tick"), st.floats(0, 100)),
    st.tuples(st.just("card"), st.sampled_from([("ok", 3), ("ok", 1), ("wrong", 2), ("wrong", 0),
                                                 ("locked", 0), ("card_removed", None), ("no_card", None),
                                                 ("error", None)])),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=60))
def test_no_sequence_leaks_pins_or_sends_an_invalid_entry(events):
    s = Session(inactivity_timeout_s=30, ended_screen_s=2)
    now = 0.0
    pending: CardOp | None = None
    lent: list[Pin] = []
    session_pins: list[Pin] = []
    for kind, arg in events:
        now += 0.5
        if kind == "key":
            fx = s.key(now, arg)
        elif kind == "begin":
            fx = s.begin(now, *arg)
        elif kind == "logout":
            fx = s.logout(now)
        elif kind == "cancel":
            fx = s.cancel(now)
        elif kind == "card_removed":
            fx = s.card_removed(now)
        elif kind == "tick":
            now += arg
            fx = s.tick(now)
        else:
            if pending is None:
                continue
            fx = s.card_result(now, pending.request_id, *arg)
            pending = None
        if s.entry is not None:
            session_pins.extend(p for p in s.entry.pins.values() if p not in session_pins)
        for e in fx:
            if isinstance(e, CardOp):
                pending = e
                if e.op in ("verify", "change"):
                    # an entry that breaks the rules never reaches the card
                    assert entry_problem(e.pin_type, e.pins[0]) is None
                    if e.op == "change":
                        assert entry_problem(e.pin_type, e.pins[1], new_pin=True) is None
                    lent.extend(e.pins)
            if isinstance(e, (ToConsole, ToAudit)):
                for v in e.fields.values():
                    assert not isinstance(v, Pin)
                    assert v is None or isinstance(v, (str, int, bool))
        if s.state in (IDLE, ENDED):
            # nothing of an ended session survives
            assert s.entry is None and s.session_id is None and s.pins_held() == 0
            assert all(p.wiped for p in session_pins)
            v = s.view()
            assert v.entered == 0 and v.pin_type is None and v.tries_left is None
        if s.state != VERIFYING:
            assert all(p.wiped for p in lent)  # lent Pins come back wiped once the card answered
        if s.state in (ENTRY, WARNING):
            assert s.entry.tries_left and s.entry.tries_left > 0


def test_device_fault_shows_at_idle_and_error_results_name_the_fault():
    s = Session()
    s.devices("touch_absent")
    assert s.view().screen == "fault" and s.view().fault == "touch_absent"
    s.devices(None)
    assert s.view().screen == "idle"
    op = card_op(s.begin(0, UA))
    s.card_result(0, op.request_id, "no_pcscd", None)
    v = s.view()
    assert (v.screen, v.fault) == ("fault", "no_reader")
