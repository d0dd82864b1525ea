"""Kernel events into the primary contact's frames: the pure multitouch core.

Theory of operation
-------------------
A touchscreen speaks one of three dialects, and this module understands all
of them, keeping the kernel's vocabulary:

* single touch: ``BTN_TOUCH`` says down/up, ``ABS_X``/``ABS_Y`` (and maybe
  ``ABS_PRESSURE``) say where; a device without ``BTN_TOUCH`` says down/up
  with pressure, or else with ``BTN_TOOL_FINGER`` alone;
* multitouch protocol B: ``ABS_MT_SLOT`` selects a slot, ``ABS_MT_TRACKING_ID``
  ≥ 0 starts a contact in it and −1 ends it, ``ABS_MT_POSITION_X/Y`` move it.
  Slot values persist: a new contact may re-send only the coordinate that
  changed (the Atmel fast-taps recording does exactly that), and a new
  tracking id may replace the old one in its slot without a −1 between them
  (the protocol allows it: the old contact ended, a new one began);
* multitouch protocol A: anonymous contacts, each closed by ``SYN_MT_REPORT``;
  an empty report, or a frame with ``BTN_TOUCH`` 0, means no contact.

Devices that send both MT and single-touch data are read through MT.
``BTN_TOUCH`` 0 means nothing touches the glass in that frame: a contact that
keeps its tracking id through it is hovering, and touches again when
``BTN_TOUCH`` returns to 1 (the QUANTA hover recording does this).  Only after
a ``SYN_DROPPED`` does ``BTN_TOUCH`` 0 also forget the slots, whose lifts may
have been among the lost events.

At every ``SYN_REPORT`` the tracker looks at the *primary* contact only: the
first finger to touch an empty panel.  It emits a frame
``(kind, t_s, x_raw, y_raw, pressure)`` with kind ``down``, ``move``, ``up`` or
``cancel``.  A second finger never becomes primary, and when the primary lifts
while other fingers stay, nothing new starts until the panel is empty: a palm
or a second hand cannot press a key.  In protocol A the primary is followed by
nearest-neighbour matching between frames.

``SYN_DROPPED`` means the kernel's buffer overflowed: events up to the next
``SYN_REPORT`` are discarded, the touch in progress is cancelled (never turned
into a tap, its samples are incomplete), and no new touch starts until the
panel is seen empty again, either in the stream or through ``resync`` with the
device's own state.  Time is ``sec + usec/1e6 + time_offset_s``: the source
decides how event clocks map to the caller's clock.
"""
from __future__ import annotations

from drivers.touch import codes
from drivers.touch.events import Event

Frame = tuple[str, float, float, float, "int | None"]

_SLOT = codes.ABS_MT_SLOT
_TID = codes.ABS_MT_TRACKING_ID
_MTX = codes.ABS_MT_POSITION_X
_MTY = codes.ABS_MT_POSITION_Y
_MTP = codes.ABS_MT_PRESSURE
_DIST = codes.ABS_MT_DISTANCE
_TOOL = codes.ABS_MT_TOOL_TYPE
_PALM = codes.MT_TOOL_PALM
_MT_FIRST = codes.ABS_MT_SLOT  # every ABS_MT_* code is at or above ABS_MT_SLOT (0x2f)


