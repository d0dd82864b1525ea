"""Fleet metrics: promtool (the Prometheus project's own checker) accepts the file, it is
replaced atomically and readable by node_exporter, labels cannot break the format."""
import os
import stat
import subprocess

import pytest

from kiosk.metrics import METRICS_FILE, SESSION_RESULTS, MetricsSnapshot, format_metrics, write_metrics
from support_ops import REPO

PROMTOOL = "/usr/bin/promtool"

FULL = MetricsSnapshot(
    terminal="counter-1", sessions_by_result={"ok": 12, "wrong": 3, "locked": 1, "timeout": 2},
    drift_offset_x_m=0.0012, drift_offset_y_m=-0.0004, drift_level="warn", link_up=True,
    link_retransmissions=7, card_reader_present=True, touch_present=True,
    last_calibration_s=1_790_000_000.0, audit_records=345,
)


def promtool_check(text: str) -> subprocess.CompletedProcess:
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True)


@pytest.mark.parametrize("snap", [FULL, MetricsSnapshot("t"),
                                  MetricsSnapshot('ward "3"\\counter\n2', drift_level="alert")],
                         ids=["full", "fresh-boot", "odd-terminal-name"])
@pytest.mark.stack
def test_promtool_accepts_the_file(tmp_path, snap):
    write_metrics(tmp_path / METRICS_FILE, snap, now_s=1_790_000_100.0)
    r = promtool_check((tmp_path / METRICS_FILE).read_text())
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)


@pytest.mark.stack
def test_promtool_would_catch_a_mistake():
    """The check above can fail: a counter without _total and a broken line are refused."""
    bad = format_metrics(FULL, 1.0).replace("pin_kiosk_sessions_total", "pin_kiosk_sessions")
    assert promtool_check(bad).returncode != 0
    assert promtool_check(format_metrics(FULL, 1.0) + "pin_kiosk_x{a=} 1\n").returncode != 0


def test_the_values_a_dashboard_reads():
    text = format_metrics(FULL, 1_790_000_100.0)
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert samples['pin_kiosk_sessions_total{result="ok"}'] == "12"
    assert samples['pin_kiosk_sessions_total{result="no_card"}'] == "0"  # every result, from the first scrape
    assert len([k for k in samples if k.startswith("pin_kiosk_sessions_total")]) == len(SESSION_RESULTS)
    assert samples['pin_kiosk_drift_offset_meters{axis="x"}'] == "0.0012"
    assert samples['pin_kiosk_drift_level{level="warn"}'] == "1"
    assert samples['pin_kiosk_drift_level{level="ok"}'] == "0"
    assert samples["pin_kiosk_console_link_up"] == "1"
    assert samples["pin_kiosk_console_retransmissions_total"] == "7"
    assert samples["pin_kiosk_card_reader_present"] == "1" and samples["pin_kiosk_touch_present"] == "1"
    assert samples["pin_kiosk_last_calibration_timestamp_seconds"] == "1790000000.0"
    assert samples["pin_kiosk_metrics_written_timestamp_seconds"] == "1790000100.0"
    assert any(k.startswith('pin_kiosk_build_info{version="') and 'terminal="counter-1"' in k for k in samples)
    assert "last_calibration" not in format_metrics(MetricsSnapshot("t"), 0.0)  # never calibrated: no sample


def test_unknown_label_values_are_refused():
    with pytest.raises(ValueError, match="unknown session result"):
        format_metrics(MetricsSnapshot("t", {"1234": 1}), 0.0)
    with pytest.raises(ValueError, match="unknown drift level"):
        format_metrics(MetricsSnapshot("t", drift_level="bad"), 0.0)


def test_written_atomically_readable_by_node_exporter_no_temp_left(tmp_path):
    path = tmp_path / "textfile" / METRICS_FILE
    write_metrics(path, MetricsSnapshot("t"), now_s=1.0)
    first_inode = path.stat().st_ino
    write_metrics(path, FULL, now_s=2.0)
    assert path.stat().st_ino != first_inode  # replaced by rename, never rewritten in place
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == [METRICS_FILE]
    assert path.read_text() == format_metrics(FULL, 2.0)


RULES = REPO / "systemd" / "prometheus-pin-kiosk-alerts.yml"

RULE_TESTS = """
rule_files: [{rules}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'pin_kiosk_metrics_written_timestamp_seconds{{instance="k1"}}'
        values: '0+60x5 300x10'
      - series: 'pin_kiosk_drift_level{{instance="k1",level="warn"}}'
        values: '0x5 1x10'
      - series: 'pin_kiosk_console_link_up{{instance="k1"}}'
        values: '1x15'
      - series: 'pin_kiosk_sessions_total{{instance="k1",result="locked"}}'
        values: '0 1 1 2 3 3 3 3 3 3 3 3 3 3 3 3'
    alert_rule_test:
      - {{eval_time: 6m, alertname: PinKioskSilent, exp_alerts: []}}
      - eval_time: 8m
        alertname: PinKioskSilent
        exp_alerts:
          - exp_labels: {{severity: critical, instance: k1}}
            exp_annotations: {{summary: "pin-kiosk on k1 has not written metrics for over a minute"}}
      - {{eval_time: 10m, alertname: PinKioskTouchDriftWarn, exp_alerts: []}}
      - eval_time: 11m
        alertname: PinKioskTouchDriftWarn
        exp_alerts:
          - exp_labels: {{severity: warning, instance: k1, level: warn}}
            exp_annotations: {{summary: "touch panel of k1 is drifting: schedule a calibration"}}
      - {{eval_time: 15m, alertname: PinKioskConsoleLinkDown, exp_alerts: []}}
      - eval_time: 5m
        alertname: PinKioskLockedPins
        exp_alerts:
          - exp_labels: {{severity: warning, instance: k1, result: locked}}
            exp_annotations: {{summary: "3 PIN locks in a day at k1"}}
"""


@pytest.mark.stack
def test_the_fleet_alert_rules_load_and_fire_when_they_should(tmp_path):
    r = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert r.returncode == 0 and "SUCCESS: 10 rules found" in r.stdout, r.stdout + r.stderr
    tests = tmp_path / "rules_test.yml"
    tests.write_text(RULE_TESTS.format(rules=RULES))
    r = subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    tests.write_text(RULE_TESTS.format(rules=RULES).replace("eval_time: 8m", "eval_time: 7m"))
    assert subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True).returncode != 0
