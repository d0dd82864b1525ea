"""The card driver on the real stack: pyscard -> our pcscd -> vpcd -> `pin-kiosk simcard`.

Every status-word path (wrong, last try, blocked), the card pulled mid-VERIFY,
no card, no reader, pcscd stopped and restarted, hot-plug seen within 0.5 s,
`card status --json`, OpenSC agreeing with the virtual card, and no PIN
byte in pcscd's or the card's output.
"""
import json
import logging
import subprocess
import sys
import threading
import time

import pytest

from drivers.card import CardWorker
from drivers.card.pcsc import PcscBackend
from kiosk.jpki import CardResult
from kiosk.pin import Pin, PinType
from kiosk.jpki import RESIDENT_REGISTRY_AID_CANDIDATES
from support_pcsc import READER_0, READER_1, ROOT, card_present, pin_in_logs, running_stack, wait_for

UA, SIG, RR, CI = PinType.USER_AUTH, PinType.SIGNATURE, PinType.RESIDENT_REGISTRY, PinType.CARD_INFO_INPUT
# distinctive PINs, so a trace of them in a log cannot be a coincidence
PINS = {UA: "4729", SIG: "QX7K2M", RR: "8163", CI: "5940"}
WRONG = {UA: "0816", SIG: "ZZ0000", RR: "9352", CI: "6284"}
PIN_ARG = ",".join(f"{t}={p}" for t, p in PINS.items())
SECRETS = [*PINS.values(), *WRONG.values(), "NEW9Q2", "3377"]


@pytest.fixture(scope="module")
def stack():
    with running_stack() as s:  # the logs are scanned by test_no_pin_reached_pcscd_or_the_card_output
        yield s


@pytest.fixture
def card(stack):
    """A fresh card with full counters for each test (``stack.insert_card`` to change that)."""
    if stack.pcscd is None:
        stack.start_pcscd()
    stack.insert_card("--pins", PIN_ARG)
    yield stack
    stack.remove_card()  # and wait until pcscd saw it go


def pin(pin_type, good=True):
    return Pin.from_text(PINS[pin_type] if good else WRONG[pin_type])


@pytest.mark.stack
def test_counters_verify_and_change_on_every_pin(card, caplog):
    caplog.set_level(logging.DEBUG, logger="pin_kiosk")
    b = PcscBackend()
    for t in PinType:
        max_tries = 5 if t is SIG else 3
        assert b.tries_left(t) == CardResult("ok", max_tries)
        assert b.verify(t, pin(t, good=False)) == CardResult("wrong", max_tries - 1)
        assert b.tries_left(t) == CardResult("ok", max_tries - 1)
        assert b.verify(t, pin(t)) == CardResult("ok", max_tries)  # a good PIN refills the counter
    # the verified state ended with the connection: the counter reads as a counter, not 9000
    assert b.tries_left(UA) == CardResult("ok", 3)
    assert b.change(SIG, pin(SIG, good=False), Pin.from_text("NEW9Q2")) == CardResult("wrong", 4)
    assert b.change(SIG, pin(SIG), Pin.from_text("NEW9Q2")) == CardResult("ok", 5)
    assert b.verify(SIG, Pin.from_text("NEW9Q2")) == CardResult("ok", 5)
    assert b.change(CI, pin(CI), Pin.from_text("3377")) == CardResult("ok", 3)
    assert b.verify(CI, Pin.from_text("3377")).ok
    b.close()
    ours = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert b"verify user_auth: ok" in ours  # our own log is there, and holds no PIN
    assert not any(pin_in_logs(secret, ours) for secret in SECRETS)


@pytest.mark.stack
def test_last_try_then_blocked_then_nothing_is_sent(card):
    card.insert_card("--pins", PIN_ARG, "--tries", "user_auth=1,signature=2")
    b = PcscBackend()
    assert b.tries_left(UA) == CardResult("ok", 1)
    assert b.verify(UA, pin(UA, good=False)) == CardResult("locked", 0)  # 63C0: this try locked it
    assert b.tries_left(UA) == CardResult("locked", 0)  # 6984
    assert b.verify(UA, pin(UA)) == CardResult("locked", 0)  # refused before sending
    assert b.verify(SIG, pin(SIG, good=False)) == CardResult("wrong", 1)
    assert b.verify(SIG, pin(SIG)) == CardResult("ok", 5)
    b.close()