class PrimaryContactTracker:
    """Feed kernel events, get the primary contact's down/move/up/cancel frames."""

    def __init__(self, multitouch: bool = False, time_offset_s: float = 0.0) -> None:
        self.time_offset_s = time_offset_s
        self._mt = multitouch         # MT data seen or announced: ignore ABS_X/Y
        self._protocol_a = False
        self._protocol_b = False
        # single touch
        self._btn: int | None = None  # BTN_TOUCH, None until the device reports it
        self._tool: int | None = None  # BTN_TOOL_FINGER, for devices with neither BTN_TOUCH nor pressure
        self._stale = False           # after SYN_DROPPED: slots may hold contacts whose lift was lost
        self._st = [0, 0, None]       # ABS_X, ABS_Y, ABS_PRESSURE
        # protocol B: per-slot [tracking_id, x, y, pressure, distance, tool type]
        self._slot = 0
        self._slots: dict[int, list] = {}
        # protocol A: contact being built and the contacts of this frame
        self._a_cur: list | None = None
        self._a_frame: list[list] = []
        self._a_reports = 0
        self._a_prev: list[list] = []
        # primary contact
        self._active = False
        self._primary_slot = -1
        self._primary_tid = -1
        self._last = [0.0, 0.0, None]  # x, y, pressure last emitted
        self._blocked = False          # wait for an empty panel before a new primary
        self._dropping = False
        self.drops = 0                 # SYN_DROPPED seen (a source may resync after one)

    # -- the one entry point -------------------------------------------------
    def feed(self, events: list[Event]) -> list[Frame]:
        """Consume events; return the frames completed by their SYN_REPORTs."""
        out: list[Frame] = []
        slots = self._slots
        st = self._st
        for sec, usec, etype, code, value in events:
            if self._dropping:
                if etype == 0 and code == 0:
                    self._dropping = False
                    self._after_drop(sec + usec * 1e-6 + self.time_offset_s, out)
                continue
            if etype == 3:  # EV_ABS
                if code >= _MT_FIRST:
                    self._mt = True
                    if code == _SLOT:
                        self._slot = value
                        continue
                    if self._protocol_a:
                        cur = self._a_cur
                        if cur is None:
                            cur = self._a_cur = [0, 0, None]
                        if code == _MTX:
                            cur[0] = value
                        elif code == _MTY:
                            cur[1] = value
                        elif code == _MTP:
                            cur[2] = value
                        continue
                    s = slots.get(self._slot)
                    if s is None:
                        s = slots[self._slot] = [-1, 0, 0, None, 0, 0]
                    if code == _MTX:
                        s[1] = value
                    elif code == _MTY:
                        s[2] = value
                    elif code == _TID:
                        s[0] = value
                    elif code == _MTP:
                        s[3] = value
                    elif code == _DIST:
                        s[4] = value
                    elif code == _TOOL:
                        s[5] = value
                    # other MT axes (touch major, orientation, ...) carry nothing we use
                    if not self._protocol_b:
                        if code == _TID:
                            self._protocol_b = True
                        else:  # until a tracking id or SYN_MT_REPORT says which protocol
                            self._a_cur = [s[1], s[2], s[3]]
                elif code == 0:
                    st[0] = value
                elif code == 1:
                    st[1] = value
                elif code == codes.ABS_PRESSURE:
                    st[2] = value
            elif etype == 0:
                if code == 0:
                    self._report(sec + usec * 1e-6 + self.time_offset_s, out)
                elif code == codes.SYN_MT_REPORT:
                    if not self._protocol_a:
                        self._protocol_a = True
                        self._slots.clear()
                    self._a_reports += 1
                    if self._a_cur is not None:
                        self._a_frame.append(self._a_cur)
                        self._a_cur = None
                elif code == codes.SYN_DROPPED:
                    self._dropping = True
                    self.drops += 1
            elif etype == 1:
                if code == codes.BTN_TOUCH:
                    self._btn = value
                elif code == codes.BTN_TOOL_FINGER:
                    self._tool = value
        return out

    def resync(self, touching: bool | None, t_s: float) -> list[Frame]:
        """Take the device's own state after a drop or reopen (EVIOCGKEY for BTN_TOUCH).

        An empty panel ends the wait for one; a touching panel keeps the wait,
        so a finger already down when we looked never becomes a tap.  ``None``
        is a device without BTN_TOUCH: contacts are forgotten, and a finger
        still down, having no tracking id any more, cannot start a tap.
        """
        out: list[Frame] = []
        if self._active:
            self._emit_cancel(t_s, out)
        self._slots.clear()
        self._a_prev = []
        self._stale = False
        if touching is None:
            self._btn = None
            self._blocked = False
        else:
            self._btn = 1 if touching else 0
            self._blocked = touching
        return out

    def cancel(self, t_s: float) -> list[Frame]:
        """The source went away: cancel a touch in progress, forget all contacts."""
        out: list[Frame] = []
        if self._active:
            self._emit_cancel(t_s, out)
        self._slots.clear()
        self._a_prev, self._a_frame, self._a_cur = [], [], None
        self._dropping = False
        self._stale = False
        self._blocked = False
        self._btn = None
        return out

    # -- SYN_REPORT ----------------------------------------------------------
    def _emit_cancel(self, t_s: float, out: list[Frame]) -> None:
        x, y, p = self._last
        out.append(("cancel", t_s, x, y, p))
        self._active = False
        self._primary_slot = -1

    def _after_drop(self, t_s: float, out: list[Frame]) -> None:
        if self._active:
            self._emit_cancel(t_s, out)
        self._blocked = True
        self._stale = True
        self._a_cur, self._a_frame, self._a_reports = None, [], 0

    def _report(self, t_s: float, out: list[Frame]) -> None:
        btn = self._btn
        if btn == 0 and self._stale:
            # BTN_TOUCH 0 after a drop: trust it over slots whose lift may have been lost
            for s in self._slots.values():
                s[0] = -1
            self._stale = False
        if not self._mt:
            self._report_single(t_s, btn, out)
        elif self._protocol_a:
            self._report_a(t_s, btn, out)
        else:
            self._report_b(t_s, btn != 0, out)

    def _down(self, t_s: float, x, y, p, out: list[Frame]) -> None:
        self._active = True
        last = self._last
        last[0], last[1], last[2] = x, y, p
        out.append(("down", t_s, x, y, p))

    def _move(self, t_s: float, x, y, p, out: list[Frame]) -> None:
        last = self._last
        if x != last[0] or y != last[1] or p != last[2]:
            last[0], last[1], last[2] = x, y, p
            out.append(("move", t_s, x, y, p))

    def _up(self, t_s: float, out: list[Frame]) -> None:
        x, y, p = self._last
        out.append(("up", t_s, x, y, p))
        self._active = False
        self._primary_slot = -1

    def _report_single(self, t_s: float, btn: int | None, out: list[Frame]) -> None:
        st = self._st
        if btn is not None:
            touching = btn == 1
        elif st[2] is not None:
            touching = st[2] > 0
        else:  # no BTN_TOUCH and no pressure: some single-touch panels say it with the tool bit
            touching = self._tool == 1
        if self._active:
            if touching:
                self._move(t_s, st[0], st[1], st[2], out)
            else:
                self._up(t_s, out)
        elif touching:
            if not self._blocked:
                self._down(t_s, st[0], st[1], st[2], out)
        else:
            self._blocked = False

    def _report_b(self, t_s: float, glass: bool, out: list[Frame]) -> None:
        # A contact touches the glass when it has a tracking id, no hover distance, is
        # not a palm, and BTN_TOUCH (``glass``) does not say that nothing touches: a
        # hovering finger presses nothing, a resting palm neither presses nor keeps
        # the other hand from pressing.  (The test is written out inline: this runs
        # for every frame of every touch.)
        slots = self._slots
        self._a_cur = None
        if self._active:
            s = slots.get(self._primary_slot)
            if s is not None and s[0] == self._primary_tid:
                if s[5] == _PALM:      # the kernel reclassified it: never a tap
                    self._emit_cancel(t_s, out)
                elif not glass or s[4]:  # lifted into hover (distance or BTN_TOUCH 0): released
                    self._up(t_s, out)
                else:
                    self._move(t_s, s[1], s[2], s[3], out)
                    return
            else:
                slot = self._primary_slot
                self._up(t_s, out)
                if (glass and s is not None and s[0] >= 0 and not s[4] and s[5] != _PALM
                        and not any(v[0] >= 0 and not v[4] and v[5] != _PALM
                                    for k, v in slots.items() if k != slot)):
                    # a new tracking id replaced the primary's in its slot, alone on the
                    # glass: the old contact ended and a new one began there
                    self._primary_slot, self._primary_tid = slot, s[0]
                    self._down(t_s, s[1], s[2], s[3], out)
                    return
            self._blocked = glass and any(v[0] >= 0 and not v[4] and v[5] != _PALM for v in slots.values())
            return
        live = [k for k, v in slots.items() if v[0] >= 0 and not v[4] and v[5] != _PALM] if glass else None
        if not live:
            self._blocked = False
        elif not self._blocked:
            k = min(live)
            s = slots[k]
            self._primary_slot, self._primary_tid = k, s[0]
            self._down(t_s, s[1], s[2], s[3], out)

    def _report_a(self, t_s: float, btn: int | None, out: list[Frame]) -> None:
        if self._a_cur is not None:  # data after the last SYN_MT_REPORT still is a contact
            self._a_frame.append(self._a_cur)
            self._a_cur = None
        frame, reports = self._a_frame, self._a_reports
        self._a_frame, self._a_reports = [], 0
        if not frame and not reports and btn != 0:
            return  # a frame with no MT data at all (only other axes): nothing changed
        if btn == 0:
            frame = []
        prev, self._a_prev = self._a_prev, frame
        if self._active:
            # follow the primary: the current contact nearest to where it was, if that
            # contact is not nearer to where another finger was
            px, py = self._last[0], self._last[1]
            best, best_d = None, None
            for c in frame:
                d = (c[0] - px) ** 2 + (c[1] - py) ** 2
                nearer_other = any((c[0] - o[0]) ** 2 + (c[1] - o[1]) ** 2 < d
                                   for o in prev if o[0] != px or o[1] != py)
                if not nearer_other and (best_d is None or d < best_d):
                    best, best_d = c, d
            if best is not None:
                self._move(t_s, best[0], best[1], best[2], out)
            else:
                self._up(t_s, out)
                self._blocked = bool(frame)
        elif not frame:
            self._blocked = False
        elif not self._blocked:
            c = frame[0]
            self._down(t_s, c[0], c[1], c[2], out)
