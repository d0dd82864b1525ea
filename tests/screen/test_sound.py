"""Sounds: the key click carries nothing of the key; result tones are told apart."""
from __future__ import annotations

import inspect

import pytest

from support_screen import dummy_sdl

dummy_sdl()

from kiosk.sound import RESULT_TONES, TONES, Speaker, pcm  # noqa: E402


def test_the_click_is_one_waveform_and_the_speaker_cannot_be_told_the_key():
    assert pcm("click", 0.5) == pcm("click", 0.5)
    assert list(inspect.signature(Speaker.click).parameters) == ["self"]


def test_result_tones_differ_from_each_other_and_from_the_click_and_follow_the_volume():
    waves = {name: pcm(name, 0.5) for name in TONES}
    assert len(set(waves.values())) == len(TONES)
    assert set(RESULT_TONES.values()) <= set(TONES) - {"click"}
    assert max(abs(int.from_bytes(waves["ok"][i:i + 2], "little", signed=True))
               for i in range(0, len(waves["ok"]), 2)) > 10000
    assert set(pcm("ok", 0.0)) == {0}


@pytest.mark.stack  # opens SDL's (dummy) audio device
def test_no_sound_device_or_sound_off_is_a_silent_speaker_not_an_error():
    off = Speaker(False, 0.5)
    assert off.problem == "sound off in the configuration"
    off.click()
    off.result("ok")
    on = Speaker(True, 0.5)  # SDL's dummy audio driver: a device that plays into nothing
    assert on.problem is None
    on.click()
    on.result("wrong")
    on.result("cancelled")  # no tone for it: silent
    on.close()
