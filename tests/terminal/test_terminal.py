"""The terminal core in-process: every decision it took over from the app, in milliseconds.

No drivers, no loop, no pygame: events in, effects out.  The touch panel is
"raw units = screen pixels" (identity matrix), so a tap at a key's centre is
that key; the card is whatever the test answers.
"""
import dataclasses

import pytest

from calibration.drift import DriftEstimator
from calibration.matrix import Affine
from kiosk.config import config_from_dict
from kiosk.pin import PinType
from kiosk.session import CardOp
from kiosk.terminal import (Alert, Audit, CardAnswer, CardPresence, Command, Contact, DevicesSeen,
                            InstallCalibration, SaveDrift, Send, Show, Shutdown, StatusReply, TechnicianDone,
                            Terminal, Tick, WriteMetrics, drift_key_pitch_mm, matrix_sha256, neighbours)
from kiosk.vocabulary import AlertCode, DeviceFault, DriftLevel

CFG = config_from_dict({"screen": {"video": "dummy", "fullscreen": False}})


def terminal(*, touch=True, reader=True, drift=None, affine=None) -> Terminal:
    t = Terminal(CFG, affine=affine or Affine.identity(), calibrated=True,
                 drift=drift or DriftEstimator(CFG.drift, drift_key_pitch_mm(CFG)), touch_present=touch)
    t.boot(0.0, touch_is_panel=True, touch_absent_reason="", calibration_alert=None, calibration_detail=None)
    if reader:
        t.handle(CardPresence(0.0, "reader_added", "r0"))
        t.handle(CardPresence(0.0, "card_inserted", "r0"))
    settle(t, 0.0)
    return t


def settle(t: Terminal, now: float, touch=True, mismatch="", link=True) -> list:
    return t.handle(DevicesSeen(now, touch, "unplugged" if not touch else "", mismatch, link))


def of(fx, kind):
    return [e for e in fx if isinstance(e, kind)]


def sends(fx, type_):
    return [e.fields for e in fx if isinstance(e, Send) and e.type == type_]


class Clock:
    def __init__(self):
        self.now = 1.0

    def step(self, s=0.5):
        self.now += s
        return self.now


def tap_at(t: Terminal, clock: Clock, x: float, y: float) -> list:
    down = clock.step()
    fx = t.handle(Contact(down, "down", x, y, down))
    up = clock.step(0.08)
    fx += t.handle(Contact(up, "up", x, y, up, (x, y)))
    return fx + settle(t, up)


def tap_key(t: Terminal, clock: Clock, key: str) -> list:
    layout = t.layout_for(t.view)
    return tap_at(t, clock, *layout.key_centre_px(key))


def begin(t: Terminal, clock: Clock, pin_type=PinType.USER_AUTH, action="verify", tries=3) -> None:
    fx = t.handle(Command(clock.step(), "begin", {"pin_type": pin_type.value, "action": action}))
    (op,) = of(fx, CardOp)
    assert op.op == "identify"  # which card, and its counter
    t.handle(CardAnswer(clock.step(), op.request_id, "ok", tries))
    settle(t, clock.now)
    assert t.view.screen in ("entry", "last_try_warning")


def type_pin(t, clock, text):
    fx = []
    for ch in text:
        fx += tap_key(t, clock, ch)
    return fx + tap_key(t, clock, "enter")


# --- the citizen's PIN from touch to card ----------------------------------------------------------
def test_keys_typed_on_the_keypad_reach_the_card_and_the_result_is_counted():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = type_pin(t, clock, "1234")
    (op,) = of(fx, CardOp)
    assert op.op == "verify" and len(op.pins) == 1 and len(op.pins[0]) == 4
    fx = t.handle(CardAnswer(clock.step(), op.request_id, "ok", 3))
    assert sends(fx, "pin.result") == [{"pin_type": "user_auth", "action": "verify", "result": "ok", "tries_left": 3}]
    assert [e.kind for e in of(fx, Audit)] == ["pin.result"]
    assert t.sessions_by_result == {"ok": 1}
    assert op.pins[0].wiped
    assert of(settle(t, clock.now), Show)[0].view.screen == "result_ok"


