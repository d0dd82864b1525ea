"""The calibration matrix: hand-worked examples, fitting with misclicks, conversions."""
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calibration.matrix import (Affine, FitError, fit_affine, format_libinput, from_libinput, from_pointercal,
                                residuals_mm, to_libinput, to_pointercal)
from support_calibration import synthetic_calibration


def close(a, b, tol=1e-9):
    return all(math.isclose(x, y, rel_tol=tol, abs_tol=tol) for x, y in zip(a, b))


def test_apply_and_inverse_by_hand():
    m = Affine(2, 0, 10, 0, 3, -5)
    assert m.apply(1, 2) == (12, 1)
    inv = m.inverse()
    assert close(inv.as_tuple(), (0.5, 0, -5, 0, 1 / 3, 5 / 3))
    assert close(inv.apply(12, 1), (1, 2))
    with pytest.raises(FitError, match="singular"):
        Affine(1, 2, 0, 2, 4, 0).inverse()


def test_three_points_fit_exactly_by_hand():
    fit = fit_affine([(10, 20), (210, 20), (10, 320)], [(0, 0), (100, 0), (0, 100)])
    assert close(fit.affine.as_tuple(), (2, 0, 10, 0, 3, 20))
    assert fit.rejected == [] and max(fit.residuals_px) < 1e-9


def test_a_panel_mounted_a_quarter_turn_fits_by_hand():
    # x_px = -y + 5, y_px = x + 5
    fit = fit_affine([(5, 5), (5, 15), (-5, 5)], [(0, 0), (10, 0), (0, 10)])
    assert close(fit.affine.as_tuple(), (0, -1, 5, 1, 0, 5))


def test_uncalibrated_map_stretches_each_axis_range_over_the_screen():
    m = Affine.scaled(100, 4195, 0, 4095, 800, 480)
    assert close(m.as_tuple(), (800 / 4096, 0, -19.53125, 0, 480 / 4096, 0))
    assert close(m.apply(100, 0), (0, 0))


SCREEN = (800, 480)
AX = (0, 4095, 0, 4095)


@pytest.mark.parametrize("affine,libinput", [
    (Affine(800 / 4096, 0, 0, 0, 480 / 4096, 0), (1, 0, 0, 0, 1, 0)),
    (Affine(800 / 4096, 0, 80, 0, 480 / 4096, -24), (1, 0, 0.1, 0, 1, -0.05)),
    (Affine(0, 800 / 4096, 0, 480 / 4096, 0, 0), (0, 1, 0, 1, 0, 0)),            # swapped axes
    (Affine(-800 / 4096, 0, 800, 0, 480 / 4096, 0), (-1, 0, 1, 0, 1, 0)),        # mirrored X
])
def test_libinput_matrix_by_hand(affine, libinput):
    assert close(to_libinput(affine, *AX, *SCREEN), libinput)
    assert close(from_libinput(libinput, *AX, *SCREEN).as_tuple(), affine.as_tuple())


def test_libinput_normalizes_over_max_minus_min_plus_one_from_the_minimum():
    # x 100..4195: span 4096; the uncalibrated map is libinput's identity
    m = Affine.scaled(100, 4195, 50, 2097, 1024, 768)
    assert close(to_libinput(m, 100, 4195, 50, 2097, 1024, 768), (1, 0, 0, 0, 1, 0))
    # 1024x1024-unit panel on a 1024x768 screen, x halved and shifted 100 px, y doubled and up 50 px
    m = Affine(0.5, 0, 100, 0, 2 * 768 / 1024, -50)
    assert close(to_libinput(m, 0, 1023, 0, 1023, 1024, 768), (0.5, 0, 100 / 1024, 0, 2, -50 / 768))
    assert format_libinput((1, 0, 0.1, 0, 1, -0.05)) == 'ENV{LIBINPUT_CALIBRATION_MATRIX}="1 0 0.1 0 1 -0.05"'


