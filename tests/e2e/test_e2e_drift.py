"""Drift caught from ordinary use, end to end: no drift frames while the panel is true, then ok -> warn -> alert.

``pin-kiosk run`` as a subprocess (simulated card in-process: no verify is
sent, so nothing locks), the test as staff console and as many citizens: each
session a new person (own systematic offset and scatter, from
``calibration.simulate``) types four digits on the real keypad through the
FIFO, then the clerk cancels.  The panel first reports true positions, then
drifts 2.5 mm, then 5 mm.  The kiosk does the hit testing, the residuals and
the estimator itself; the test only watches the console.
"""
from __future__ import annotations

import json
import random

import pytest

from support_kiosk import KioskUnderTest
from calibration.simulate import draw_person, reported_taps_px
from kiosk.keypad import build_layout
from kiosk.pin import PinType

pytestmark = pytest.mark.stack


EXTRA = """
[drift]
baseline_taps = 60
[card]
sim_pins = "user_auth=1357,signature=ABC123,resident_registry=1357,card_info_input=1357"
"""
PIN = "1357"


@pytest.fixture
def kiosk(tmp_path):
    k = KioskUnderTest(tmp_path, card="sim", extra_config=EXTRA)
    try:
        yield k
    finally:
        k.finish()


def one_session(k: KioskUnderTest, rng: random.Random, drift_mm: tuple[float, float]) -> None:
    n = len(k.frames("session.ended"))
    k.say("begin", pin_type="user_auth", action="verify")
    k.wait_frame("entry.started", count=n + 1)
    layout = build_layout(PinType.USER_AUTH, k.cfg.screen, k.cfg.keypad, "ja")
    for x, y in reported_taps_px(rng, layout, draw_person(rng), list(PIN), drift_mm):
        k.finger.tap(*k.panel.inverse().apply(x, y))
        k.console.pump(0.1)
    k.say("cancel")
    k.wait_frame("session.ended", count=n + 1)


def levels(k: KioskUnderTest) -> list[str]:
    return [f["level"] for f in k.frames("drift")]


def run_until(k, rng, drift_mm, level, max_sessions):
    for i in range(max_sessions):
        one_session(k, rng, drift_mm)
        if level in levels(k):
            return i + 1
    return None


def test_drift_from_ordinary_taps_goes_ok_warn_alert_and_never_without_drift(kiosk):
    rng = random.Random(7)
    for _ in range(25):  # 100 taps: the baseline (60 taps) and then some, on a true panel
        one_session(kiosk, rng, (0.0, 0.0))
    assert levels(kiosk) == [], "a drift frame without drift"
    status = [f for f in kiosk.console.received if f["type"] == "status"][-1]
    assert status["drift"]["level"] == "ok"

    warned_after = run_until(kiosk, rng, (2.5, 0.0), "warn", 20)
    assert warned_after is not None, f"no warn after 20 drifted sessions: {levels(kiosk)}"
    alerted_after = run_until(kiosk, rng, (5.0, 0.0), "alert", 15)
    assert alerted_after is not None, f"no alert: {levels(kiosk)}"
    print(f"drift: warn after {warned_after} sessions at 2.5 mm, alert after {alerted_after} more at 5 mm")
    assert levels(kiosk)[:2] == ["warn", "alert"]
    alerts = [f for f in kiosk.frames("alert") if f["code"].startswith("drift_")]
    assert [a["code"] for a in alerts][:2] == ["drift_warn", "drift_alert"]

    # what is kept: aggregates only, no key, no order, no PIN
    kept = (kiosk.state_dir / "drift.json").read_text()
    state = json.loads(kept)
    assert state["level"] == "alert"
    assert not any(k in kept for k in ('"1"', '"3"', '"5"', '"7"', PIN, "key_id"))
    metrics = (kiosk.state_dir / "metrics.prom").read_text()
    assert 'pin_kiosk_drift_level{' in metrics