def test_show_only_when_the_view_changed():
    t, clock = terminal(), Clock()
    assert of(settle(t, clock.step()), Show) == []
    begin(t, clock)
    assert of(settle(t, clock.step(0.01)), Show) == []


def test_a_touch_without_a_layout_yet_does_nothing():
    t = Terminal(CFG, affine=Affine.identity(), calibrated=False,
                 drift=DriftEstimator(CFG.drift, drift_key_pitch_mm(CFG)), touch_present=True)
    assert t.handle(Contact(1.0, "down", 10, 10, 1.0)) == []


def test_the_matrix_maps_raw_units_before_hit_testing():
    shift = Affine(1, 0, 40, 0, 1, 0)  # the panel reports 40 px left of where the finger is
    t, clock = terminal(affine=shift), Clock()
    begin(t, clock)
    layout = t.layout_for(t.view)
    x, y = layout.key_centre_px("5")
    tap_at(t, clock, x - 40, y)
    assert t.view.entered == 1


def test_move_and_cancel_keep_the_session_alive_and_commit_nothing():
    t, clock = terminal(), Clock()
    begin(t, clock)
    x, y = t.layout_for(t.view).key_centre_px("5")
    now = clock.step()
    t.handle(Contact(now, "down", x, y, now))
    t.handle(Contact(now + 0.02, "move", x + 1, y, now + 0.02))
    settle(t, now + 0.02)
    assert t.view.pressed_key == "5"
    t.handle(Contact(now + 0.04, "cancel", x, y, now + 0.04))
    settle(t, now + 0.04)
    assert t.view.entered == 0 and t.view.pressed_key is None
    assert t.session.last_activity_s == pytest.approx(now + 0.04)


# --- the tap observer ---------------------------------------------------------------------------
def test_each_committed_key_is_one_residual_and_a_tap_between_keys_a_gap():
    t, clock = terminal(), Clock()
    begin(t, clock)
    tap_key(t, clock, "1")
    tap_key(t, clock, "2")
    layout = t.layout_for(t.view)
    (x1, y1), (x2, y2) = layout.key_centre_px("1"), layout.key_centre_px("2")
    gap = next((x, y1) for x in range(int(x1), int(x2)) if layout.hit(x, y1) is None)
    tap_at(t, clock, *gap)
    s = t.session_drift.summary()
    assert s.n == 2 and s.gap_taps == 1 and s.corrections == 0


def test_backspace_then_the_neighbour_of_the_erased_key_is_a_correction():
    t, clock = terminal(), Clock()
    begin(t, clock)
    layout = t.layout_for(t.view)
    assert neighbours(layout, "5", "6") and not neighbours(layout, "1", "9")
    assert not neighbours(layout, "5", "nope")
    for k in ("5", "backspace", "6", "backspace", "6", "clear"):
        tap_key(t, clock, k)
    assert t.session_drift.summary().corrections == 1  # the second "6" re-types the same key: no correction
    assert t.taps.last_char_key is None and t.taps.erased_key is None  # clear forgets


def test_taps_on_screens_other_than_the_keypad_feed_nothing():
    t, clock = terminal(), Clock()
    begin(t, clock, tries=1)  # last-try warning screen
    assert t.view.screen == "last_try_warning"
    tap_key(t, clock, "continue")
    assert t.view.screen == "entry" and t.session_drift.summary().n == 0


def test_session_end_closes_the_drift_sums_and_forgets_the_keys():
    t, clock = terminal(), Clock()
    begin(t, clock)
    tap_key(t, clock, "1")
    fx = t.handle(Command(clock.step(), "logout"))
    assert sends(fx, "session.ended")[0]["reason"] == "logout"
    assert of(fx, WriteMetrics) and of(fx, SaveDrift) == []  # pooled: one session moves no drift figure
    assert t.session_drift.summary().n == 0 and t.taps.last_char_key is None
    assert t.sessions_by_result == {"cancelled": 1}
    for _ in range(CFG.drift.pool_sessions - 1):
        begin(t, clock)
        tap_key(t, clock, "1")
        fx = t.handle(Command(clock.step(), "logout"))
        settle(t, clock.now)
    assert of(fx, SaveDrift)  # the pool is full: the estimator moved and is kept


