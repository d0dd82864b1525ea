"""``pin-kiosk bench --quick --json``: every figure is there, with the right type and unit.

This is not a speed test: it never asserts a figure against a target (the
benchmark's job is to print figures, docs/benchmarks.md records them).  It
runs the real command end to end (the kiosk and the naive loop as
subprocesses on the SDL dummy driver, a FIFO finger, a pty console, pcscd +
vpcd when this machine can start them) and checks that what it reports is
coherent: every tap of the typing load produced a measured latency, times are
positive and in the unit their name says, the targets table matches the figures.
"""
import json
import math
import os
import subprocess
import sys

import pytest

from support_repo import ROOT  # noqa: E402
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_app import TARGETS, percentile, summary  # noqa: E402


def positive(x, upper=math.inf):
    return isinstance(x, (int, float)) and not isinstance(x, bool) and 0 < x < upper


def run_bench(*args):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    env.pop("NOTIFY_SOCKET", None)
    return subprocess.run([sys.executable, "-m", "kiosk", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=60)


def check_loop_figures(part, taps):
    assert positive(part["start_to_first_frame_s"], 30)
    idle = part["idle"]
    assert positive(idle["window_s"], 5)
    assert isinstance(idle["cpu_percent_of_core"], float) and 0 <= idle["cpu_percent_of_core"] <= 200
    assert idle["wakeups_per_s"] >= 0
    lat = part["latency_ms"]
    assert lat["taps"] == taps and lat["missed"] == 0 and lat["measured"] == taps
    # milliseconds, not seconds: a frame follows a touch-up within the 2 s the typist waits
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"] < 2000
    assert positive(part["peak_rss_mb"], 4096)
    assert part["memory_after_typing_mb"]["VmRSS"] <= part["peak_rss_mb"] + 1


@pytest.mark.stack
def test_quick_json_has_every_figure():
    r = run_bench("--quick", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(r.stdout)  # stdout is the JSON document and nothing else
    assert doc["quick"] is True
    m = doc["machine"]
    assert m["cores"] >= 1 and m["python"].count(".") == 2 and m["video_driver"] == "dummy"
    taps = doc["settings"]["typing_taps"]
    assert taps >= 5 and "touch-up" in doc["latency_definition"]

    check_loop_figures(doc["kiosk"], taps)
    check_loop_figures(doc["naive"], taps)
    assert doc["kiosk"]["exit_code"] == 0  # SIGTERM: a clean shutdown, not a kill
    assert set(doc["naive_over_kiosk"]) == {"idle_cpu", "latency_p50", "latency_p99", "peak_rss"}
    assert all(v is None or positive(v) for v in doc["naive_over_kiosk"].values())

    touch = doc["touch_pipeline"]
    assert isinstance(touch["events_per_s_median"], int) and touch["events_per_s_median"] > 1000
    assert touch["events"] > 0

    card = doc["card"]
    if "skipped" in card:  # a machine without pcscd/root: the reason is said, not a number made up
        assert isinstance(card["skipped"], str) and card["skipped"]
    else:
        for op in ("tries_left_ms", "verify_ms"):
            assert 0 < card[op]["median"] <= card[op]["p95"] < 5000
        assert card["n"] > 0

    drift = doc["drift"]
    assert positive(drift["warn_2mm_taps_median"]) and positive(drift["warn_2mm_sessions_median"])
    assert drift["false_warns_per_1000"] >= 0 and set(drift["targets_met"]) >= {"warn_2mm_median_taps_le_40"}

    assert set(doc["targets"]) == set(TARGETS)
    for name, t in doc["targets"].items():
        assert t["met"] == (t["value"] < t["limit"]), name
    assert doc["targets"]["touch_to_frame_p99_ms"]["value"] == doc["kiosk"]["latency_ms"]["p99"]
    assert doc["targets"]["peak_rss_mb"]["value"] == doc["kiosk"]["peak_rss_mb"]

    text = summary(doc)  # what `pin-kiosk bench` without --json prints
    assert all(f"target {name} " in text for name in TARGETS) and "naive/kiosk" in text


@pytest.mark.stack
def test_bad_option_is_a_usage_error():
    r = run_bench("--quick", "--no-such-option")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([3.0], 99) == 3.0


def test_card_figures_are_skipped_with_a_reason_when_pcscd_is_missing(monkeypatch):
    from bench_app import card_operations

    monkeypatch.setenv("PATH", "/nonexistent")  # no pcscd, no unshare on this PATH
    result = card_operations(5)
    assert set(result) == {"skipped"} and "pcscd" in result["skipped"]