@pytest.mark.stack
def test_the_reader_holding_the_card_is_used(card):
    card.insert_card("--pins", PIN_ARG, slot=1)  # slot 0 now empty
    assert PcscBackend().status().reader == READER_1
    assert PcscBackend().verify(UA, pin(UA)) == CardResult("ok", 3)
    assert PcscBackend("00 00").tries_left(UA) == CardResult("no_card")  # the pattern still rules


@pytest.mark.stack
def test_card_held_by_another_program_waits_then_answers(card):
    from smartcard import scard

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    rc, other, _ = scard.SCardConnect(ctx, READER_0, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1)
    assert rc == scard.SCARD_S_SUCCESS
    try:
        t0 = time.monotonic()
        assert PcscBackend(busy_retries=2, busy_wait_s=0.05).tries_left(UA) == CardResult("error")
        assert time.monotonic() - t0 < 0.5
        threading.Timer(0.15, scard.SCardDisconnect, (other, scard.SCARD_LEAVE_CARD)).start()
        assert PcscBackend().tries_left(UA) == CardResult("ok", 3)  # got the card once released
    finally:
        scard.SCardDisconnect(other, scard.SCARD_LEAVE_CARD)
        scard.SCardReleaseContext(ctx)


def test_no_card_no_reader(stack):
    stack.remove_card()
    b = PcscBackend()
    assert b.tries_left(UA) == CardResult("no_card")
    assert b.status().card == "absent"
    assert PcscBackend(READER_1).verify(UA, pin(UA)) == CardResult("no_card")
    nobody = PcscBackend("No Such Reader")
    assert nobody.tries_left(UA) == CardResult("no_reader")
    assert nobody.status().outcome == "no_reader"
    b.close()
    nobody.close()


class Events:
    """What a worker reported, consumed in order: one drain can carry several events."""

    def __init__(self, worker):
        self.worker, self.pending = worker, []

    def wait(self, kind, timeout_s=3.0, request_id=None, seen=None):
        """The first event of ``kind`` (and ``request_id``) and when it was drained."""
        import select

        deadline = time.monotonic() + timeout_s
        while True:
            for i, (event, at) in enumerate(self.pending):
                if event.kind == kind and (request_id is None or event.request_id == request_id):
                    if seen is not None:
                        seen.extend(e for e, _ in self.pending[:i + 1])
                    del self.pending[:i + 1]
                    return event, at
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind} within {timeout_s} s; pending {self.pending}")
            if select.select([self.worker], [], [], remaining)[0]:
                now = time.monotonic()
                self.pending += [(e, now) for e in self.worker.drain()]

    def quiet(self):
        """Nothing reported, pending or newly drained."""
        return not self.pending and self.worker.drain() == []


@pytest.mark.stack
def test_card_pulled_mid_verify_is_card_removed(card):
    card.insert_card("--pins", PIN_ARG, "--verify-delay-s", "2")
    worker = CardWorker(PcscBackend())
    events = Events(worker)
    try:
        events.wait("card_inserted")
        rid = worker.submit("verify", UA, pin(UA))
        time.sleep(0.3)  # the card is now "checking" the PIN
        card.kill_card()
        event, _ = events.wait("result", 3.0, rid)
        assert event.result == CardResult("card_removed")
    finally:
        worker.close()


@pytest.mark.stack
def test_hotplug_seen_within_half_a_second_and_idle_costs_no_cpu(stack):
    stack.remove_card()
    worker = CardWorker(PcscBackend())
    events = Events(worker)
    try:
        assert events.wait("reader_added")[0].reader == READER_0
        assert events.wait("reader_added")[0].reader == READER_1
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(1.0)
        assert time.process_time() - cpu0 < 0.05 * (time.monotonic() - wall0) + 0.02  # blocked, not polling
        assert events.quiet()
        stack.insert_card("--pins", PIN_ARG, wait=False)
        inserted, _ = events.wait("card_inserted")
        assert inserted.reader == READER_0
        t_pull = time.monotonic()
        stack.kill_card()  # the simcard process ends: the card is pulled
        _, t_seen = events.wait("card_removed")
        assert t_seen - t_pull < 0.5  # pcscd itself needs about 0.3 s to notice with vpcd
    finally:
        t0 = time.monotonic()
        worker.close()
        # SCardCancel ends the blocked wait at once; a cancel racing the start of a wait
        # is late by at most the worker's wait_s (0.5 s)
        assert time.monotonic() - t0 < 0.5 + 0.2