# --- devices ----------------------------------------------------------------------------------
def test_card_presence_is_recorded_and_a_pulled_card_ends_the_session():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = t.handle(CardPresence(clock.step(), "card_removed", "r0"))
    assert [e.kind for e in of(fx, Audit)][0] == "card.removed"
    assert sends(fx, "session.ended")[0]["reason"] == "card_removed" and not t.devices.card
    fx = t.handle(CardPresence(clock.step(), "card_inserted", "r0"))
    assert of(fx, Audit)[0] == Audit("card.inserted", {"reader": "r0"}) and t.devices.card


def test_reader_and_pcscd_going_away_are_alerts_and_the_fault_screen():
    t, clock = terminal(), Clock()
    fx = t.handle(CardPresence(clock.step(), "reader_removed", "r0"))
    assert Alert(AlertCode.READER_ABSENT, "card reader disconnected") in fx
    assert Audit("reader.present", {"reader": "r0", "present": False}) in fx
    assert of(settle(t, clock.now), Show)[0].view.fault == DeviceFault.NO_READER
    t.handle(CardPresence(clock.step(), "reader_added", "r0"))
    assert settle(t, clock.now)[-1].view.screen == "idle"
    fx = t.handle(CardPresence(clock.step(), "pcscd_down"))
    assert of(fx, Alert)[0].code == AlertCode.PCSCD_DOWN and not t.devices.reader
    assert t.status_fields()["reader"] is False
    fx = t.handle(CardPresence(clock.step(), "pcscd_up"))
    assert of(fx, Alert) == [] and t.devices.pcscd


def test_touch_absent_comes_before_no_reader_and_is_alerted_once():
    t, clock = terminal(reader=False), Clock()
    fx = settle(t, clock.step(), touch=False)
    assert Audit("touch.present", {"device": CFG.touch.source, "present": False}) in fx
    assert of(fx, Alert) == [Alert(AlertCode.TOUCH_ABSENT, "touch panel absent: unplugged")]
    assert of(fx, Show)[0].view.fault == DeviceFault.TOUCH_ABSENT
    assert of(settle(t, clock.step(), touch=False), Alert) == []
    fx = settle(t, clock.step(), touch=True)
    assert of(fx, Alert) == [] and of(fx, Show)[0].view.fault == DeviceFault.NO_READER


def test_an_axis_mismatch_is_alerted_once_per_device():
    t, clock = terminal(), Clock()
    assert of(settle(t, clock.step(), mismatch="x 0..4095"), Alert)[0].code == AlertCode.TOUCH_AXIS_MISMATCH
    assert of(settle(t, clock.step(), mismatch="x 0..4095"), Alert) == []
    assert len(of(settle(t, clock.step(), mismatch="y 0..99"), Alert)) == 1


def test_console_link_changes_are_audited():
    t, clock = terminal(), Clock()
    fx = settle(t, clock.step(), link=False)
    assert Audit("console.link", {"state": "down", "port": CFG.console.port}) in fx
    assert Audit("console.link", {"state": "up", "port": CFG.console.port}) in settle(t, clock.step())


def test_boot_alerts_a_missing_panel_and_a_bad_calibration():
    t = Terminal(CFG, affine=Affine.identity(), calibrated=False,
                 drift=DriftEstimator(CFG.drift, drift_key_pitch_mm(CFG)), touch_present=False)
    fx = t.boot(0.0, touch_is_panel=True, touch_absent_reason="no such device",
                calibration_alert="calibration_corrupt", calibration_detail=None)
    assert of(fx, Alert) == [Alert("calibration_corrupt", "calibration: calibration_corrupt"),
                             Alert(AlertCode.TOUCH_ABSENT, "touch panel absent: no such device")]
    assert of(fx, Show)[0].view.fault == DeviceFault.TOUCH_ABSENT
    fifo = Terminal(CFG, affine=Affine.identity(), calibrated=False,
                    drift=DriftEstimator(CFG.drift, drift_key_pitch_mm(CFG)), touch_present=False)
    assert of(fifo.boot(0.0, touch_is_panel=False, touch_absent_reason="", calibration_alert=None,
                        calibration_detail=None), Alert) == []


