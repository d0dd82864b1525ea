"""What the counter's screen shows, against what ``pin-kiosk screens`` renders.

The capture is QEMU's ``screendump`` of the virtio-gpu scanout (a PPM); the
reference is the PNG ``pin-kiosk screens`` draws for the same screen in the
same guest (the shipped code, Debian's pygame and fonts, SDL's dummy driver).
They are compared pixel by pixel: a pixel differs when any channel differs by
more than ``CHANNEL_TOLERANCE`` (scaling and dithering noise), and the share
of differing pixels is the verdict (the issue allows 1 %).
"""
from __future__ import annotations

from pathlib import Path

CHANNEL_TOLERANCE = 24
REFERENCE_DIR = "/run/pin-kiosk-test-screens"


def _rgb(path: Path) -> tuple[tuple[int, int], bytes]:
    import pygame
    surf = pygame.image.load(str(path))
    return surf.get_size(), pygame.image.tobytes(surf, "RGB")


def differing_fraction(a: Path, b: Path) -> float:
    """Share of pixels that differ between two images of one size (1.0 when sizes differ)."""
    (size_a, pa), (size_b, pb) = _rgb(a), _rgb(b)
    if size_a != size_b:
        return 1.0
    t = CHANNEL_TOLERANCE
    differ = 0
    for i in range(0, len(pa), 3):
        if abs(pa[i] - pb[i]) > t or abs(pa[i + 1] - pb[i + 1]) > t or abs(pa[i + 2] - pb[i + 2]) > t:
            differ += 1
    return differ / (size_a[0] * size_a[1])


def reference(counter, name: str, lang: str = "ja") -> Path:
    """The rendered screen ``name`` (``pin-kiosk screens``' file name) fetched from the guest."""
    local = counter.dir / "reference" / f"{lang}-{name}.png"
    if not local.exists():
        counter.agent.sh(f"test -d {REFERENCE_DIR} || SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy "
                         f"pin-kiosk screens --config /etc/pin-kiosk/kiosk.toml --out {REFERENCE_DIR} --lang all "
                         f">/dev/null", timeout_s=600)
        local.parent.mkdir(parents=True, exist_ok=True)
        for lg in ("ja", "en"):
            for n in names(counter):
                (local.parent / f"{lg}-{n}.png").write_bytes(counter.agent.read(f"{REFERENCE_DIR}/{lg}-{n}.png"))
    return local


def names(counter) -> list[str]:
    out = counter.agent.sh(f"ls {REFERENCE_DIR}")
    return sorted({line.split("-", 1)[1][:-4] for line in out.split() if line.endswith(".png")})


def capture(counter, label: str) -> Path:
    shots = counter.dir / "screens"
    shots.mkdir(exist_ok=True)
    n = len(list(shots.iterdir()))
    return counter.machine.screendump(shots / f"{n:03d}-{label}.ppm")


def wait_screen(counter, name: str, timeout_s: float = 60.0, lang: str = "ja", max_fraction: float = 0.01) -> float:
    """Capture until the screen matches the rendered ``name`` (within ``max_fraction``); the last fraction."""
    import time
    ref = reference(counter, name, lang)
    end = time.monotonic() + timeout_s
    best = 1.0
    while True:
        shot = capture(counter, name)
        frac = differing_fraction(shot, ref)
        best = min(best, frac)
        if frac <= max_fraction:
            return frac
        if time.monotonic() > end:
            raise AssertionError(f"screen never became {lang}-{name} within {timeout_s:.0f} s: "
                                 f"best {best:.2%} of pixels differ; last capture {shot}")