@pytest.mark.stack
def test_pcscd_stopped_and_restarted(card):
    worker = CardWorker(PcscBackend())
    events = Events(worker)
    try:
        events.wait("card_inserted")
        assert events.quiet()
        card.stop_pcscd()  # the readers (and the card in one) vanish with the daemon
        seen = []
        events.wait("pcscd_down", seen=seen)
        assert [(e.kind, e.reader) for e in seen] == [
            ("card_removed", READER_0), ("reader_removed", READER_0), ("reader_removed", READER_1),
            ("pcscd_down", None)]
        rid = worker.submit("tries_left", UA)
        assert events.wait("result", 2.0, rid)[0].result == CardResult("no_pcscd")
        card.start_pcscd()
        events.wait("pcscd_up")
        events.wait("card_inserted", 5.0)  # simcard reconnected by itself
        rid = worker.submit("verify", UA, pin(UA))
        assert events.wait("result", 2.0, rid)[0].result == CardResult("ok", 3)
    finally:
        worker.close()


@pytest.mark.stack
def test_pcscd_dying_mid_verify_is_no_pcscd(card):
    card.insert_card("--pins", PIN_ARG, "--verify-delay-s", "2")
    worker = CardWorker(PcscBackend())
    events = Events(worker)
    try:
        events.wait("card_inserted")
        rid = worker.submit("verify", SIG, pin(SIG))
        time.sleep(0.3)
        card.stop_pcscd()
        assert events.wait("result", 3.0, rid)[0].result == CardResult("no_pcscd")
    finally:
        worker.close()


def run_cli(stack, *args):
    return subprocess.run([sys.executable, "-m", "kiosk", *args], capture_output=True, text=True,
                          env=stack.env, cwd=ROOT, timeout=30)