# --- console commands ----------------------------------------------------------------------------
def test_status_request_is_answered_with_the_terminal_state():
    t, clock = terminal(), Clock()
    assert t.handle(Command(clock.step(), "status_request")) == [StatusReply()]
    st = t.status_fields()
    assert st["state"] == "idle" and st["reader"] and st["card"] and st["touch"] and st["calibrated"]
    assert st["session"] is False and st["drift"]["level"] == "ok"
    assert t.handle(Command(clock.step(), "no_such_command")) == []


def test_cancel_goes_to_the_session_when_no_procedure_runs():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = t.handle(Command(clock.step(), "cancel"))
    assert sends(fx, "pin.result")[0]["result"] == "cancelled"
    assert sends(fx, "session.ended")[0]["reason"] == "cancel"


def test_technician_procedures_are_refused_while_a_session_or_a_procedure_runs():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = t.handle(Command(clock.step(), "calibrate", {"technician": "tech07"}))
    assert of(fx, Alert)[0].code == AlertCode.BUSY and t.procedure is None
    t.handle(Command(clock.step(), "logout"))
    t.handle(Command(clock.step(), "drift_check", {"technician": "tech07"}))
    fx = t.handle(Command(clock.step(), "calibrate", {"technician": "tech08"}))
    assert of(fx, Alert)[0].code == AlertCode.BUSY


# --- technician outcome policy ----------------------------------------------------------------
def walk_targets(t: Terminal, clock: Clock, offset_px=(0.0, 0.0)) -> list:
    """Tap every target the procedure shows, ``offset_px`` off; the effects of the last tap."""
    fx = settle(t, clock.now)
    while t.procedure is not None and t.view.targets.current is not None:
        tv = t.view.targets
        x, y = tv.targets_px[tv.current]
        fx = tap_at(t, clock, x + offset_px[0], y + offset_px[1])
    return fx


def test_a_calibration_accepted_at_review_is_installed_with_a_record_and_a_fresh_drift_baseline():
    drift = DriftEstimator(CFG.drift, drift_key_pitch_mm(CFG))
    drift.level = DriftLevel.ALERT
    old = Affine(1, 0, 3, 0, 1, -2)
    t, clock = terminal(drift=drift, affine=old), Clock()
    t.handle(Command(clock.step(), "calibrate", {"technician": "tech07"}))
    settle(t, clock.now)
    walk_targets(t, clock, offset_px=(-3, 2))  # taps land where the old matrix put them
    assert t.view.screen == "calibration_result"
    tap_key(t, clock, "retry")  # the review's retry starts over
    assert t.view.screen == "calibration"
    walk_targets(t, clock, offset_px=(-3, 2))
    fx = tap_key(t, clock, "accept")
    assert of(fx, TechnicianDone) == [TechnicianDone("calibrate", "accepted", True)]
    (install,) = of(fx, InstallCalibration)
    assert install.meta["technician"] == "tech07" and t.affine == install.affine and t.calibrated
    assert install.affine.apply(0, 0) == pytest.approx((3, -2), abs=0.05)  # the fit found the old offset
    (record,) = [e for e in of(fx, Audit) if e.kind == "calibration"]
    assert record.fields["outcome"] == "accepted" and record.fields["points"] == 9
    assert record.fields["matrix_before_sha256"] == matrix_sha256(old)
    assert record.fields["matrix_after_sha256"] == matrix_sha256(install.affine)
    assert drift.level == DriftLevel.OK
    assert sends(fx, "drift")[0]["level"] == "ok"  # alert -> ok: calibrated
    assert sends(fx, "calibration.result")[0]["ok"] is True
    assert t.procedure is None and t.session.state == "idle"


def test_the_technician_fit_rejects_what_the_configuration_says():
    cfg = config_from_dict({"screen": {"video": "dummy", "fullscreen": False}, "touch": {"fit_reject_mm": 2.5}})
    t = Terminal(cfg, affine=Affine.identity(), calibrated=True,
                 drift=DriftEstimator(cfg.drift, drift_key_pitch_mm(cfg)), touch_present=True)
    t.handle(Command(1.0, "calibrate", {"technician": "tech07"}))
    assert t.procedure.fit_reject_mm == 2.5


