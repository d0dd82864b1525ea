"""The citizen's screen end to end: brisk doubled letters, and a click that says nothing.

Real pipeline: raw kernel touch events into a FIFO (``Finger``) -> ``pin-kiosk
run`` -> pcscd + vpcd -> the virtual card.  Sound goes through SDL's ``disk``
audio driver, a real SDL output that writes what would reach the speaker into
a file, so the test hears exactly what a person at the counter would.
"""
from __future__ import annotations

import array
import time

import pytest

from support_kiosk import PINS, SECRETS, SIG, UA, KioskUnderTest
from support_pcsc import running_stack
from kiosk.keypad import build_layout

pytestmark = pytest.mark.stack

DOUBLED = "AA11BBCC"  # a signature PIN with every character doubled


@pytest.fixture(scope="module")
def stack():
    with running_stack([*SECRETS, DOUBLED]) as s:
        yield s


def start(stack, tmp_path, pins: str, **options) -> KioskUnderTest:
    if stack.pcscd is None:
        stack.start_pcscd()
    stack.insert_card("--pins", pins)
    return KioskUnderTest(tmp_path, **options)


def brisk(k: KioskUnderTest, text: str, pin_type, period_s: float = 0.15, hold_s: float = 0.09) -> None:
    """Type as a brisk person does: a tap every ``period_s``, each held ``hold_s``."""
    layout = build_layout(pin_type, k.cfg.screen, k.cfg.keypad, k.lang)
    for ch in text:
        t0 = time.monotonic()
        k.finger.tap(*k.panel.inverse().apply(*layout.key_centre_px(ch)), hold_s=hold_s)
        time.sleep(max(0.0, period_s - (time.monotonic() - t0)))
    k.console.pump(0.3)


def test_doubled_letters_typed_at_150_ms_a_tap_verify(stack, tmp_path):
    k = start(stack, tmp_path, f"signature={DOUBLED},user_auth={PINS[UA]}")
    try:
        k.say("begin", pin_type=SIG.value, action="verify", operator="clerk01")
        assert k.wait_frame("entry.started")["tries_left"] == 5
        brisk(k, DOUBLED, SIG)
        k.press("enter", pin_type=SIG)
        r = k.wait_frame("pin.result")
        assert (r["result"], r["tries_left"]) == ("ok", 5)  # eight characters counted: no try wasted
        k.say("logout")
        k.wait_frame("session.ended")
    finally:
        k.finish()
        stack.remove_card()
    for name, data in k.everything_written().items():
        assert DOUBLED.encode() not in data, name


def sound_segments(raw: bytes, quiet_samples: int = 2000) -> list[bytes]:
    """The bursts of sound in a PCM stream, split at runs of silence."""
    samples = array.array("h", raw[: len(raw) // 2 * 2])
    out, start, zeros = [], None, 0
    for i, s in enumerate(samples):
        if s != 0:
            if start is None:
                start = i
            zeros = 0
            last = i
        elif start is not None:
            zeros += 1
            if zeros >= quiet_samples:
                out.append(samples[start: last + 1].tobytes())
                start, zeros = None, 0
    if start is not None:
        out.append(samples[start: last + 1].tobytes())
    return out


def test_every_key_clicks_the_same_and_the_results_sound_different(stack, tmp_path):
    audio = tmp_path / "speaker.raw"
    k = start(stack, tmp_path, f"user_auth={PINS[UA]}",
              env={"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(audio)})
    try:
        k.say("begin", pin_type=UA.value, action="verify", operator="clerk01")
        k.wait_frame("entry.started")
        k.type("1590")  # four different keys, one wrong PIN
        k.press("enter")
        assert k.wait_frame("pin.result")["result"] == "wrong"
        time.sleep(0.8)
        k.press("retry", screen="wrong_pin")
        k.wait_frame("entry.started", count=2)
        k.type(PINS[UA])
        k.press("enter")
        assert k.wait_frame("pin.result", count=2)["result"] == "ok"
        time.sleep(0.8)
        k.say("logout")
        k.wait_frame("session.ended")
    finally:
        k.finish()
        stack.remove_card()
    raw = audio.read_bytes()
    bursts = sound_segments(raw)
    # eleven presses (1 5 9 0 Enter, Retry, 4 8 2 1 Enter).  The stream's time is the mixer's,
    # not the wall clock's (a loaded machine runs late callbacks back to back), so clicks are
    # found as a waveform, not by the silence around them: the shortest burst is one click alone
    click = min(bursts, key=len)
    assert bursts[0].startswith(click)
    # every key the same samples: the nine presses away from a result all appear exactly; the two
    # Enters' clicks may be mixed into the first samples of the result tone the card's answer starts
    assert 9 <= raw.count(click) <= 11, (raw.count(click), [len(b) for b in bursts])
    rest = sound_segments(raw.replace(click, bytes(len(click))))
    assert len(rest) == 2, [len(b) for b in rest]  # what remains: the wrong tone, then the ok tone
    wrong, ok = rest
    assert wrong != ok and min(len(wrong), len(ok)) > 10 * len(click)
