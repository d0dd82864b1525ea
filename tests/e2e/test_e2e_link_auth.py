"""Anyone on the serial line is no longer the console: protocol 2 over a real ``pin-kiosk run``.

The kiosk and the staff console hold the terminal's key.  While the staff PC is
off the line, a stranger who hears everything (boots, seqs, the MACs of the
kiosk's frames) acks the kiosk's results in version 1 and with a wrong key,
sends a logout, and replays the clerk's own ``begin`` byte for byte.  None of
it is acted on or acked: the returning console still gets the result, the
session is still open, and the kiosk counts what it refused.
"""
from __future__ import annotations

import json
import os

import pytest

from support_kiosk import SECRETS, UA, kiosk_on_stack
from support_pcsc import running_stack
from support_pty import _read, _write_all, wait_for
from kiosk import frames

pytestmark = pytest.mark.stack

KEY = bytes.fromhex("5f" * 32)
STRANGER_KEY = bytes.fromhex("a0" * 32)


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS) as s:
        yield s


def overheard(data: bytes) -> list[dict]:
    """What a stranger without the key reads off the line: the JSON of every line."""
    out = []
    for line in data.split(b"\n"):
        body, star, _ = line.rpartition(b"*")
        if star:
            try:
                out.append(json.loads(body))
            except ValueError:
                pass
    return out


def forged(obj: dict, key: bytes | None) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    line = body + b"*" + frames.crc_hex(body)
    return line + (b":" + frames.mac_hex(key, body) if key else b"") + b"\n"


def test_a_stranger_on_the_line_cannot_ack_results_away_or_give_commands(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path, key=KEY) as k:
        hello = k.frames("hello")[0]
        assert hello["v"] == 2 and hello["version"] == 2
        k.say("begin", pin_type=UA.value, action="verify", operator="clerk01")
        k.wait_frame("entry.started")
        # the staff PC goes off the line; the citizen types a wrong PIN
        for ch in "1111":
            k.press(ch, pump=False)
        k.press("enter", pump=False)
        heard = bytearray()
        wait_for(lambda: heard.extend(_read(k.master)) or b"pin.result" in heard, 10)
        kiosk_boot = hello["boot"]
        stolen = [f for f in overheard(bytes(heard)) if f.get("type") in ("pin.result", "status")]
        assert any(f["type"] == "pin.result" for f in stolen)
        stranger = "5742a46e72"
        lines = []
        for f in stolen:
            ack = {"v": 1, "type": "ack", "seq": 0, "boot": stranger, "ack": f["seq"], "ack_boot": f["boot"]}
            lines += [forged(ack, None), forged({**ack, "v": 2, "to": kiosk_boot}, STRANGER_KEY)]
        logout = {"v": 2, "type": "logout", "seq": 1, "boot": stranger, "to": kiosk_boot}
        lines += [forged({**logout, "v": 1}, None), forged(logout, STRANGER_KEY)]
        # the clerk's own begin, byte for byte as it went over the line: a replay
        clerk_begin = {"v": 2, "type": "begin", "seq": 1, "boot": k.console.link.boot, "to": kiosk_boot,
                       "pin_type": "user_auth", "action": "verify", "operator": "clerk01"}
        for line in lines:
            _write_all(k.master, line)
        _write_all(k.master, frames.encode(clerk_begin, KEY))
        wait_for(lambda: heard.extend(_read(k.master)) or False, 1.5)
        refused_acks = [f for f in overheard(bytes(heard)) if f.get("type") == "ack" and f.get("ack_boot") == stranger]
        assert refused_acks == []  # nothing of the stranger's was acked
        # the staff PC returns: the result is still there, the session still open
        result = k.wait_frame("pin.result")
        assert (result["result"], result["tries_left"]) == ("wrong", 2)
        k.console.pump(2.5)
        assert k.frames("session.ended") == [] and len(k.frames("session.started")) == 1
        status = k.frames("status")[-1]
        assert status["authenticated"] is True and status["rx_unauthenticated"] >= len(lines)
        k.say("logout")
        assert k.wait_frame("session.ended")["reason"] == "logout"
    assert "unauthenticated" not in k.err()


def test_without_the_key_the_console_cannot_drive_a_keyed_kiosk(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path, key=KEY) as k:
        from support_pty import TestConsole
        os.set_blocking(k.master, False)
        keyless = TestConsole(k.master, retransmit_s=0.3, boot="0ddc0de")
        keyless.command("begin", pin_type=UA.value)
        keyless.pump(2.0)
        assert keyless.received == [] and keyless.link.pending == 1  # nothing decodes, nothing acked
        k.console.pump(2.5)
        assert k.frames("session.started") == []
        assert k.frames("status")[-1]["rx_unauthenticated"] >= 3
