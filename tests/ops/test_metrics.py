"""Fleet metrics: promtool (the Prometheus project's own checker) accepts the file, it is
replaced atomically and readable by node_exporter, labels cannot break the format."""
import os
import re
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


@pytest.mark.stack
@pytest.mark.parametrize("snap", [FULL, MetricsSnapshot("t"),
                                  MetricsSnapshot('ward "3"\\counter\n2', drift_level="alert")],
                         ids=["full", "fresh-boot", "odd-terminal-name"])
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
    assert all(k.startswith('pin_kiosk_') and '{terminal="counter-1"' in k for k in samples), samples  # every series
    t = 'terminal="counter-1"'
    assert samples[f'pin_kiosk_sessions_total{{{t},result="ok"}}'] == "12"
    assert samples[f'pin_kiosk_sessions_total{{{t},result="no_card"}}'] == "0"  # every result, from the first scrape
    assert len([k for k in samples if k.startswith("pin_kiosk_sessions_total")]) == len(SESSION_RESULTS)
    assert samples[f'pin_kiosk_drift_offset_meters{{{t},axis="x"}}'] == "0.0012"
    assert samples[f'pin_kiosk_drift_level{{{t},level="warn"}}'] == "1"
    assert samples[f'pin_kiosk_drift_level{{{t},level="ok"}}'] == "0"
    assert samples[f"pin_kiosk_console_link_up{{{t}}}"] == "1"
    assert samples[f"pin_kiosk_console_retransmissions_total{{{t}}}"] == "7"
    assert samples[f"pin_kiosk_card_reader_present{{{t}}}"] == "1" and samples[f"pin_kiosk_touch_present{{{t}}}"] == "1"
    assert samples[f"pin_kiosk_last_calibration_timestamp_seconds{{{t}}}"] == "1790000000.0"
    assert samples[f"pin_kiosk_metrics_written_timestamp_seconds{{{t}}}"] == "1790000100.0"
    assert any(k.startswith(f'pin_kiosk_build_info{{{t},version="') for k in samples)
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
RULE_TESTS = REPO / "tests" / "ops" / "alert_rules_test.yml"


def alert_names():
    return re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M)


def promtool_test(tmp_path, rules_text=None):
    """``promtool test rules`` on tests/ops/alert_rules_test.yml, optionally against altered rules."""
    tests = RULE_TESTS
    if rules_text is not None:
        (tmp_path / "systemd").mkdir(exist_ok=True)
        (tmp_path / "systemd" / RULES.name).write_text(rules_text)
        (tmp_path / "tests" / "ops").mkdir(parents=True, exist_ok=True)
        tests = tmp_path / "tests" / "ops" / RULE_TESTS.name
        tests.write_text(RULE_TESTS.read_text())
    return subprocess.run([PROMTOOL, "test", "rules", str(tests)], capture_output=True, text=True)


@pytest.mark.stack
def test_the_fleet_alert_rules_load_and_each_fires_and_stays_quiet_when_it_should(tmp_path):
    names = alert_names()
    r = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert r.returncode == 0 and f"SUCCESS: {len(names)} rules found" in r.stdout, r.stdout + r.stderr
    cases = RULE_TESTS.read_text()
    quiet = set(re.findall(r"alertname: (\w+), exp_alerts: \[\]\}", cases))
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels:", cases))
    for name in names:
        assert name in firing, f"{name}: no case where it fires"
        assert name in quiet, f"{name}: no case where it stays quiet"
    r = promtool_test(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.stack
def test_the_target_rules_are_scoped_to_kiosk_terminals(tmp_path):
    """Without the job scope, the city's other nodes would raise kiosk alerts: the test catches it."""
    text = RULES.read_text()
    assert "unreachable" in text.lower()
    unscoped = text.replace('up{job="pin-kiosk"} == 0', "up == 0")
    assert promtool_test(tmp_path, unscoped).returncode != 0
    unscoped = text.replace('up{job="pin-kiosk"} == 1 unless', "up == 1 unless")
    assert promtool_test(tmp_path, unscoped).returncode != 0
    later = text.replace("for: 2m", "for: 3m", 1)  # the firing cases pin the timing down too
    assert promtool_test(tmp_path, later).returncode != 0


DASHBOARD = REPO / "systemd" / "grafana-pin-kiosk.json"
#: what a query may read besides the kiosk's own series: the scrape's own health
SCRAPE_SERIES = {"up"}


def dashboard_queries():
    import json
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in dash["templating"]["list"] if isinstance(v.get("query"), dict)]
    return dash, exprs


@pytest.mark.stack
def test_every_dashboard_query_names_metrics_the_kiosk_writes(tmp_path):
    written = {line.split("{")[0] for line in format_metrics(FULL, 1.0).splitlines() if not line.startswith("#")}
    dash, exprs = dashboard_queries()
    assert len(exprs) >= 10
    for expr in exprs:
        names = set(re.findall(r"\b(pin_kiosk_[a-z_]+)\b", expr))
        assert names, f"reads no kiosk metric: {expr}"
        assert names <= written, f"{sorted(names - written)} not written by the kiosk: {expr}"
        others = set(re.findall(r"\b([a-z_]+)\{", expr)) - names - SCRAPE_SERIES
        assert not others, f"{others}: {expr}"
    # the terminals table shows what the issue asks of it
    table = next(p for p in dash["panels"] if p["type"] == "table")
    shown = set(table["transformations"][1]["options"]["renameByName"].values())
    assert {"up", "state", "console link", "card reader", "touch panel", "drift mm",
            "calibration age (days)", "sessions 24 h"} <= shown
    # and every query is PromQL that Prometheus accepts (as recording rules, checked by promtool)
    rules = tmp_path / "dashboard_rules.yml"
    body = "\n".join(f"      - record: dashboard:q{i}\n        expr: '{e.replace('$terminal', '.*')}'"
                     for i, e in enumerate(e for e in exprs if not e.startswith("label_values")))
    rules.write_text(f"groups:\n  - name: dashboard\n    rules:\n{body}\n")
    r = subprocess.run([PROMTOOL, "check", "rules", str(rules)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