def test_cancel_during_a_calibration_goes_to_the_procedure_and_changes_nothing():
    t, clock = terminal(), Clock()
    before = t.affine
    t.handle(Command(clock.step(), "calibrate", {"technician": "tech07"}))
    fx = t.handle(Command(clock.step(), "cancel"))
    assert of(fx, InstallCalibration) == [] and t.affine is before
    assert Audit("calibration", {"technician": "tech07", "outcome": "cancelled"}) in fx
    assert sends(fx, "calibration.result")[0] == {"kind": "calibrate", "ok": False, "technician": "tech07",
                                                   "message": "calibration cancelled, nothing changed"}
    assert of(fx, TechnicianDone)[0].passed is False


def test_a_calibration_walked_away_from_times_out():
    t, clock = terminal(), Clock()
    t.handle(Command(clock.step(), "calibrate", {"technician": "tech07"}))
    due = t.next_deadline_s()
    assert due == pytest.approx(clock.now + CFG.drift.technician_timeout_s)
    fx = t.handle(Tick(due + 0.1))
    assert Audit("calibration", {"technician": "tech07", "outcome": "timeout"}) in fx
    assert t.procedure is None and t.next_deadline_s() is None


def test_a_passed_drift_check_changes_no_level_and_a_failed_one_raises_the_alert():
    t, clock = terminal(), Clock()
    t.handle(Command(clock.step(), "drift_check", {"technician": "tech07"}))
    fx = walk_targets(t, clock)
    assert of(fx, TechnicianDone) == [TechnicianDone("drift_check", "done", True)]
    assert [e.kind for e in of(fx, Audit)] == ["drift.check"]
    assert sends(fx, "calibration.result")[0]["ok"] is True and of(fx, Alert) == []
    assert t.last_drift_check_passed
    t.handle(Command(clock.step(), "drift_check", {"technician": "tech07"}))
    fx = walk_targets(t, clock, offset_px=(0, 40))
    assert t.last_drift_check_passed is False
    (alert,) = of(fx, Alert)
    assert alert.code == AlertCode.DRIFT_ALERT and "drift check measured" in alert.message
    assert sends(fx, "drift")[0]["level"] == "alert"
    assert [e.kind for e in of(fx, Audit)] == ["drift.check", "drift.level"]


def test_a_drift_check_cancelled_reports_not_finished():
    t, clock = terminal(), Clock()
    t.handle(Command(clock.step(), "drift_check", {"technician": "tech07"}))
    fx = t.handle(Command(clock.step(), "cancel"))
    assert sends(fx, "calibration.result")[0]["message"] == "drift check not finished"
    assert of(fx, TechnicianDone)[0].passed is False


def test_a_technician_touch_that_is_not_a_finished_tap_does_nothing():
    t, clock = terminal(), Clock()
    t.handle(Command(clock.step(), "drift_check", {"technician": "tech07"}))
    assert t.handle(Contact(clock.step(), "down", 5, 5, clock.now)) == []
    assert t.handle(Contact(clock.step(), "up", 5, 5, clock.now, None)) == []


def test_install_calibration_is_one_step_for_every_path():
    t, clock = terminal(), Clock()
    new = Affine(1, 0, 1, 0, 1, 1)
    fx = t.install_calibration(clock.step(), new, technician="tech07", rms_mm=0.4, max_mm=0.9)
    assert [type(e) for e in fx] == [InstallCalibration, SaveDrift, Audit]
    assert fx[-1].fields["outcome"] == "accepted" and t.affine is new


# --- timeouts and shutdown ----------------------------------------------------------------------
def test_the_session_times_out_on_tick():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = t.handle(Tick(clock.now + CFG.session.inactivity_timeout_s + 1))
    assert sends(fx, "session.ended")[0]["reason"] == "timeout"


def test_shutdown_ends_an_open_entry_as_cancelled():
    t, clock = terminal(), Clock()
    begin(t, clock)
    fx = t.handle(Shutdown(clock.step()))
    assert sends(fx, "pin.result")[0]["result"] == "cancelled"
    assert sends(fx, "session.ended")[0]["reason"] == "shutdown"
    assert t.session.pins_held() == 0


def test_events_are_frozen_slotted_records():
    c = Contact(1.0, "up", 1, 2, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.kind = "down"
    assert not hasattr(c, "__dict__")
