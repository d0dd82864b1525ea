"""Sounds: one key click for every key, and a distinct tone per PIN result.

The click is the same sound for every key, by construction: ``Speaker.click``
takes no key, and ``pcm("click")`` is one fixed waveform.  A click that
varied with the key (pitch, length, loudness) would let anyone near the
counter hear the PIN; so would a click for some keys and not others.  The
result tones differ from each other and from the click, so a citizen who
cannot read the screen well hears whether the PIN was right.

``pcm`` is pure (samples from a name); ``Speaker`` is the thin shell over
``pygame.mixer`` (SDL's ALSA output on a terminal; SDL_AUDIODRIVER=dummy or
disk in tests).  No sound device is a state, not an error: the speaker stays
silent and says why once in the log.
"""
from __future__ import annotations

import array
import logging
import math

log = logging.getLogger(__name__)

RATE_HZ = 22050
#: name -> (frequency Hz, duration s, gap after s) notes; the click first.
TONES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "click": ((1800.0, 0.012, 0.0),),
    "ok": ((660.0, 0.12, 0.03), (990.0, 0.22, 0.0)),        # rising: done
    "wrong": ((440.0, 0.16, 0.08), (440.0, 0.16, 0.0)),     # two low: try again
    "locked": ((330.0, 0.18, 0.06), (262.0, 0.18, 0.06), (196.0, 0.40, 0.0)),  # falling: stop
}
#: ``pin.result`` result -> tone (results without a tone are silent).
RESULT_TONES = {"ok": "ok", "wrong": "wrong", "locked": "locked"}


def pcm(name: str, volume: float, rate_hz: int = RATE_HZ) -> bytes:
    """Signed 16-bit mono samples of tone ``name`` at ``volume`` (0..1)."""
    amp = max(0.0, min(1.0, volume)) * 0.8 * 32767
    out = array.array("h")
    for freq, dur, gap in TONES[name]:
        n = int(dur * rate_hz)
        ramp = max(1, int(0.003 * rate_hz))  # 3 ms fade in and out: no crackle at the edges
        for i in range(n):
            env = min(1.0, i / ramp, (n - 1 - i) / ramp)
            if name == "click":
                env *= math.exp(-i / (0.004 * rate_hz))
            out.append(int(amp * env * math.sin(2 * math.pi * freq * i / rate_hz)))
        out.extend([0] * int(gap * rate_hz))
    return out.tobytes()


class Speaker:
    """Plays the click and the result tones; silent (and says why, once) without a sound device."""

    def __init__(self, enabled: bool, volume: float) -> None:
        self._sounds: dict[str, object] = {}
        self.problem: str | None = None
        if not enabled or volume <= 0:
            self.problem = "sound off in the configuration"
            return
        try:
            import pygame
            if pygame.mixer.get_init() is None:
                pygame.mixer.init(frequency=RATE_HZ, size=-16, channels=1, buffer=512)
            rate, _, channels = pygame.mixer.get_init()
            for name in TONES:
                mono = array.array("h", pcm(name, volume, rate))
                samples = mono if channels == 1 else array.array("h", (s for s in mono for _ in range(channels)))
                self._sounds[name] = pygame.mixer.Sound(buffer=samples.tobytes())
        except Exception as exc:  # no device, busy device, no SDL audio: a state, the kiosk works on
            self.problem = f"no sound: {type(exc).__name__}: {exc}"
            self._sounds.clear()
            log.warning("%s", self.problem)

    def click(self) -> None:
        """A key was committed: the same click whatever the key."""
        self.play("click")

    def result(self, result: str) -> None:
        """The card answered: the tone of ``result`` (silent for results without one)."""
        tone = RESULT_TONES.get(result)
        if tone is not None:
            self.play(tone)

    def play(self, name: str) -> None:
        """Play tone ``name`` (the terminal decides which; ``kiosk.terminal.Sound``)."""
        sound = self._sounds.get(name)
        if sound is not None:
            sound.play()  # type: ignore[attr-defined]

    def close(self) -> None:
        self._sounds.clear()
