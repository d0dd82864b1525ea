"""The session bound to its card, end to end: ``pin-kiosk run`` over pcscd + two vpcd readers.

The certificate's end date reaches the console and nothing personal does (the virtual
card's certificate names a test person); a card in the second reader never gets the PIN;
``begin resident_registry change`` is refused before anything is typed.
"""
from __future__ import annotations

import base64
import time
from datetime import date

import pytest

from drivers.card.pcsc import PcscBackend
from drivers.card.virtual import TEST_PERSON, certificate_for
from kiosk.pin import PinType
from support_kiosk import PIN_ARG, SECRETS, UA, KioskUnderTest, kiosk_on_stack
from support_pcsc import READER_1, running_stack, wait_for

pytestmark = pytest.mark.stack

SERIAL = "5eed0001"
pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS) as s:
        yield s


def test_certificate_date_reaches_the_console_and_nothing_personal_does(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path, card_args=("--cert-serial", SERIAL, "--valid-until", "2027-02-28")) as k:
        k.say("begin", pin_type="user_auth", action="verify", operator="clerk01")
        started = k.wait_frame("entry.started")
        assert started["cert_valid_until"] == "2027-02-28"
        k.say("logout")
        k.wait_frame("session.ended")
        blobs = {**k.everything_written(), "pcscd+card": stack.logs()}
    cert = certificate_for(bytes.fromhex(SERIAL), date(2027, 2, 28))
    personal = [v.encode() for v in TEST_PERSON.values()]
    body = [cert[40:80], cert[40:80].hex().encode(), cert[40:80].hex().upper().encode(),
            base64.b64encode(cert[30:90])[8:48]]
    for name, data in blobs.items():
        for secret in personal + body:
            assert secret not in data, f"{secret!r} in {name}"


def test_a_card_in_the_second_reader_never_gets_the_pin(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        k.say("begin", pin_type="user_auth", action="verify", operator="clerk01")
        assert k.wait_frame("entry.started")["tries_left"] == 3
        stack.insert_card("--pins", PIN_ARG, slot=1, second=True)  # another citizen's card
        k.type("0000")
        k.press("enter")
        r = k.wait_frame("pin.result")
        assert (r["result"], r["tries_left"]) == ("wrong", 2)
        assert PcscBackend(READER_1).tries_left(UA).tries_left == 3  # its counter did not move
        k.say("logout")
        k.wait_frame("session.ended")


def test_resident_registry_change_is_refused_before_anything_is_typed(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        k.say("begin", pin_type="resident_registry", action="change", operator="clerk01")
        alert = k.wait_frame("alert", code="change_not_supported")
        assert "not supported" in alert["message"]
        assert k.frames("session.started") == [] and k.frames("entry.started") == []


def test_a_card_pulled_during_verify_is_recounted_for_the_clerk_at_the_next_insertion(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path, card_args=("--cert-serial", SERIAL, "--verify-delay-s", "2")) as k:
        k.say("begin", pin_type="user_auth", action="verify", operator="clerk01")
        k.wait_frame("entry.started")
        k.type("0000")
        k.press("enter")
        time.sleep(0.5)  # the card is checking the PIN
        stack.kill_card()
        assert k.wait_frame("pin.result")["result"] == "card_removed"
        assert k.wait_frame("session.ended")["reason"] == "card_removed"
        assert k.frames("card.counter") == []
        # the same card back (same certificate), its counter as the card now says
        stack.insert_card("--pins", PIN_ARG, "--cert-serial", SERIAL, "--tries", "user_auth=2")
        counter = k.wait_frame("card.counter")
        assert {key: counter[key] for key in ("pin_type", "reason", "card", "tries_left")} == {
            "pin_type": "user_auth", "reason": "removed_during_verify", "card": "same", "tries_left": 2}


def test_a_fast_swap_ends_the_session_and_the_new_card_gets_nothing(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        k.say("begin", pin_type="user_auth", action="verify", operator="clerk01")
        k.wait_frame("entry.started")
        k.type("0000")
        stack.kill_card()
        stack.insert_card("--pins", PIN_ARG, "--tries", "user_auth=2")  # another citizen's card
        k.press("enter")
        r = k.wait_frame("pin.result")
        assert r["result"] == "card_removed"
        assert k.wait_frame("session.ended")["reason"] == "card_removed"
        # pcscd may still be catching up with the swap: once it sees the new card, its counter
        counts = []
        wait_for(lambda: counts.append(PcscBackend().tries_left(UA).tries_left) or counts[-1] is not None,
                 5.0, "the new card")
        assert counts[-1] == 2  # did not move
