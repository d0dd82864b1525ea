"""No PIN length off the terminal: a 6- and a 16-character PIN leave the same traces.

Two sessions on a real ``pin-kiosk run`` differ only in the length of a wrong
signature PIN the citizen types (6 characters, then 16) before typing the
right one.  Every frame the console received for each session, the status
that follows it and the metrics file after it must be field for field the
same once the envelope's clock and counters (``ts``, ``seq``) and the audit
chain's head and seq are set aside; the frames' encoded sizes must be the same under
the same normalisation; the drift state on disk must not move at all (the
drift figures move only with a pool of several sessions).
"""
from __future__ import annotations

import re


import pytest

from support_kiosk import PINS, SECRETS, SIG, kiosk_on_stack
from support_pcsc import running_stack
from kiosk import frames
from kiosk.metrics import METRICS_FILE

pytestmark = pytest.mark.stack

WRONG = {6: "A1B2C3", 16: "Z9Y8X7W6V5U4T3S2", 10: "Q1W2E3R4T5"}
#: Fields of the envelope that are a clock, a counter or a hash: they differ between any two sessions.
VARYING = ("ts", "seq", "audit_head", "audit_seq")


@pytest.fixture(scope="module")
def stack():
    with running_stack(SECRETS + list(WRONG.values())) as s:
        yield s


def normal(frame: dict) -> dict:
    return {k: v for k, v in frame.items() if k not in VARYING}


def normal_size(frame: dict) -> int:
    chain = {"audit_head": "", "audit_seq": 0} if "audit_head" in frame else {}
    return len(frames.encode({**frame, "ts": "", "seq": 0, **chain}))


def metrics_without_clocks(text: str) -> dict[str, float]:
    """Every sample of the metrics file but the clocks, by series name and labels."""
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and not re.search(r"timestamp|_seconds", line.split(" ")[0]):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def change(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    assert before.keys() == after.keys()
    return {name: after[name] - before[name] for name in after}


def results(k, result: str) -> int:
    return sum(f["result"] == result for f in k.frames("pin.result"))


def one_session(k, wrong: str) -> tuple[list[dict], dict, list[str], bytes]:
    first = len(k.console.received)
    entries, wrongs, oks = len(k.frames("entry.started")), results(k, "wrong"), results(k, "ok")
    ended = len(k.frames("session.ended"))
    k.say("begin", pin_type=SIG.value, action="verify", operator="clerk01")
    k.wait_frame("entry.started", count=entries + 1)
    k.type(wrong, pin_type=SIG)
    k.press("enter", pin_type=SIG)
    k.wait_frame("pin.result", count=wrongs + 1, result="wrong")
    k.press("retry", screen="wrong_pin", pin_type=SIG)
    k.wait_frame("entry.started", count=entries + 2)
    k.type(PINS[SIG], pin_type=SIG)
    k.press("enter", pin_type=SIG)
    k.wait_frame("pin.result", count=oks + 1, result="ok")
    k.say("logout")
    k.wait_frame("session.ended", count=ended + 1)
    k.console.pump(1.2)  # the metrics file is rewritten after the session
    statuses = len(k.frames("status"))
    k.say("status_request")
    status = k.wait_frame("status", count=statuses + 1)
    events = [f for f in k.console.received[first:] if f["type"] != "status"]
    metrics = metrics_without_clocks((k.state_dir / METRICS_FILE).read_text())
    drift = (k.state_dir / "drift.json").read_bytes() if (k.state_dir / "drift.json").exists() else b""
    return events, status, metrics, drift


def test_a_6_and_a_16_character_pin_leave_the_same_frames_status_metrics_and_drift_state(stack, tmp_path):
    with kiosk_on_stack(stack, tmp_path) as k:
        m0 = one_session(k, WRONG[10])[2]  # the first session also finds the touch panel: not compared
        drift_before = (k.state_dir / "drift.json").read_bytes() if (k.state_dir / "drift.json").exists() else b""
        short = one_session(k, WRONG[6])
        long = one_session(k, WRONG[16])
    (ev6, st6, m6, d6), (ev16, st16, m16, d16) = short, long
    assert [f["type"] for f in ev6] == ["session.started", "entry.started", "pin.result", "entry.started",
                                        "pin.result", "session.ended"]
    assert [normal(f) for f in ev6] == [normal(f) for f in ev16]
    assert [normal_size(f) for f in ev6] == [normal_size(f) for f in ev16]
    assert normal(st6) == normal(st16) and normal_size(st6) == normal_size(st16)
    assert change(m0, m6) == change(m6, m16)  # both sessions moved every series by the same amount
    assert d6 == d16 == drift_before  # the drift state did not move with either session
