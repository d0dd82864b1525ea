"""The driver's operations against two independently written card models.

``drivers.card.virtual.VirtualCard`` (the product's model: re-SELECT drops the verified
state) and ``support_card_model.FileSystemCard`` (test code: re-SELECT keeps it), both
in-process through the sim backend.  Every test runs on both: no result may depend on one
model's quirks.
"""
import pytest

from drivers.card.sim import SimBackend
from drivers.card.virtual import VirtualCard
from kiosk import jpki
from kiosk.jpki import CardResult
from kiosk.pin import Pin, PinType
from support_card_model import FileSystemCard

UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT
PINS = {UA: "1234", SIG: "ABC123", RR: "5555", CI: "7777"}
TOKENS = {"mynumber_card": b"JPKIAPICCTOKEN2", "juki_card": b"JPKIAPICCTOKEN", "smartphone": b"JPKIAPGPSETOKEN"}


def product_model(tries=None, rr_aid=jpki.RESIDENT_REGISTRY_AID_CANDIDATES[0], kind="mynumber_card", serial=None):
    return VirtualCard.with_pins(PINS, tries, kind=kind, resident_registry_aid=rr_aid, serial=serial)


def filesystem_model(tries=None, rr_aid=jpki.RESIDENT_REGISTRY_AID_CANDIDATES[0], kind="mynumber_card",
                     serial=None):
    return FileSystemCard({str(t): v for t, v in PINS.items()}, juki_aid=rr_aid.hex().upper(),
                          token=TOKENS[kind], tries={str(t): n for t, n in (tries or {}).items()},
                          serial=serial)


@pytest.fixture(params=[product_model, filesystem_model], ids=["virtual", "filesystem"])
def make(request):
    return request.param


def pin(text):
    return Pin.from_text(text)


def test_identify_counters_and_certificate_date(make):
    b = SimBackend(make(tries={SIG: 4}))
    r = b.identify(SIG)
    assert (r.outcome, r.tries_left) == ("ok", 4)
    assert r.identity is not None and r.identity.reader == "Simulated reader"
    assert r.valid_until is not None and r.valid_until.year in (2029, 2030)
    for t in PinType:
        assert b.tries_left(t, r.identity).ok


def test_wrong_last_try_blocked_and_nothing_sent_when_blocked(make):
    b = SimBackend(make(tries={UA: 2}))
    ident = b.identify(UA).identity
    assert b.verify(UA, pin("0000"), ident, shown_tries=2) == CardResult("wrong", 1)
    assert b.verify(UA, pin("0000"), ident, shown_tries=1) == CardResult("locked", 0)
    assert b.tries_left(UA, ident) == CardResult("locked", 0)  # 63C0 on both models
    assert b.verify(UA, pin("1234"), ident, shown_tries=0) == CardResult("locked", 0)
    assert b.verify(SIG, pin("ABC123"), ident, shown_tries=5) == CardResult("ok", 5)


def test_change_where_offered_and_refused_for_resident_registry(make):
    b = SimBackend(make())
    ident = b.identify(SIG).identity
    assert b.change(SIG, pin("ABC123"), pin("NEW123"), ident, 5) == CardResult("ok", 5)
    assert b.verify(SIG, pin("NEW123"), ident, 5).ok
    assert b.change(CI, pin("7777"), pin("2468"), ident, 3).ok
    assert b.verify(CI, pin("2468"), ident, 3).ok
    assert b.change(RR, pin("5555"), pin("1111"), ident, 3) == CardResult("not_supported")
    assert b.verify(RR, pin("5555"), ident, 3).ok  # unchanged, and no try was spent


@pytest.mark.parametrize("aid", jpki.RESIDENT_REGISTRY_AID_CANDIDATES, ids=lambda a: a.hex()[-4:])
def test_resident_registry_is_found_at_either_aid(make, aid):
    b = SimBackend(make(rr_aid=aid, tries={RR: 2}))
    r = b.identify(RR)
    assert (r.outcome, r.tries_left, r.resident_registry_aid) == ("ok", 2, aid)
    assert r.identity.resident_registry_aid == aid
    assert b.verify(RR, pin("5555"), r.identity, 2) == CardResult("ok", 3)
    facts = b.card_facts()
    assert facts.resident_registry_aid == aid
    assert dict(facts.resident_registry_candidates) == {
        a: a == aid for a in jpki.RESIDENT_REGISTRY_AID_CANDIDATES}


def test_a_configured_resident_registry_aid_wins(make):
    there, elsewhere = jpki.RESIDENT_REGISTRY_AID_CANDIDATES
    b = SimBackend(make(rr_aid=there), resident_registry_aid=elsewhere)
    assert b.identify(RR).outcome == "no_applet"


def test_old_juki_card_and_smartphone_are_named(make):
    assert SimBackend(make(kind="juki_card")).identify(UA).outcome == "juki_card"
    assert SimBackend(make(kind="smartphone")).identify(UA).outcome == "smartphone"
    assert SimBackend(make(kind="juki_card")).verify(UA, pin("1234")).outcome == "juki_card"


def test_another_card_gets_no_pin_however_fast_the_swap(make):
    first = make(serial=b"\x01")
    b = SimBackend(first)
    ident = b.identify(UA).identity
    second = make(serial=b"\x02")
    sent = []
    original = second.process
    second.process = lambda apdu: sent.append(bytes(apdu)) or original(apdu)
    b.swap(second)  # no presence change seen
    assert b.verify(UA, pin("1234"), ident, 3) == CardResult("card_changed")
    assert b.tries_left(UA, ident) == CardResult("card_changed")
    assert not any(c[1] == jpki.INS_VERIFY for c in sent)  # not even the counter was read
    b.swap(first)
    assert b.verify(UA, pin("1234"), ident, 3).ok  # the session's card again


def test_a_counter_changed_since_it_was_shown_sends_no_pin(make):
    card = make()
    b = SimBackend(card)
    ident = b.identify(UA).identity
    # another program (or another terminal) spent a try after the citizen saw "3"
    assert b.verify(UA, pin("0000")) == CardResult("wrong", 2)
    assert b.verify(UA, pin("1234"), ident, shown_tries=3) == CardResult("counter_changed", 2)
    assert b.tries_left(UA, ident) == CardResult("ok", 2)  # the PIN was not sent
    assert b.verify(UA, pin("1234"), ident, shown_tries=2).ok
