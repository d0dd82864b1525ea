"""Floods bounded: ten minutes of line-rate flood into a real ``pin-kiosk run`` (benchmarks/bench_flood.py).

A sender holding the key floods the kiosk with duplicates, new commands, unknown
commands and forgeries while the console reads nothing.  The kiosk's resident
memory must not grow by more than 2 MB and it must not wear the SD card (before
this was bounded, two minutes of such a flood grew RSS by 4.6 MB and wrote 34 MB:
each command rewrote and fsynced the commands-seen file, each unknown one
journaled an alert).  Bounds are in MB, never in seconds.
"""
import sys

import pytest

from support_repo import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_flood import run_flood  # noqa: E402

pytestmark = pytest.mark.stack


def test_ten_minutes_of_line_rate_flood_grow_rss_by_at_most_2_mb_and_write_little(tmp_path):
    figures = run_flood(tmp_path, line_seconds=600)
    assert figures["flood_frames"] > 50_000
    assert figures["rss_growth_mb"] <= 2.0, figures
    assert figures["disk_written_kb"] <= 1024, figures
    assert figures["link_answers_after"] and figures["rx_unauthenticated"] >= figures["flood_frames"] // 4
