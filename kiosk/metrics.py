"""Fleet metrics: a Prometheus textfile-collector file a city dashboard can scrape.

Theory of operation
-------------------
The city already runs Prometheus with node_exporter on its machines; its
textfile collector reads every ``*.prom`` file in one directory.  The kiosk
writes ``metrics.prom`` there (``[metrics] dir``, default the state
directory) whenever something changes and on every heartbeat:

* ``format_metrics(snapshot, now_s)`` is pure: a ``MetricsSnapshot`` (plain
  numbers the app already has) in, exposition text out.  Every metric is
  named ``pin_kiosk_*`` with its unit in the name (``_seconds``,
  ``_meters``) and counters end in ``_total``, so ``promtool check metrics``
  accepts the file (a test runs it).
* ``write_metrics(path, snapshot)`` writes it with ``kiosk.durable.write_atomic``,
  so node_exporter never reads half a file (its temp name ends ``.tmp``,
  which the collector ignores).

Nothing here can carry a PIN: the snapshot holds counts, flags, distances
and the terminal's name, and label values are limited to known sets.
``pin_kiosk_metrics_written_timestamp_seconds`` lets the dashboard tell a
dead terminal from a quiet one (alert when ``time() - it > 60``).
"""
from __future__ import annotations

import platform
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kiosk import __version__
from kiosk.durable import write_atomic
from kiosk.vocabulary import DriftLevel, PinResult, values

METRICS_FILE = "metrics.prom"

#: The label values of ``pin_kiosk_sessions_total{result=...}``, always all present
#: so that rate() works from the first scrape.  Same words as the console's pin.result.
SESSION_RESULTS = values(PinResult)
DRIFT_LEVELS = values(DriftLevel)


@dataclass(frozen=True)
class MetricsSnapshot:
    """What the dashboard sees of one terminal at one moment (values, no I/O)."""

    terminal: str
    sessions_by_result: Mapping[str, int] = field(default_factory=dict)
    drift_offset_x_m: float = 0.0
    drift_offset_y_m: float = 0.0
    drift_level: str = "ok"
    link_up: bool = False
    link_retransmissions: int = 0
    card_reader_present: bool = False
    touch_present: bool = False
    last_calibration_s: float | None = None  # Unix time of the accepted calibration in use
    audit_records: int = 0
    version: str = __version__


def _escape(value: str) -> str:
    """Label value escaping of the exposition format: backslash, quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(int(value))


def format_metrics(snap: MetricsSnapshot, now_s: float) -> str:
    """The exposition text for ``snap`` at Unix time ``now_s``; ValueError on unknown labels."""
    unknown = sorted(set(snap.sessions_by_result) - set(SESSION_RESULTS))
    if unknown:
        raise ValueError(f"unknown session result {unknown[0]!r} (known: {', '.join(SESSION_RESULTS)})")
    if snap.drift_level not in DRIFT_LEVELS:
        raise ValueError(f"unknown drift level {snap.drift_level!r}")
    out: list[str] = []
    # Every series carries the terminal's id: a fleet query groups, filters and names
    # terminals by it, whatever the node_exporter target's instance label happens to be.
    terminal = f'terminal="{_escape(snap.terminal)}"'

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP pin_kiosk_{name} {help_text}")
        out.append(f"# TYPE pin_kiosk_{name} {kind}")
        for labels, value in samples:
            inner = labels.strip("{}")
            out.append(f"pin_kiosk_{name}{{{terminal}{',' + inner if inner else ''}}} {_num(value)}")

    metric("build_info", "gauge", "Version of the kiosk software and the terminal it runs on (always 1).",
           [(f'{{version="{_escape(snap.version)}",'
             f'python="{_escape(platform.python_version())}"}}', 1)])
    metric("sessions_total", "counter", "Citizen PIN entries since the kiosk started, by result.",
           [(f'{{result="{r}"}}', int(snap.sessions_by_result.get(r, 0))) for r in SESSION_RESULTS])
    metric("drift_offset_meters", "gauge",
           "Mean tap offset from the calibration baseline, by screen axis (positive x right, y down).",
           [('{axis="x"}', float(snap.drift_offset_x_m)), ('{axis="y"}', float(snap.drift_offset_y_m))])
    metric("drift_level", "gauge", "Touch drift level: 1 for the current level, 0 for the others.",
           [(f'{{level="{lv}"}}', int(lv == snap.drift_level)) for lv in DRIFT_LEVELS])
    metric("console_link_up", "gauge", "1 when the staff console link is up.", [("", int(snap.link_up))])
    metric("console_retransmissions_total", "counter", "Console frames sent again for want of an ack.",
           [("", int(snap.link_retransmissions))])
    metric("card_reader_present", "gauge", "1 when the PC/SC card reader is present.",
           [("", int(snap.card_reader_present))])
    metric("touch_present", "gauge", "1 when the touch panel is present.", [("", int(snap.touch_present))])
    if snap.last_calibration_s is not None:
        metric("last_calibration_timestamp_seconds", "gauge",
               "Unix time of the touch calibration in use.", [("", float(snap.last_calibration_s))])
    metric("audit_records", "gauge", "Records in the audit trail.", [("", int(snap.audit_records))])
    metric("metrics_written_timestamp_seconds", "gauge",
           "Unix time this file was written; a stale value means a stuck or dead kiosk.", [("", float(now_s))])
    return "\n".join(out) + "\n"


def status_text(snap: MetricsSnapshot) -> str:
    """The one line ``systemctl status pin-kiosk`` shows (sd_notify ``STATUS=``), from the same facts.

    ``console up, reader present, touch present, drift ok, 12 sessions``: what a technician at
    the terminal needs first.  No session detail: STATUS= is readable by every local user.
    """
    sessions = sum(int(v) for v in snap.sessions_by_result.values())
    return (f"console {'up' if snap.link_up else 'DOWN'}, reader {'present' if snap.card_reader_present else 'MISSING'}, "
            f"touch {'present' if snap.touch_present else 'MISSING'}, drift {snap.drift_level}, "
            f"{sessions} session{'' if sessions == 1 else 's'}")


def write_metrics(path: Path | str, snapshot: MetricsSnapshot, now_s: float | None = None) -> None:
    """Atomically replace ``path`` (e.g. ``cfg.metrics_dir / METRICS_FILE``) with the snapshot.

    Mode 0644: node_exporter runs as another user and must read it.
    """
    text = format_metrics(snapshot, time.time() if now_s is None else now_s)
    write_atomic(path, text.encode("utf-8"), mode=0o644)