def test_pointercal_by_hand():
    m = Affine(0.25, 0, 10, 0, 0.5, -3)
    assert to_pointercal(m, 800, 480) == "16384 0 655360 0 32768 -196608 65536 800 480 0"
    assert from_pointercal("16384 0 655360 0 32768 -196608 65536 800 480 0", 800, 480) == m
    # made at 400x240, used at 800x480: everything in pixels doubles
    assert from_pointercal("16384 0 655360 0 32768 -196608 65536 400 240 0", 800, 480) == Affine(0.5, 0, 20, 0, 1, -6)
    # an old 7-field file from ts_calibrate, worked by hand at raw (2000, 2000):
    # x = (-67*2000 - 8611*2000 + 33412940) / 65536 = 245.00946044921875
    # y = (5802*2000 - 28*2000 - 1961412) / 65536   = 146.27972412109375
    m = from_pointercal("-67 -8611 33412940 5802 -28 -1961412 65536\n", 800, 480)
    assert m.apply(2000, 2000) == (245.00946044921875, 146.27972412109375)


@pytest.mark.parametrize("text,reason", [("1 2 3", "expected 7"), ("1 0 0 0 1 0 0", "divisor"),
                                         ("1 0 0 0 1 0 65536 800 480 1", "rotation"),
                                         ("a b c d e f g", "integer"), ("0 0 0 0 0 0 65536", "singular"),
                                         ("1 0 0 0 1 0 65536 0 480 0", "resolution")])
def test_bad_pointercal_is_a_clear_error(text, reason):
    with pytest.raises(FitError, match=reason):
        from_pointercal(text, 800, 480)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("misclicks", [(), (4,), (0, 7)])
def test_fit_recovers_a_known_distortion_from_noisy_taps_and_rejects_misclicks(seed, misclicks):
    true, targets, raws, _ = synthetic_calibration(seed, misclicks)
    fit = fit_affine(targets, raws, reject_px=15.0)
    assert sorted(fit.rejected) == sorted(misclicks)
    for x, y in [(0, 0), (4095, 0), (0, 4095), (4095, 4095), (2048, 2048)]:
        got, want = fit.affine.apply(x, y), true.apply(x, y)
        assert math.hypot(got[0] - want[0], got[1] - want[1]) < 1.5
    assert fit.rms_px < 1.5
    for i in misclicks:
        assert fit.residuals_px[i] > 30


def test_residuals_in_mm_use_each_axis_own_scale():
    m = Affine.identity()
    # 3 px off in x at 2 px/mm and 4 px off in y at 1 px/mm: 1.5 mm and 4 mm -> hypot
    assert residuals_mm(m, [(3, 4)], [(0, 0)], 2.0, 1.0) == [math.hypot(1.5, 4.0)]


@pytest.mark.parametrize("targets,raws,reason", [
    ([(0, 0), (1, 1)], [(0, 0), (1, 1)], "at least 3"),
    ([(0, 0), (1, 0), (0, 1)], [(0, 0), (1, 1), (2, 2)], "raw points lie on a line"),
    ([(0, 0), (1, 1), (2, 2)], [(0, 0), (1, 0), (0, 1)], "targets lie on a line"),
    ([(0, 0), (1, 0), (0, 1)], [(5, 5), (5, 5), (5, 5)], "on a line"),
    ([(0, 0), (1, 0), (0, 1)], [(0, 0), (float("nan"), 0), (0, 1)], "NaN"),
    ([(0, 0), (1, 0), (0, 1)], [(0, 0), (1, 0)], "3 targets but 2"),
    ([(0, 0), (1, 0), (0, "x")], [(0, 0), (1, 0), (0, 1)], "expected \\[x, y\\]"),
])
def test_degenerate_input_is_a_clear_error_never_a_matrix(targets, raws, reason):
    with pytest.raises(FitError, match=reason):
        fit_affine(targets, raws)