@pytest.mark.stack
def test_card_status_cli(card):
    card.insert_card("--pins", PIN_ARG, "--tries", "signature=2,resident_registry=0")
    r = run_cli(card, "card", "status", "--card", "pcsc", "--json")
    assert r.returncode == 0, r.stderr
    first, other = (a.hex().upper() for a in RESIDENT_REGISTRY_AID_CANDIDATES)
    assert json.loads(r.stdout) == {
        "reader": READER_0, "readers": [READER_0, READER_1], "card": "present", "state": "ok",
        "token": "mynumber_card", "cert_valid_until": "2030-03-31",
        "resident_registry_aid": first, "resident_registry_candidates": {first: "63Cx", other: "no"},
        "pins": {"user_auth": {"tries_left": 3}, "signature": {"tries_left": 2},
                 "resident_registry": {"tries_left": 0}, "card_info_input": {"tries_left": 3}}}
    card.insert_card("--pins", PIN_ARG, "--resident-registry-aid", other, "--kind", "mynumber_card")
    r = run_cli(card, "card", "status", "--card", "pcsc")
    assert r.returncode == 0, r.stderr
    assert f"resident_registry applet: {other}  ({first}: no, {other}: 63Cx)" in r.stdout
    assert "valid until: 2030-03-31" in r.stdout
    card.insert_card("--pins", PIN_ARG, "--kind", "juki_card")
    r = run_cli(card, "card", "status", "--card", "pcsc", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["state"] == "juki_card"
    assert "old 住基カード" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli(card, "card", "status", "--card", "pcsc:Nonexistent", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["reader"] is None
    assert "no card reader found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    card.remove_card()
    r = run_cli(card, "card", "status", "--card", "pcsc", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["card"] == "absent"
    r = run_cli(card, "card", "status", "--card", "bogus")
    assert r.returncode == 2 and "unknown card spec" in r.stderr


@pytest.mark.stack
def test_card_status_cli_without_pcscd(stack):
    stack.stop()
    r = run_cli(stack, "card", "status", "--card", "pcsc", "--json")
    assert r.returncode == 1
    report = json.loads(r.stdout)
    assert (report["reader"], report["card"], report["state"]) == (None, "unknown", "no_pcscd")
    assert report["pins"] == {str(t): {"tries_left": None} for t in PinType}
    assert r.stderr.strip() == "pin-kiosk card: pcscd is not running (start it: systemctl start pcscd)"


def test_pcscd_absent_is_reported_at_once_and_waiting_for_it_costs_no_cpu(stack):
    stack.stop()
    t0 = time.monotonic()
    worker = CardWorker(PcscBackend())
    events = Events(worker)
    try:
        _, t_seen = events.wait("pcscd_down", 1.0)
        assert t_seen - t0 < 0.3
        rid = worker.submit("tries_left", SIG)
        event, t_result = events.wait("result", 1.0, rid)
        assert event.result == CardResult("no_pcscd") and t_result - t_seen < 0.3
        cpu0, wall0 = time.process_time(), time.monotonic()
        time.sleep(1.0)
        assert time.process_time() - cpu0 < 0.05 * (time.monotonic() - wall0) + 0.02
        assert events.quiet()  # reported once, not on every retry
    finally:
        worker.close()


@pytest.mark.stack
@pytest.mark.parametrize("tries", [(2, 4), (0, 5), (3, 0), (0, 0), (1, 1)])
def test_opensc_agrees_with_card_status_on_every_counter(card, tries):
    """pkcs15-tool --list-pins and pin-kiosk card status read the same counters, blocked ones too."""
    ua, sig = tries
    card.insert_card("--pins", PIN_ARG, "--tries", f"user_auth={ua},signature={sig}")
    name = subprocess.run(["opensc-tool", "--name"], env=card.env, capture_output=True, text=True, timeout=30)
    assert name.stdout.strip() == "jpki"
    r = subprocess.run(["pkcs15-tool", "--list-pins"], env=card.env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr + r.stdout  # a blocked PIN must not make the binding fail
    blocks = {b.splitlines()[0]: b for b in r.stdout.strip().split("\n\n")}
    assert f"Tries left     : {ua}" in blocks["PIN [User Authentication PIN]"]
    assert f"Tries left     : {sig}" in blocks["PIN [Digital Signature PIN]"]
    ours = run_cli(card, "card", "status", "--card", "pcsc", "--json")
    pins = json.loads(ours.stdout)["pins"]
    assert (pins["user_auth"]["tries_left"], pins["signature"]["tries_left"]) == (ua, sig)
    assert PcscBackend().tries_left(SIG) == CardResult("locked" if sig == 0 else "ok", sig)  # spent nothing


@pytest.mark.stack
def test_two_readers_holding_cards_is_two_cards_never_a_guess(card):
    card.insert_card("--pins", PIN_ARG, "--tries", "user_auth=1", slot=1, second=True)
    b = PcscBackend()
    assert b.identify(UA) == CardResult("two_cards")
    assert b.status().outcome == "two_cards"
    card._stop_process(card.second)
    wait_for(lambda: not card_present(READER_1), 5.0, "second card gone")
    assert b.identify(UA).ok


@pytest.mark.stack
def test_the_second_slots_card_never_gets_the_pin(card):
    """The issue's measurement: the citizen's card in slot 0, another card put into slot 1."""
    b = PcscBackend()
    citizen = b.identify(UA)
    assert (citizen.outcome, citizen.tries_left, citizen.identity.reader) == ("ok", 3, READER_0)
    card.insert_card("--pins", PIN_ARG, slot=1, second=True)
    assert b.verify(UA, pin(UA, good=False), citizen.identity, 3) == CardResult("wrong", 2)
    other = PcscBackend(READER_1)
    assert other.tries_left(UA) == CardResult("ok", 3)  # the second card's counter did not move
    assert b.tries_left(UA, citizen.identity) == CardResult("ok", 2)


@pytest.mark.stack
def test_a_fast_swap_is_card_changed_and_the_new_card_gets_nothing(card):
    b = PcscBackend()
    citizen = b.identify(UA)
    card.kill_card()
    card.insert_card("--pins", PIN_ARG, "--tries", "user_auth=2")  # another card, same reader
    # pcscd may still be catching up with the swap (card_removed); once it has, the card
    # answers and is not the session's (card_changed).  Neither gets the PIN.
    seen, deadline = [], time.monotonic() + 5.0
    while not seen or seen[-1] in ("card_removed", "no_card") and time.monotonic() < deadline:
        seen.append(b.verify(UA, pin(UA, good=False), citizen.identity, 3).outcome)
        time.sleep(0.05)
    assert set(seen) <= {"card_removed", "no_card", "card_changed"} and seen[-1] == "card_changed", seen
    assert PcscBackend().tries_left(UA) == CardResult("ok", 2)  # the new card's counter did not move


@pytest.mark.stack
def test_a_counter_changed_between_display_and_verify_is_caught(card):
    b = PcscBackend()
    citizen = b.identify(UA)
    assert b.verify(UA, pin(UA, good=False)) == CardResult("wrong", 2)  # another program spent one
    assert b.verify(UA, pin(UA), citizen.identity, shown_tries=3) == CardResult("counter_changed", 2)
    assert b.tries_left(UA, citizen.identity) == CardResult("ok", 2)  # the PIN was not sent


@pytest.mark.stack
@pytest.mark.parametrize("aid", RESIDENT_REGISTRY_AID_CANDIDATES, ids=lambda a: a.hex()[-4:])
def test_resident_registry_found_at_either_aid(card, aid):
    card.insert_card("--pins", PIN_ARG, "--resident-registry-aid", aid.hex(), "--tries", "resident_registry=2")
    r = PcscBackend().identify(RR)
    assert (r.outcome, r.tries_left, r.resident_registry_aid) == ("ok", 2, aid)
    assert PcscBackend().verify(RR, pin(RR), r.identity, 2) == CardResult("ok", 3)


@pytest.mark.stack
def test_empty_verify_after_a_good_one_answers_the_counter_like_the_real_card(card):
    """OpenSC PR #959: the JPKI card answers 00 20 00 80 with 63Cx even right after a good VERIFY."""
    from smartcard import scard

    from kiosk import jpki

    rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    rc, handle, proto = scard.SCardConnect(ctx, READER_0, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T1)
    try:
        def sw(apdu):
            rc, response = scard.SCardTransmit(handle, proto, list(apdu))
            return (response[-2] << 8) | response[-1]

        assert sw(jpki.select_applet(jpki.AID_JPKI)) == 0x9000
        assert sw(jpki.select_ef(b"\x00\x18")) == 0x9000
        assert sw(jpki.verify(PINS[UA].encode())) == 0x9000
        assert sw(jpki.VERIFY_COUNTER) == 0x63C3
    finally:
        scard.SCardDisconnect(handle, scard.SCARD_RESET_CARD)
        scard.SCardReleaseContext(ctx)


@pytest.mark.stack
@pytest.mark.parametrize("keeps", [False, True], ids=["reselect-drops", "reselect-keeps"])
def test_change_works_whatever_a_reselect_does_to_the_verified_state(card, keeps):
    card.insert_card("--pins", PIN_ARG, *(["--reselect-keeps-verified"] if keeps else []))
    b = PcscBackend()
    ident = b.identify(SIG).identity
    assert b.change(SIG, pin(SIG), Pin.from_text("NEW9Q2"), ident, 5) == CardResult("ok", 5)
    assert b.verify(SIG, Pin.from_text("NEW9Q2"), ident, 5).ok
    assert b.change(CI, pin(CI), Pin.from_text("3377"), ident, 3).ok


@pytest.mark.stack
def test_no_pin_reached_pcscd_or_the_card_output(stack):
    """Last in this file: everything pcscd and the card printed during all the tests above."""
    logs = stack.logs()
    assert b"card inserted into vpcd" in logs  # the scan reads real output
    for secret in SECRETS:
        assert not pin_in_logs(secret, logs), "a PIN reached pcscd's or the card's output"
