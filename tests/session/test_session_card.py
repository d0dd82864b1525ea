"""The session bound to one card: identify at begin, the identity and the shown count on every
PIN-carrying operation, a changed counter back to the citizen, another card ending the session,
the certificate's date (and nothing else of it) to the console, the PIN change refusal.

Card answers are the pure core's own input values (outcome, tries_left, identity, date).
"""
import hashlib
from datetime import date

from kiosk.jpki import CardIdentity
from kiosk.pin import PinType
from kiosk.session import ENDED, ENTRY, IDLE, WARNING, CardOp, Session, ToAudit, ToConsole

UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT
CARD = CardIdentity("Reader A", hashlib.sha256(b"citizen's certificate").digest())
RR_AID = bytes.fromhex("D3921000310001010100")


def frames(fx, type_=None):
    return [e for e in fx if isinstance(e, ToConsole) and (type_ is None or e.type == type_)]


def card_op(fx):
    (op,) = [e for e in fx if isinstance(e, CardOp)]
    return op


def begun(s, pin_type=UA, action="verify", tries=3):
    op = card_op(s.begin(0, pin_type, action))
    assert op.op == "identify" and op.identity is None
    return s.card_result(0, op.request_id, "ok", tries, CARD, date(2030, 3, 31),
                         RR_AID if pin_type == RR else None)


def typed(s, text):
    for ch in text:
        s.key(1, ch)
    return card_op(s.key(1, "enter"))


def test_resident_registry_change_is_refused_before_anything_is_typed():
    s = Session()
    fx = s.begin(0, RR, "change")
    assert s.state == IDLE and not any(isinstance(e, CardOp) for e in fx)
    (alert,) = frames(fx, "alert")
    assert alert.fields["code"] == "change_not_supported" and "not supported" in alert.fields["message"]
    for pin_type in (UA, SIG, CI):  # the ones a public tool changes
        assert card_op(Session().begin(0, pin_type, "change")).op == "identify"


def test_identify_binds_the_session_and_every_pin_goes_with_identity_and_shown_count():
    s = Session()
    fx = begun(s, RR, tries=2)
    (audit,) = [e for e in fx if isinstance(e, ToAudit) and e.kind == "card.identified"]
    assert audit.fields["resident_registry_aid"] == "D3921000310001010100"
    op = typed(s, "1234")
    assert (op.op, op.identity, op.shown_tries) == ("verify", CARD, 2)
    s.card_result(2, op.request_id, "wrong", 1)
    retry = card_op(s.key(3, "retry"))
    assert (retry.op, retry.identity) == ("tries_left", CARD)


def test_only_the_certificate_date_reaches_the_console():
    s = Session()
    (started,) = frames(begun(s), "entry.started")
    assert started.fields == {"pin_type": "user_auth", "action": "verify", "tries_left": 3,
                              "cert_valid_until": "2030-03-31"}


def test_a_counter_changed_since_display_goes_back_to_the_citizen_with_the_new_count():
    s = Session()
    begun(s, tries=3)
    op = typed(s, "1234")
    fx = s.card_result(2, op.request_id, "counter_changed", 1)
    assert s.state == WARNING and s.view().tries_left == 1  # the last-try warning, not a result
    assert [f.fields["tries_left"] for f in frames(fx, "entry.started")] == [1]
    assert not frames(fx, "pin.result") and s.pins_held() == 0
    s.key(3, "continue")
    op = typed(s, "1234")
    assert op.shown_tries == 1
    s = Session()
    begun(s, tries=3)
    fx = s.card_result(2, typed(s, "1234").request_id, "counter_changed", 0)
    assert frames(fx, "pin.result")[0].fields["result"] == "locked"


def test_another_card_ends_the_session_as_card_removed():
    s = Session()
    begun(s)
    fx = s.card_result(2, typed(s, "1234").request_id, "card_changed", None)
    assert s.state == ENDED and s.card_identity is None
    assert frames(fx, "session.ended")[0].fields["reason"] == "card_removed"
    assert frames(fx, "pin.result")[0].fields["result"] == "card_removed"
    assert frames(fx, "alert")[0].fields["code"] == "card_changed"
    assert s.view().screen == "card_removed"  # nothing was sent: no "a try may have counted"


def test_a_card_pulled_during_verify_tells_the_citizen_a_try_may_have_counted():
    s = Session()
    begun(s)
    s.card_result(2, typed(s, "1234").request_id, "card_removed", None)
    assert s.state == ENDED and s.view().screen == "card_removed_verifying"
    s.tick(100)
    assert s.state == IDLE and s.view().screen == "idle"
    assert not s.removed_while_verifying


def test_cards_that_are_not_my_number_cards_are_named_to_the_clerk():
    for outcome in ("juki_card", "smartphone", "two_cards", "not_a_card"):
        s = Session()
        op = card_op(s.begin(0, UA))
        fx = s.card_result(0, op.request_id, outcome, None)
        assert frames(fx, "alert")[0].fields["code"] == outcome
        assert frames(fx, "pin.result")[0].fields["result"] in ("no_card", "error")
        assert s.card_identity is None and s.state != ENTRY


def test_after_a_pull_mid_verify_the_next_insertion_reads_the_counter_for_the_clerk():
    s = Session()
    begun(s)
    s.card_result(2, typed(s, "1234").request_id, "card_removed", None)
    assert s.card_identity is None and s.recount == (UA, CARD)  # the PIN type and card only
    op = card_op(s.card_inserted(5))
    assert (op.op, op.pin_type, op.identity, op.pins) == ("tries_left", UA, CARD, ())
    assert s.card_inserted(5.1) == []  # one read at a time
    fx = s.card_result(6, op.request_id, "ok", 2)
    (counter,) = frames(fx, "card.counter")
    assert counter.fields == {"pin_type": "user_auth", "reason": "removed_during_verify", "card": "same",
                              "tries_left": 2}
    assert any(isinstance(e, ToAudit) and e.kind == "card.counter" for e in fx)
    assert s.recount is None and s.card_inserted(7) == []  # once only


def test_the_recount_names_another_card_and_waits_for_a_card_that_answers():
    s = Session()
    begun(s)
    s.card_result(2, typed(s, "1234").request_id, "card_removed", None)
    op = card_op(s.card_inserted(5))
    assert s.card_result(6, op.request_id, "no_card", None) == []  # gone again: try next time
    op = card_op(s.card_inserted(8))
    begin_op = card_op(s.begin(8.5, SIG))  # a new session meanwhile: the answer still lands
    (counter,) = frames(s.card_result(9, op.request_id, "card_changed", None), "card.counter")
    assert counter.fields["card"] == "other" and "tries_left" not in counter.fields
    assert s.state != IDLE and begin_op.op == "identify"


def test_a_pull_before_the_pin_went_out_needs_no_recount():
    s = Session()
    begun(s)
    s.card_removed(2)
    assert s.recount is None and s.card_inserted(3) == []
