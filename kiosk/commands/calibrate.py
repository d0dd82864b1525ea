"""``pin-kiosk calibrate``: fit, import and install the touch calibration matrix.

Modes (one per run):

* ``--from-taps FILE``: fit from a JSON file
  ``{"screen": {"w": W, "h": H}, "points": [{"target": [x, y], "raw": [[rx, ry], ...]}, ...]}``
  (``raw`` = the samples of one tap; optional ``"axes": {"x": [min, max], "y": [min, max]}``,
  else the ``[touch]`` ranges).  Each point's raw position is the tap estimator
  of ``drivers.touch.robust_position``; the fit is always from raw units.
* ``--import-pointercal FILE`` / ``--import-libinput "a b c d e f"``: bring a
  tslib or libinput calibration along (raw ranges from ``[touch]``, screen
  from ``[screen]``).

Each mode prints the matrix in all three forms (affine, libinput, tslib),
per-point residuals in px and mm and the rejected points when fitting, and
installs the result as the active calibration in the state directory
(``--dry-run``: print only).  The interactive technician procedure is meant
to become another mode of this command.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

from kiosk.cli import UsageError, config_from_args

EXIT_FAILURE = 1


def configure(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--from-taps", metavar="FILE", help="fit from recorded target taps (JSON)")
    mode.add_argument("--import-pointercal", metavar="FILE", help="install a tslib pointercal file")
    mode.add_argument("--import-libinput", metavar="MATRIX", help='install a LIBINPUT_CALIBRATION_MATRIX ("a b c d e f")')
    mode.add_argument("--technician", metavar="ID",
                      help="calibrate on the terminal's own screen now (9 targets, 4 checks, accept); "
                           "the kiosk service must be stopped, or use the console's 'calibrate ID'")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--dry-run", action="store_true", help="print the result, do not install it")


def _fail(path: str, where: str, reason: str) -> UsageError:
    return UsageError(f"{path}: {where}: {reason}" if where else f"{path}: {reason}")


def _pair(value, path: str, where: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise _fail(path, where, f"expected [x, y] numbers, got {json.dumps(value)[:40]}")
    x, y = float(value[0]), float(value[1])
    if not (math.isfinite(x) and math.isfinite(y)):
        raise _fail(path, where, "not a finite number")
    return x, y


def read_taps_file(path: str) -> tuple[tuple[int, int], list[tuple[float, float]], list[list[tuple[float, float]]], dict | None]:
    """(screen (w, h), targets, sample lists, axes or None) from a --from-taps file; UsageError if malformed."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _fail(path, "", exc.strerror or str(exc)) from None
    except ValueError as exc:
        raise _fail(path, "", f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _fail(path, "", "expected a JSON object with screen and points")
    screen = doc.get("screen")
    if (not isinstance(screen, dict) or not all(isinstance(screen.get(k), int) and not isinstance(screen.get(k), bool)
                                                 and screen.get(k) > 0 for k in ("w", "h"))):
        raise _fail(path, "screen", 'expected {"w": W, "h": H} with positive integers')
    points = doc.get("points")
    if not isinstance(points, list):
        raise _fail(path, "points", "expected a list of {target, raw}")
    targets, samples = [], []
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise _fail(path, f"points[{i}]", "expected {\"target\": [x, y], \"raw\": [[rx, ry], ...]}")
        targets.append(_pair(p.get("target"), path, f"points[{i}].target"))
        raw = p.get("raw")
        if not isinstance(raw, list) or not raw:
            raise _fail(path, f"points[{i}].raw", "expected a non-empty list of [rx, ry] samples")
        samples.append([_pair(s, path, f"points[{i}].raw[{j}]") for j, s in enumerate(raw)])
    axes = doc.get("axes")
    if axes is not None:
        ok = isinstance(axes, dict) and all(
            isinstance(axes.get(k), list) and len(axes[k]) == 2 and all(isinstance(v, int) for v in axes[k])
            and axes[k][0] < axes[k][1] for k in ("x", "y"))
        if not ok:
            raise _fail(path, "axes", 'expected {"x": [min, max], "y": [min, max]} integers, min < max')
    return (screen["w"], screen["h"]), targets, samples, axes


def _forms(affine, axes, screen_px) -> dict:
    from calibration.matrix import format_libinput, to_libinput, to_pointercal
    w, h = screen_px
    lib = to_libinput(affine, axes.x.minimum, axes.x.maximum, axes.y.minimum, axes.y.maximum, w, h)
    return {"affine": list(affine.as_tuple()), "libinput": list(lib), "libinput_udev": format_libinput(lib),
            "pointercal": to_pointercal(affine, w, h)}


def implausible(cfg, affine, axes, screen_px) -> str | None:
    """Why ``affine`` may not follow the calibration in use (calibration.plausibility), or None."""
    from calibration.drift import key_pitch_mm
    from calibration.plausibility import problem
    from calibration.store import load_active
    from kiosk.drift_state import load_estimator
    from kiosk.keypad import build_layout
    from kiosk.pin import PinType

    current, status = load_active(cfg.state_dir, axes, screen_px)
    in_use = current if status.source in ("active", "history") else None
    layouts = [build_layout(t, cfg.screen, cfg.keypad) for t in PinType]
    centres = [layout.key_centre_px(k) for layout in layouts for k in layout.ids]
    drift_mm = load_estimator(cfg, key_pitch_mm(*layouts))[0].shift_mm
    return problem(affine, in_use, raw_size=(axes.x.maximum - axes.x.minimum + 1, axes.y.maximum - axes.y.minimum + 1),
                   screen_px=screen_px, key_centres_px=centres,
                   px_per_mm=(screen_px[0] / cfg.screen.width_mm, screen_px[1] / cfg.screen.height_mm),
                   measured_drift_mm=drift_mm)


def _operator() -> str:
    """Who installs from the command line, for the audit trail: ``cli:USER`` (``cli`` when unknown)."""
    import getpass
    import re
    try:
        user = re.sub(r"[^A-Za-z0-9_.@-]", "_", os.environ.get("SUDO_USER") or getpass.getuser())[:40]
    except (KeyError, OSError):
        return "cli"
    return f"cli:{user}" if user else "cli"


def install_calibration(cfg, affine, meta: dict, *, axes, screen_px, rms_mm, max_mm, audit: dict) -> str:
    """The kiosk's install step (``kiosk.terminal.calibration_installed``) run here: file, drift baseline, record.

    Raises ``AuditBusy`` (before anything is written) when a running kiosk holds the trail.
    """
    from calibration import store
    from kiosk.audit import AuditTrail
    from kiosk.drift_state import load_estimator, save_estimator
    from kiosk.terminal import Audit, InstallCalibration, SaveDrift, calibration_installed, drift_key_pitch_mm

    trail = AuditTrail(cfg.state_dir)
    try:
        before, _ = store.load_active(cfg.state_dir, axes, cfg.screen)
        drift, _ = load_estimator(cfg, drift_key_pitch_mm(cfg))  # an unusable state: a fresh baseline anyway
        path = ""
        for e in calibration_installed(drift, before, affine, technician=_operator(), rms_mm=rms_mm,
                                       max_mm=max_mm, audit=audit):
            if isinstance(e, InstallCalibration):
                known = {k: v for k, v in e.meta.items() if v is not None}
                path = str(store.install(cfg.state_dir, e.affine, {**known, **meta}, axes=axes, screen=screen_px))
            elif isinstance(e, SaveDrift):
                save_estimator(cfg, drift)
            elif isinstance(e, Audit):
                trail.record(e.kind, **e.fields)
            # Send (the drift frame) has no console here: the kiosk reports its level at its next start
        return path
    finally:
        trail.close()


def run(args: argparse.Namespace) -> int:
    from calibration.matrix import FitError, fit_affine, from_libinput, from_pointercal, residuals_mm
    from drivers.touch import AxisRange, Axes, robust_position
    from kiosk.audit import AuditBusy

    cfg = config_from_args(args)
    if args.technician:
        from kiosk.app import StartError, run_technician

        try:
            return run_technician(cfg, "calibrate", args.technician)
        except StartError as exc:
            print(f"pin-kiosk calibrate: {exc}", file=sys.stderr)
            return 1
    if not (args.from_taps or args.import_pointercal or args.import_libinput):
        raise UsageError("choose a mode: --technician ID, --from-taps FILE, --import-pointercal FILE "
                         "or --import-libinput MATRIX")
    t = cfg.touch
    axes = Axes(AxisRange(t.x_min, t.x_max), AxisRange(t.y_min, t.y_max))
    screen_px = (cfg.screen.width_px, cfg.screen.height_px)
    result: dict = {}
    meta: dict = {"installed_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        if args.from_taps:
            screen_px, targets, samples, file_axes = read_taps_file(args.from_taps)
            if file_axes:
                axes = Axes(AxisRange(*file_axes["x"]), AxisRange(*file_axes["y"]))
            if screen_px != (cfg.screen.width_px, cfg.screen.height_px):
                print(f"pin-kiosk calibrate: warning: taps are for a {screen_px[0]}x{screen_px[1]} screen but "
                      f"[screen] is {cfg.screen.width_px}x{cfg.screen.height_px}; the kiosk will not use this "
                      f"calibration (calibration_mismatch)", file=sys.stderr)
            raws = [robust_position([s[0] for s in ss], [s[1] for s in ss]) for ss in samples]
            ppm_x = screen_px[0] / cfg.screen.width_mm
            ppm_y = screen_px[1] / cfg.screen.height_mm
            fit = fit_affine(targets, raws, reject_px=t.fit_reject_mm * (ppm_x + ppm_y) / 2)
            affine = fit.affine
            res_mm = residuals_mm(affine, targets, raws, ppm_x, ppm_y)
            kept = fit.kept
            result["points"] = [{"target": list(targets[i]), "raw": [round(raws[i][0], 3), round(raws[i][1], 3)],
                                 "samples": len(samples[i]), "residual_px": round(fit.residuals_px[i], 3),
                                 "residual_mm": round(res_mm[i], 3), "rejected": i in fit.rejected}
                                for i in range(len(targets))]
            result["rejected"] = fit.rejected
            result["rms_px"] = round(fit.rms_px, 3)
            result["max_px"] = round(fit.max_px, 3)
            result["rms_mm"] = round(math.sqrt(sum(res_mm[i] ** 2 for i in kept) / len(kept)), 3)
            result["max_mm"] = round(max(res_mm[i] for i in kept), 3)
            meta.update(method="from-taps", file=str(args.from_taps), points=len(targets),
                        rejected=fit.rejected, rms_mm=result["rms_mm"], max_mm=result["max_mm"])
        elif args.import_pointercal:
            try:
                text = Path(args.import_pointercal).read_text(encoding="ascii", errors="replace")
            except OSError as exc:
                raise UsageError(f"{args.import_pointercal}: {exc.strerror}") from None
            affine = from_pointercal(text, *screen_px)
            meta.update(method="import-pointercal", file=str(args.import_pointercal))
        else:
            try:
                numbers = [float(v) for v in args.import_libinput.replace(",", " ").split()]
            except ValueError:
                raise UsageError("--import-libinput: expected 6 numbers") from None
            affine = from_libinput(numbers, axes.x.minimum, axes.x.maximum, axes.y.minimum, axes.y.maximum,
                                   *screen_px)
            meta.update(method="import-libinput")
    except FitError as exc:
        print(f"pin-kiosk calibrate: {exc}; nothing installed", file=sys.stderr)
        return EXIT_FAILURE
    why = implausible(cfg, affine, axes, screen_px)
    if why is not None:
        print(f"pin-kiosk calibrate: refused: {why}; nothing installed", file=sys.stderr)
        return EXIT_FAILURE
    result.update(_forms(affine, axes, screen_px))
    result["screen"] = {"w": screen_px[0], "h": screen_px[1]}
    result["axes"] = {"x": [axes.x.minimum, axes.x.maximum], "y": [axes.y.minimum, axes.y.maximum]}
    installed = None
    if not args.dry_run:
        rejected = len(result.get("rejected", ()))
        audit = {"points": len(result["points"]), "rejected_taps": rejected} if "points" in result else {}
        try:
            installed = install_calibration(cfg, affine, meta, axes=axes, screen_px=screen_px,
                                            rms_mm=result.get("rms_mm"), max_mm=result.get("max_mm"), audit=audit)
        except AuditBusy:
            print("pin-kiosk calibrate: the kiosk is running and holds the audit trail; stop it, or calibrate "
                  "from the staff console (calibrate TECH); nothing installed", file=sys.stderr)
            return EXIT_FAILURE
    result["installed"] = installed
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    a = result["affine"]
    print(f"affine:     x_px = {a[0]:.6g}·x + {a[1]:.6g}·y + {a[2]:.6g}")
    print(f"            y_px = {a[3]:.6g}·x + {a[4]:.6g}·y + {a[5]:.6g}")
    print(f"libinput:   {result['libinput_udev']}")
    print(f"pointercal: {result['pointercal']}")
    if "points" in result:
        print("point  target            raw                 samples  residual px   mm")
        for i, p in enumerate(result["points"]):
            flag = "  REJECTED (misclick)" if p["rejected"] else ""
            print(f"{i:5d}  {p['target'][0]:7.1f} {p['target'][1]:7.1f}  {p['raw'][0]:9.1f} {p['raw'][1]:9.1f}"
                  f"  {p['samples']:7d}  {p['residual_px']:11.2f} {p['residual_mm']:5.2f}{flag}")
        print(f"rms {result['rms_mm']:.2f} mm ({result['rms_px']:.2f} px), max {result['max_mm']:.2f} mm "
              f"({result['max_px']:.2f} px), rejected: {result['rejected'] or 'none'}")
    print(f"installed: {installed}" if installed else "not installed (--dry-run)")
    return 0
