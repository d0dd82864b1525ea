"""Nothing the drift path keeps, stores or prints can reveal a PIN.

Known PINs are played through the real keypad geometry (kiosk.keypad) with
the same taps (same seeded noise): if every output is the same whatever the
PIN, no output can tell which PIN was typed, not even which keys were pressed.
"""
import json
import random
import subprocess
import sys

import pytest

from calibration import simulate
from calibration.drift import DriftEstimator, SessionDrift
from kiosk.drift_state import save_estimator
from kiosk.config import load_config
from kiosk.pin import PinType

CFG = load_config()
GEO = simulate.geometry(CFG)
#: A steady tapper: every tap lands on the key aimed at.  (A tap that misses its key
#: registers on the neighbour, or in a gap at the keypad's edge: that depends on where
#: the key is, so only same-landing taps can give bit-identical outputs.)
PERSON = simulate.Person((0.7, 1.6), 1.0)


@pytest.fixture(autouse=True)
def _no_wild_taps(monkeypatch):
    monkeypatch.setattr(simulate, "WILD_TAP_P", 0.0)


def _round(obj):
    """Floats to 9 significant digits: the same taps on different keys differ only in the last bits."""
    if isinstance(obj, float):
        return float(f"{obj:.9g}")
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_round(v) for v in obj]
    return obj


def _play(pins, seed, drift_mm=(0.0, 0.0)):
    """Type each (type, text) with taps from one seeded stream; everything the drift path yields."""
    rng = random.Random(seed)
    est = DriftEstimator(CFG.drift, GEO.key_pitch_mm)
    summaries = []
    for pin_type, text in pins:
        acc = SessionDrift()
        ok = simulate.type_pin(rng, GEO, PERSON, pin_type, text, drift_mm, acc)
        summaries.append(acc.summary())
        assert text not in repr(acc)
        est.add_session(acc.summary(), wrong_pin=not ok)
        acc.wipe()
        assert acc.summary().n == 0
    return summaries, est


PIN_SETS = [
    [(PinType.USER_AUTH, "1234"), (PinType.SIGNATURE, "ABC123"), (PinType.RESIDENT_REGISTRY, "0000")] * 40,
    [(PinType.USER_AUTH, "9876"), (PinType.SIGNATURE, "Z9Y8X7"), (PinType.RESIDENT_REGISTRY, "5802")] * 40,
    [(PinType.USER_AUTH, "1111"), (PinType.SIGNATURE, "QQQQQ1"), (PinType.RESIDENT_REGISTRY, "7391")] * 40,
]


@pytest.mark.parametrize("seed", [1, 2])
def test_summaries_and_state_are_the_same_whatever_the_pin(seed, tmp_path):
    outputs = []
    for i, pins in enumerate(PIN_SETS):
        summaries, est = _play(pins, seed)
        cfg = load_config(None, {"state_dir": str(tmp_path / f"s{i}")})
        save_estimator(cfg, est)
        stored = json.loads((tmp_path / f"s{i}" / "drift.json").read_text())
        outputs.append(([_round(list(vars(s).values())) for s in summaries], _round(stored), est.status()))
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.stack
def test_drift_status_command_prints_the_same_whatever_the_pin(tmp_path):
    printed = []
    for i, pins in enumerate(PIN_SETS[:2]):
        _, est = _play(pins, 3)
        d = tmp_path / f"s{i}"
        save_estimator(load_config(None, {"state_dir": str(d)}), est)
        r = subprocess.run([sys.executable, "-m", "kiosk", "drift", "status", "--json", "--state-dir", str(d)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        doc.pop("state_file")
        printed.append(doc)
    assert printed[0] == printed[1]


def test_simulation_output_never_contains_a_pin(monkeypatch):
    # every PIN the simulation draws is a marker that cannot occur in numbers
    marker = "QZXJKVWQ"
    monkeypatch.setattr(simulate, "draw_pin_text", lambda rng: (PinType.SIGNATURE, marker))
    rep = simulate.run(5, CFG, runs=3, clean_sessions=2000, growth_runs=2, wrap_runs=2)
    text = json.dumps(rep.as_dict())
    assert marker not in text and "QZX" not in text
    assert "key_id" not in text and "keys" not in text
