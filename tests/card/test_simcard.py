"""`pin-kiosk simcard`: argument errors are one line (exit 2); it waits for pcscd and plugs in."""
import subprocess
import sys

import pytest

from drivers.card.pcsc import PcscBackend
from drivers.card.vpcd import parse_hostport
from kiosk.jpki import CardResult
from kiosk.pin import PinType
from support_pcsc import ROOT, PcscStack, card_present, pin_in_logs, wait_for


@pytest.mark.parametrize("args,message", [
    (["--pins", "user_auth=12"], "pins: user_auth does not fit its rule (too_short)"),
    (["--pins", "signature=abc123"], "pins: signature does not fit its rule (bad_char)"),
    (["--pins", "pin=1234"], "unknown PIN type 'pin'"),
    (["--tries", "signature=9"], "tries: signature must be 0..5, got '9'"),
    (["--vpcd", "127.0.0.1:http"], "port must be 1..65535, got 'http'"),
])
@pytest.mark.stack
def test_bad_arguments_are_one_line_exit_2(args, message):
    r = subprocess.run([sys.executable, "-m", "kiosk.commands.simcard", *args],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr


@pytest.mark.stack
def test_bad_arguments_through_the_main_command_line():
    r = subprocess.run([sys.executable, "-m", "kiosk", "simcard", "--tries", "user_auth=x"],
                       capture_output=True, text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 2
    assert r.stderr.strip() == "pin-kiosk simcard: tries: user_auth must be 0..3, got 'x'"


def test_parse_hostport():
    assert parse_hostport("127.0.0.1:35963") == ("127.0.0.1", 35963)
    assert parse_hostport("localhost") == ("localhost", 35963)
    for bad in (":1", "h:0", "h:70000"):
        with pytest.raises(ValueError):
            parse_hostport(bad)


def test_pin_scanner_finds_pins_as_text_or_hex_but_not_inside_numbers():
    assert pin_in_logs("4729", b"verify 4729 failed")
    assert pin_in_logs("4729", b"APDU: 00 20 00 80 04 34 37 32 39")
    assert pin_in_logs("QX7K2M", b"data=5158374B324D\n")
    assert not pin_in_logs("4729", b"00472900 winscard.c:935:SCardDisconnect()")


@pytest.mark.stack
def test_card_started_before_pcscd_plugs_in_when_pcscd_comes():
    stack = PcscStack()
    try:
        stack.insert_card("--pins", "user_auth=2580", wait=False)  # vpcd not listening yet
        wait_for(lambda: b"waiting for vpcd" in stack.logs(), 10.0, "the card to wait for vpcd")
        stack.start_pcscd()
        wait_for(card_present, 5.0, "the waiting card to plug in")
        assert PcscBackend().tries_left(PinType.USER_AUTH) == CardResult("ok", 3)
    finally:
        logs = stack.cleanup()
    assert not pin_in_logs("2580", logs)
