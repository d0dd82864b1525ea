"""Test support for calibration: a synthetic 9-target calibration on a known distorted panel."""
import math
import random

from calibration.matrix import Affine
from drivers.touch.taps import robust_position


def synthetic_calibration(seed, misclicks=(), noise_raw=4.0, samples=12):
    """9 targets on a 800x480 screen, tapped on a panel that is shifted, stretched and turned 2 degrees."""
    rng = random.Random(seed)
    ang = math.radians(2.0)
    sx, sy = 800 / 4096 * 1.04, 480 / 4096 * 0.97
    true = Affine(sx * math.cos(ang), -sx * math.sin(ang), 23.0, sy * math.sin(ang), sy * math.cos(ang), -11.0)
    inv = true.inverse()
    targets = [(x, y) for y in (48, 240, 432) for x in (80, 400, 720)]
    raws, sample_lists = [], []
    for i, (tx, ty) in enumerate(targets):
        if i in misclicks:  # the finger landed on the neighbouring area
            tx, ty = tx + rng.choice((-1, 1)) * 60, ty + rng.choice((-1, 1)) * 40
        rx, ry = inv.apply(tx, ty)
        xs = [rx + rng.gauss(0, noise_raw) for _ in range(samples)]
        ys = [ry + rng.gauss(0, noise_raw) for _ in range(samples)]
        xs[0] += 80  # landing and lifting spikes the estimator must ignore
        ys[-1] -= 80
        sample_lists.append(list(zip(xs, ys)))
        raws.append(robust_position(xs, ys))
    return true, targets, raws, sample_lists
