"""``pin-kiosk drift``: the drift simulation, and the persisted drift state.

``pin-kiosk drift simulate [--json] [--seed N]`` runs the seeded simulation
of ``calibration.simulate`` on the configured screen's real keypads and
prints the figures issue 9 sets targets for.  ``pin-kiosk drift status
[--json]`` prints the drift state the kiosk keeps in ``STATE_DIR/drift.json``.

The state itself is read and written by ``kiosk.drift_state``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from calibration.drift import DriftEstimator
from kiosk.cli import UsageError, common_options, config_from_args
from kiosk.drift_state import state_path


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="drift_command", metavar="ACTION")
    sim = sub.add_parser("simulate", parents=[common_options()],
                         help="seeded simulation: detection delay and false alarms of the drift estimator")
    sim.add_argument("--json", action="store_true", help="print the figures as JSON")
    sim.add_argument("--seed", type=int, default=1, help="random seed (default 1): same seed, same figures")
    sim.add_argument("--runs", type=int, default=200, help="simulated drifts per shift size (default 200)")
    sim.add_argument("--sessions", type=int, default=60000,
                     help="undrifted sessions for the false-alarm rate (default 60000)")
    sim.add_argument("--person-sd-mm", type=float, default=None,
                     help="person-to-person spread of the tap offset, per axis (default 0.6)")
    st = sub.add_parser("status", parents=[common_options()], help="the drift state the kiosk keeps")
    st.add_argument("--json", action="store_true", help="print the state as JSON")


def run(args: argparse.Namespace) -> int:
    if getattr(args, "drift_command", None) == "simulate":
        return _simulate(args)
    if getattr(args, "drift_command", None) == "status":
        return _status(args)
    raise UsageError("choose an action: simulate or status")


def _simulate(args: argparse.Namespace) -> int:
    from calibration import simulate

    if args.runs < 1 or args.runs > 100000:
        raise UsageError(f"--runs must be from 1 to 100000, got {args.runs}")
    if args.sessions < 1000 or args.sessions > 10_000_000:
        raise UsageError(f"--sessions must be from 1000 to 10000000, got {args.sessions}")
    if args.person_sd_mm is not None and not 0.0 <= args.person_sd_mm <= 5.0:
        raise UsageError(f"--person-sd-mm must be from 0 to 5, got {args.person_sd_mm}")
    cfg = config_from_args(args)
    started = time.monotonic()
    rep = simulate.run(args.seed, cfg, runs=args.runs, clean_sessions=args.sessions,
                       growth_runs=max(5, args.runs // 5), wrap_runs=max(5, args.runs // 5),
                       person_sd_mm=args.person_sd_mm)
    doc = rep.as_dict()
    doc["elapsed_s"] = round(time.monotonic() - started, 2)
    if args.json:
        print(json.dumps(doc, indent=1))
        return 0
    print(_format(doc))
    return 0


def _q(d: dict, key: str) -> str:
    v = d.get(key)
    return "-" if v is None else f"{v:g}"


def _format(doc: dict) -> str:
    m = doc["model"]
    lines = [
        f"drift simulation, seed {doc['seed']} ({doc['elapsed_s']} s)",
        f"keypad pitch {doc['key_pitch_mm']} mm (half: {doc['key_pitch_mm'] / 2:.2f} mm); "
        f"warn at {doc['warn_mm']} mm, alert at {doc['alert_mm']} mm",
        f"citizens: offset sd {m['person_sd_mm']} mm per axis, tap scatter {m['tap_sd_mm'][0]}-{m['tap_sd_mm'][1]} mm, "
        f"{m['digit_session_share']:.0%} 4-digit PINs, the rest signature PINs",
        "",
        "jump  runs  warned  taps to warn (median/p90)  sessions to warn (median/p90)  alerted  sessions to alert (median)",
    ]
    for s in doc["shifts"]:
        lines.append(f"{s['shift_mm']:>3g} mm {s['runs']:>5} {s['warned']:>7}  "
                     f"{_q(s['warn_taps'], 'median'):>13} / {_q(s['warn_taps'], 'p90'):<10}"
                     f"{_q(s['warn_sessions'], 'median'):>15} / {_q(s['warn_sessions'], 'p90'):<13}"
                     f"{s['alerted']:>8}  {_q(s['alert_sessions'], 'median'):>8}")
    fa = doc["false_alarms"]
    lines += ["", f"no drift: {fa['sessions']} sessions, {fa['warns']} false warn(s) = {fa['warns_per_1000']} per 1000, "
                  f"{fa['alerts']} false alert(s) = {fa['alerts_per_1000']} per 1000", ""]
    for g in doc["growth"]:
        lines.append(f"drift growing {g['mm_per_session']} mm/session: alert at {g['drift_at_alert_mm']['median']} mm "
                     f"(median), {g['drift_at_alert_mm']['max']} mm (worst of {g['runs']}); half a key is "
                     f"{g['half_pitch_mm']} mm")
    for w in doc["wrap"]:
        lines.append(f"jump of {w['jump_key_pitches']} key pitch (residuals wrap): alert in {w['alerted']}/{w['runs']} "
                     f"runs, median {_q(w['alert_sessions'], 'median')} sessions")
    lines.append("")
    for name, ok in doc["targets"].items():
        lines.append(f"target {name}: {'met' if ok else 'NOT MET'}")
    return "\n".join(lines)


def _status(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    path = state_path(cfg)
    try:
        est = DriftEstimator.from_json(path.read_bytes(), cfg.drift)
    except FileNotFoundError:
        doc = {"state_file": str(path), "present": False}
        print(json.dumps(doc) if args.json else f"{path}: no drift state yet (no session since installation)")
        return 0
    except (OSError, ValueError) as exc:
        print(f"pin-kiosk drift status: {path}: unusable: {exc}", file=sys.stderr)
        return 1
    doc = {"state_file": str(path), "present": True, **est.status()}
    if args.json:
        print(json.dumps(doc))
        return 0
    learning = " (learning the baseline)" if doc["learning"] else ""
    print(f"drift level {doc['level']}{learning}" + (f", because of {doc['reason']}" if doc["reason"] else ""))
    print(f"shift from baseline {doc['shift_mm']} mm (x {doc['offset_mm'][0]}, y {doc['offset_mm'][1]}); "
          f"warn at {doc['warn_mm']} mm, alert at {doc['alert_mm']} mm")
    print(f"{doc['sessions']} sessions, {doc['taps']} keypad taps since the last calibration")
    return 0