def test_rejection_never_leaves_fewer_than_a_majority():
    true, targets, raws, _ = synthetic_calibration(3, misclicks=(0, 1, 2, 3))
    fit = fit_affine(targets, raws, reject_px=15.0)
    assert len(fit.rejected) <= 3 and len(fit.kept) >= 6
    assert fit.max_px > 15.0  # the fit reports it could not explain every point


finite = st.floats(min_value=-5, max_value=5, allow_nan=False)


@settings(max_examples=150, deadline=None)
@given(a=finite, b=finite, c=st.floats(-1000, 1000), d=finite, e=finite, f=st.floats(-1000, 1000),
       xmin=st.integers(-5000, 5000), xspan=st.integers(16, 40000), ymin=st.integers(-5000, 5000),
       yspan=st.integers(16, 40000), w=st.integers(240, 4000), h=st.integers(240, 4000))
def test_conversions_round_trip(a, b, c, d, e, f, xmin, xspan, ymin, yspan, w, h):
    m = Affine(a, b, c, d, e, f)
    xmax, ymax = xmin + xspan - 1, ymin + yspan - 1
    back = from_libinput(to_libinput(m, xmin, xmax, ymin, ymax, w, h), xmin, xmax, ymin, ymax, w, h)
    assert close(back.as_tuple(), m.as_tuple(), 1e-7)
    if abs(m.det) > 1e-3:
        tc = from_pointercal(to_pointercal(m, w, h), w, h)
        for x, y in [(xmin, ymin), (xmax, ymax), (xmin, ymax)]:
            p, q = m.apply(x, y), tc.apply(x, y)
            # each coefficient is rounded to 1/65536: the error grows with the coordinates
            tol = (abs(x) + abs(y) + 1) / 65536
            assert abs(p[0] - q[0]) <= tol and abs(p[1] - q[1]) <= tol
        inv = m.inverse()
        x, y = inv.apply(*m.apply(xmin + 3, ymax - 5))
        assert math.isclose(x, xmin + 3, abs_tol=1e-6 * (1 + abs(xmin))) and math.isclose(y, ymax - 5, abs_tol=1e-6 * (1 + abs(ymax)))


def test_two_corner_misclicks_that_fool_a_greedy_rejection_are_both_found():
    # true map raw = (5 px, 8 px); +-1 px of tap noise; the two top corners tapped 60 px
    # (about 11.6 mm) to the right.  Dropping the worst residual one at a time removed three
    # good points here (5, 6, 4) and kept both misclicks; the exhaustive fit leaves out just them.
    targets = [(round(fx * 799), round(fy * 479)) for fx, fy in
               ((0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9), (0.5, 0.5), (0.5, 0.1), (0.9, 0.5), (0.5, 0.9), (0.1, 0.5))]
    noise = [(1, -1), (-1, 1), (1, 1), (-1, -1), (0, 1), (1, 0), (0, -1), (-1, 0), (1, -1)]
    raws = [((x + nx + (60 if i in (0, 2) else 0)) * 5, (y + ny) * 8)
            for i, ((x, y), (nx, ny)) in enumerate(zip(targets, noise))]
    fit = fit_affine(targets, raws, reject_px=15.6)
    assert sorted(fit.rejected) == [0, 2]
    for x, y in targets:  # where a touch on each target really maps
        px, py = fit.affine.apply(x * 5, y * 8)
        assert math.hypot(px - x, py - y) < 2.5   # half a millimetre
    assert fit.max_px < 3


def test_without_a_misclick_the_fit_is_plain_least_squares():
    rng = random.Random(5)
    targets = [(rng.uniform(0, 800), rng.uniform(0, 480)) for _ in range(9)]
    raws = [(x * 5 + rng.gauss(0, 2), y * 8 + rng.gauss(0, 2)) for x, y in targets]
    assert fit_affine(targets, raws, reject_px=15.6).affine == fit_affine(targets, raws, max_rejected=0).affine
