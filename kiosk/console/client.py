"""The console's client core: link events and typed lines in, notices and a picture out.

Theory of operation
-------------------
``ConsoleClient`` is pure (model: h11's connection object): it holds the
console's ``kiosk.protocol.Link`` and a ``Picture`` of the terminal, and every
method takes the time as arguments (``now_s`` monotonic for the link,
``wall_s`` Unix time for what the clerk reads) and returns ``Notice`` values.
The faces print or draw notices and the picture; they decide nothing.  The
I/O shell (``kiosk.console.station``) feeds it ``Link`` events and port
changes.

*Accepted means acted on.*  The kiosk acks a command as soon as the frame
arrived intact, before deciding anything.  So an ack is not shown as 受付:
the command waits (``Picture.waiting``) for the kiosk's reaction.  A frame
that shows it acted (``REACTIONS``) makes it 受付; an alert with a refusal
code (``wording.REFUSAL_CODES``) makes it 受付できません with the reason in
Japanese; no reaction within ``REACTION_WAIT_S`` of the ack is said once.

*Alerts stand.*  An alert whose code names a condition of the terminal
(``AlertText.standing``) stays in ``Picture.alerts`` until the kiosk's status
says it is gone (the status ``alerts`` list when the kiosk sends one,
otherwise the presence flags), so a face can keep showing it; every other
alert stays until the clerk acknowledges it.  Alerts are acknowledged by the
clerk (``acknowledge``), which silences them but keeps standing ones listed.
The kiosk re-sends its standing alerts after every ``hello``, so a console
started late learns of them.

*Warnings.*  A citizen with one try left, and a session about to time out,
come as ``session.warning`` frames (and, from an older kiosk, as an
``entry.started`` with ``tries_left`` 1): each is said once, with the bell.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from kiosk.console import wording as w
from kiosk.console.commands import CommandError, Parsed, help_lines, parse
from kiosk.protocol import COMMAND_WINDOW_FRAMES, SILENT_HEARTBEATS, Acked, Event, Link, Received, Role

#: An acked command with no visible reaction after this long is said to be waiting.
REACTION_WAIT_S = 4.0
#: A command not acked after this long: the kiosk does not hear us.
UNACKED_WAIT_S = 5.0


class Tone(str, enum.Enum):
    """How a notice should look; the core picks it, the face only maps it to colour."""

    INFO = "info"          # ordinary news from the terminal
    GOOD = "good"          # a PIN verified or changed
    ACCEPTED = "accepted"  # 受付: the kiosk acted on the clerk's command
    REFUSED = "refused"    # the kiosk, or the console, would not do it
    WARNING = "warning"    # last try, time-out coming, drift warning
    ALERT = "alert"        # the clerk must act
    LINK = "link"          # the line to the terminal came or went
    HELP = "help"


@dataclass(frozen=True)
class Notice:
    """One thing to tell the clerk: Japanese, English, the local time, whether to ring."""

    tone: Tone
    ja: str
    en: str
    at: str = ""
    bell: bool = False

    def line(self) -> str:
        """The line console's line: time, Japanese, then English."""
        text = f"{self.ja} / {self.en}" if self.en else self.ja
        return f"{self.at} {text}" if self.at else text


@dataclass
class StandingAlert:
    code: str
    ja: str
    en: str
    todo_ja: str
    todo_en: str
    at: str
    fault: bool
    standing: bool
    acknowledged: bool = False


@dataclass
class Waiting:
    """The clerk's last command, until the kiosk shows what it did with it."""

    type: str
    fields: dict[str, Any]
    seq: int
    sent_s: float
    acked_s: float | None = None
    said_slow: bool = False


@dataclass
class Picture:
    """What the console knows of the terminal: what the status line and the window show."""

    link: str = "down"           # down | open (port open, nothing heard yet) | up | silent
    terminal: str = ""
    software: str = ""
    boot: str = ""               # the kiosk process's boot id (changes when the kiosk restarts)
    boot_at: str = ""            # local time of the last hello
    hellos: int = 0
    state: str | None = None
    reader: bool | None = None
    card: bool | None = None
    touch: bool | None = None
    calibrated: bool | None = None
    drift_level: str | None = None
    session: bool | None = None
    pin_type: str | None = None
    action: str | None = None
    tries_left: int | None = None
    cert_valid_until: str | None = None
    last_result: tuple[str, str] | None = None
    alerts: dict[str, StandingAlert] = field(default_factory=dict)
    #: The clerk's commands not yet acted on, oldest first (the kiosk acts in that order).
    waiting: list[Waiting] = field(default_factory=list)

    def state_words(self) -> w.Pair:
        if self.link in ("down", "silent"):
            return ("端末と通信できません", "no contact with the terminal")
        if self.state is None:
            return ("状態を待っています", "waiting for the status")
        return w.word(w.STATES, self.state)

    def unacknowledged(self) -> list[StandingAlert]:
        return [a for a in self.alerts.values() if not a.acknowledged]

    def status_parts(self) -> list[tuple[str, str]]:
        """The standing status line as (kind, Japanese text) parts; kind is state | devices | alerts | calm."""
        ja, _ = self.state_words()
        parts = [("state", f"状態: {ja}")]
        devices = [f"リーダー{w.yes_no(self.reader)}", f"カード{w.yes_no(self.card)}",
                   f"タッチ{w.yes_no(self.touch)}", f"校正{w.yes_no(self.calibrated)}"]
        if self.pin_type and self.session:
            devices.append(w.pin_short(self.pin_type) + (f" 残り{self.tries_left}回" if self.tries_left is not None else ""))
        if self.cert_valid_until:
            devices.append(f"証明書有効期限 {self.cert_valid_until}")
        parts.append(("devices", " ".join(devices)))
        alerts = "、".join(a.ja for a in self.alerts.values())
        parts.append(("alerts", f"警報: {alerts}") if alerts else ("calm", "警報なし"))
        return parts

    def status_line(self) -> str:
        """One line: state, reader, card, touch, calibration, current alerts (Japanese)."""
        return " | ".join(text for _, text in self.status_parts())


#: After a command of this type, these kiosk frame types show that the kiosk acted on it.
REACTIONS: dict[str, frozenset[str]] = {
    "begin": frozenset({"session.started", "entry.started", "pin.result"}),
    "cancel": frozenset({"session.ended", "calibration.result"}),
    "logout": frozenset({"session.ended"}),
    "status_request": frozenset({"status"}),
    "calibrate": frozenset(),    # the next status says state technician
    "drift_check": frozenset(),
}

#: What 受付 says for each command.
ACCEPTED: dict[str, w.Pair] = {
    "begin": ("入力を開始しました", "entry started"),
    "cancel": ("中止しました", "cancelled"),
    "logout": ("ログアウトしました", "logged out"),
    "status_request": ("状態を受け取りました", "status received"),
    "calibrate": ("校正を開始しました", "calibration started"),
    "drift_check": ("ずれ確認を開始しました", "drift check started"),
}

COMMAND_NAMES: dict[str, w.Pair] = {
    "begin": ("開始", "begin"), "cancel": ("中止", "cancel"), "logout": ("ログアウト", "logout"),
    "status_request": ("状態", "status"), "calibrate": ("校正", "calibrate"), "drift_check": ("ずれ確認", "drift check"),
}


class ConsoleClient:
    """The console's end of the link and its picture of the terminal; pure."""

    def __init__(self, boot: str, zone: tzinfo, *, retransmit_s: float = 1.0, heartbeat_s: float = 5.0,
                 key: bytes | None = None) -> None:
        """``key``: the terminal's console key (protocol 2, kiosk.console_key); None speaks version 1."""
        self.link = Link(Role.CONSOLE, boot, retransmit_s=retransmit_s, window=COMMAND_WINDOW_FRAMES, key=key)
        self.zone = zone
        self.picture = Picture()
        #: The kiosk sends a status every heartbeat_s: this long without a frame means trouble.
        self.silent_after_s = SILENT_HEARTBEATS * heartbeat_s
        self._last_status_key: dict[str, Any] | None = None
        self._show_next_status = True
        self._warned: set[str] = set()  # warnings said in this entry

    # -- time for the clerk -----------------------------------------------------------
    def _at(self, frame: dict[str, Any]) -> str:
        return w.local_clock(frame.get("ts"), self.zone)

    def _here(self, wall_s: float) -> str:
        return w.wall_clock(wall_s, self.zone)

    # -- the port (from the shell) ---------------------------------------------------
    def port_opened(self, wall_s: float) -> list[Notice]:
        self.picture.link = "open"
        return [Notice(Tone.LINK, "回線を開きました。端末の応答を待っています", "port open, waiting for the terminal",
                       self._here(wall_s))]

    def port_lost(self, wall_s: float) -> list[Notice]:
        if self.picture.link == "down":
            return []
        self.picture.link = "down"
        return [Notice(Tone.ALERT, "回線が切れました。つなぎ直しています（ケーブルを確認）",
                       "link down: reopening the port (check the cable)", self._here(wall_s), bell=True)]

    # -- the clerk's lines ------------------------------------------------------------
    def typed(self, line: str, now_s: float, wall_s: float) -> tuple[list[Notice], Parsed | None]:
        """A line the clerk typed: the notices, and what was understood (None if nothing)."""
        try:
            parsed = parse(line)
        except CommandError as exc:
            return [Notice(Tone.REFUSED, f"入力エラー: {exc.ja}", exc.en, self._here(wall_s))], None
        if parsed is None:
            return [], None
        if parsed.action == "help":
            return self.help(), parsed
        if parsed.action == "ack":
            return self.acknowledge(wall_s), parsed
        if parsed.action == "send":
            return self.send(parsed.frame_type or "", parsed.fields, now_s, wall_s), parsed
        return [], parsed

    def help(self) -> list[Notice]:
        head = Notice(Tone.HELP, "コマンド一覧（日本語でも英語でも入力できます）", "commands (Japanese or English)")
        return [head] + [Notice(Tone.HELP, f"  {usage}", text) for usage, text in help_lines()]

    def send(self, type_: str, fields: dict[str, Any], now_s: float, wall_s: float) -> list[Notice]:
        """Queue one command for the kiosk (the window's buttons come straight here)."""
        name = COMMAND_NAMES.get(type_, (type_, type_))
        try:
            frame, refused = self.link.build(type_, fields)
        except ValueError as exc:
            return [Notice(Tone.REFUSED, f"{name[0]}: 送れません", f"{name[1]}: not sent: {exc}", self._here(wall_s))]
        if refused:  # commands.parse checks every field first; this is a console bug, said plainly
            return [Notice(Tone.REFUSED, f"{name[0]}: 不正な値があり送りません",
                           f"{name[1]}: bad value for {', '.join(refused)}", self._here(wall_s))]
        self.link.submit(frame)
        self.picture.waiting.append(Waiting(type_, dict(fields), frame["seq"], now_s))
        if type_ == "status_request":
            self._show_next_status = True
        return []

    def acknowledge(self, wall_s: float) -> list[Notice]:
        """The clerk saw the alerts: silence them; conditions that still stand stay listed."""
        p = self.picture
        shown = p.unacknowledged()
        for a in shown:
            a.acknowledged = True
        p.alerts = {c: a for c, a in p.alerts.items() if a.standing}
        if not shown:
            return [Notice(Tone.INFO, "確認する警報はありません", "no alert to acknowledge", self._here(wall_s))]
        return [Notice(Tone.INFO, f"警報を確認しました（{len(shown)}件）", f"{len(shown)} alert(s) acknowledged",
                       self._here(wall_s))]

    # -- the kiosk's frames -----------------------------------------------------------
    def events(self, events: list[Event], now_s: float, wall_s: float) -> list[Notice]:
        out: list[Notice] = []
        if events and self.picture.link in ("open", "silent"):
            if self.picture.link == "silent":
                out.append(Notice(Tone.LINK, "端末の応答が戻りました", "the terminal answers again", self._here(wall_s)))
            self.picture.link = "up"
        for ev in events:
            if isinstance(ev, Received):
                out += self.frame(ev.frame, wall_s)
            elif isinstance(ev, Acked):
                for wt in self.picture.waiting:
                    if wt.seq == ev.seq:
                        wt.acked_s = now_s
        return out

    def tick(self, now_s: float, wall_s: float) -> list[Notice]:
        """Silence and slow reactions: call at least once a second."""
        out: list[Notice] = []
        p = self.picture
        if p.link == "up" and now_s - self.link.last_rx_s > self.silent_after_s:
            p.link = "silent"
            out.append(Notice(Tone.ALERT, f"端末から{self.silent_after_s:g}秒以上応答がありません（ケーブル・端末の電源を確認）",
                              f"no word from the terminal for {self.silent_after_s:g} s (cable? terminal off?)",
                              self._here(wall_s), bell=True))
        wt = p.waiting[0] if p.waiting else None
        if wt is not None and not wt.said_slow:
            name = COMMAND_NAMES.get(wt.type, (wt.type, wt.type))
            if wt.acked_s is None and now_s - wt.sent_s > UNACKED_WAIT_S:
                wt.said_slow = True
                out.append(Notice(Tone.WARNING, f"{name[0]}: 端末に届いていません。送り続けています",
                                  f"{name[1]}: not received by the terminal yet; still sending", self._here(wall_s)))
            elif wt.acked_s is not None and now_s - wt.acked_s > REACTION_WAIT_S:
                wt.said_slow = True
                out.append(Notice(Tone.INFO, f"{name[0]}: 端末は受け取りました。処理を待っています",
                                  f"{name[1]}: received by the terminal; waiting for it to act", self._here(wall_s)))
        return out

    def frame(self, f: dict[str, Any], wall_s: float) -> list[Notice]:
        """One new kiosk frame -> what to tell the clerk (and the picture updated)."""
        t = f.get("type")
        at = self._at(f) or self._here(wall_s)
        handler = _HANDLERS.get(t)  # type: ignore[arg-type]
        reaction = self._reaction(f, at)
        if reaction and reaction[0].tone is Tone.REFUSED:
            return reaction  # the refusal says it all; it is no alert of the terminal
        out = handler(self, f, at) if handler is not None else [
            Notice(Tone.INFO, f"不明な知らせ（{t}）", f"unknown frame {t}", at)]
        return out + reaction  # what the kiosk did, then that it was the clerk's command

    def _reaction(self, f: dict[str, Any], at: str) -> list[Notice]:
        waits = self.picture.waiting
        t = f.get("type")
        if not waits or waits[0].acked_s is None:
            return []  # nothing of ours has reached the kiosk: this frame is no answer to it
        wt = waits[0]
        name = COMMAND_NAMES.get(wt.type, (wt.type, wt.type))
        if t == "alert" and f.get("code") in w.REFUSAL_CODES:
            waits.pop(0)
            ja, en = self._refusal(f, wt)
            return [Notice(Tone.REFUSED, f"受付できません（{name[0]}）: {ja}", f"refused ({name[1]}): {en}", at, bell=True)]
        acted = t in REACTIONS.get(wt.type, ()) or (
            wt.type in ("calibrate", "drift_check") and t == "status" and f.get("state") == "technician")
        if acted:
            waits.pop(0)
            ja, en = ACCEPTED.get(wt.type, ("実行しました", "done"))
            return [Notice(Tone.ACCEPTED, f"受付: {ja}", f"accepted: {en}", at)]
        return []

    def _refusal(self, f: dict[str, Any], wt: Waiting) -> w.Pair:
        code = f.get("code")
        if code == "not_now":
            state = f.get("state") or self.picture.state
            sja, sen = w.word(w.STATES, state)
            hint = ("。やめるには cancel（中止）" if wt.type == "begin" and self.picture.session
                    else "。セッションはありません" if not self.picture.session else "")
            return f"今はできません（端末は「{sja}」）{hint}", f"not now (terminal: {sen})"
        if code == "change_not_supported":
            return "この暗証番号は端末では変更できません（窓口の手続きで）", "this PIN cannot be changed at the terminal"
        if code == "busy":
            return "端末はセッションまたは技術者の作業中です", "a session or procedure is in progress"
        return f"端末が受け付けませんでした（{f.get('message', '')}）", f"the terminal refused it: {f.get('message', '')}"

    # -- per frame type ---------------------------------------------------------------
    def _hello(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        restarted = bool(p.boot) and p.boot != f.get("boot")
        p.boot, p.boot_at, p.terminal = str(f.get("boot", "")), at, str(f.get("terminal", ""))
        p.software, p.hellos = str(f.get("software", "")), p.hellos + 1
        p.link = "up"
        self._show_next_status = True
        if restarted:
            p.state = p.session = None
            return [Notice(Tone.WARNING, f"端末 {p.terminal} が再起動しました", f"terminal {p.terminal} restarted", at,
                           bell=True)]
        return [Notice(Tone.LINK, f"端末 {p.terminal} と接続しました（ソフト {p.software or '?'}）",
                       f"connected to terminal {p.terminal} (software {p.software or '?'})", at)]

    def _status(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        p.state = f.get("state", p.state)
        for name in ("reader", "card", "touch", "calibrated", "session"):
            if name in f:
                setattr(p, name, f[name])
        drift = f.get("drift") or {}
        p.drift_level = drift.get("level", p.drift_level)
        self._cert(f)
        self._clear_gone(f)
        key = {k: v for k, v in f.items() if k not in ("seq", "ts", "rx_errors", "journal_frames", "audit_head")}
        if key == self._last_status_key and not self._show_next_status:
            return []
        self._last_status_key, self._show_next_status = key, False
        sja, sen = p.state_words()
        ja = (f"状態: {sja}（リーダー{w.yes_no(p.reader)} カード{w.yes_no(p.card)} タッチ{w.yes_no(p.touch)} "
              f"校正{w.yes_no(p.calibrated)}）")
        en = (f"status: {sen} (reader {w.yes_no(p.reader)} card {w.yes_no(p.card)} touch {w.yes_no(p.touch)} "
              f"calibrated {w.yes_no(p.calibrated)})")
        if drift:
            ja += f" タッチずれ {drift.get('shift_mm', '?')} mm"
            en += f", drift {drift.get('shift_mm', '?')} mm"
        return [Notice(Tone.INFO, ja, en, at)]

    def _clear_gone(self, f: dict[str, Any]) -> None:
        """Standing alerts the status says are over leave the picture."""
        p = self.picture
        if isinstance(f.get("alerts"), list):
            still = set(f["alerts"])
            gone = [c for c, a in p.alerts.items() if a.standing and c not in still]
        else:  # an older kiosk: the presence flags tell
            fine = {"reader_absent": f.get("reader") is True, "pcscd_down": f.get("reader") is True,
                    "touch_absent": f.get("touch") is True,
                    "drift_warn": (f.get("drift") or {}).get("level") == "ok",
                    "drift_alert": (f.get("drift") or {}).get("level") in ("ok", "warn")}
            for code in ("calibration_missing", "calibration_corrupt", "calibration_mismatch"):
                fine[code] = f.get("calibrated") is True
            gone = [c for c, a in p.alerts.items() if a.standing and fine.get(c)]
        for c in gone:
            del p.alerts[c]

    def _cert(self, f: dict[str, Any]) -> None:
        value = f.get("cert_valid_until")
        if isinstance(value, str) and value:
            self.picture.cert_valid_until = value

    def _cert_words(self) -> w.Pair:
        c = self.picture.cert_valid_until
        return (f"、利用者証明用電子証明書の有効期限 {c}", f", user-auth certificate valid until {c}") if c else ("", "")

    def _session_started(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        p.session, p.pin_type, p.action, p.tries_left, p.last_result = True, f.get("pin_type"), f.get("action"), None, None
        p.cert_valid_until = None
        self._cert(f)
        self._warned.clear()
        op = f" 担当 {f['operator']}" if f.get("operator") else ""
        cja, cen = self._cert_words()
        return [Notice(Tone.INFO, f"セッション開始{op}{cja}", f"session started{' by ' + f['operator'] if op else ''}{cen}", at)]

    def _entry_started(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        p.session, p.pin_type, p.action, p.tries_left = True, f.get("pin_type"), f.get("action"), f.get("tries_left")
        p.state = "last_try_warning" if p.tries_left == 1 else "entry"  # the next status says the same
        self._cert(f)
        self._warned.discard("last_try")
        ja, en = w.pin_name(p.pin_type)
        aja, aen = w.word(w.ACTIONS, p.action)
        t = p.tries_left
        tja, ten = ("", "") if t is None else (f" 残り{t}回", f", {t} tries left")
        cja, cen = self._cert_words() if f.get("cert_valid_until") else ("", "")
        out = [Notice(Tone.INFO, f"入力開始: {ja}（{aja}）{tja}{cja}", f"entry started: {en} ({aen}){ten}{cen}", at)]
        if t == 1:
            out += self._last_try(at)
        return out

    def _last_try(self, at: str) -> list[Notice]:
        if "last_try" in self._warned:
            return []
        self._warned.add("last_try")
        ja, en = w.pin_name(self.picture.pin_type)
        return [Notice(Tone.WARNING, f"注意: {ja}は残り1回です。間違えるとロックされ、窓口での再設定が必要です",
                       f"careful: one try left for the {en}; a wrong entry locks it (reset only at the office)",
                       at, bell=True)]

    def _warning(self, f: dict[str, Any], at: str) -> list[Notice]:
        kind = f.get("kind")
        if kind == "last_try":
            if f.get("pin_type"):
                self.picture.pin_type = f["pin_type"]
            self.picture.tries_left = 1
            return self._last_try(at)
        if kind == "timeout_soon":
            s = f.get("seconds_left")
            left_ja, left_en = (f"あと{s}秒", f"in {s} s") if isinstance(s, int) else ("まもなく", "soon")
            return [Notice(Tone.WARNING, f"注意: 操作がないため{left_ja}で時間切れになり、セッションが終わります",
                           f"careful: no activity; the session times out {left_en}", at, bell=True)]
        return [Notice(Tone.WARNING, f"注意（{kind}）", f"warning ({kind})", at, bell=True)]

    def _pin_result(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        result = f.get("result")
        p.tries_left = f.get("tries_left", p.tries_left)
        p.state = "result"
        ja, en = w.pin_name(f.get("pin_type"))
        rja, ren = w.word(w.RESULTS, result)
        if result == "ok" and f.get("action") == "change":
            rja, ren = "変更完了", "changed"
        t = f.get("tries_left")
        tja, ten = ("", "") if t is None else (f" 残り{t}回", f", {t} tries left")
        p.last_result = (f"{rja}{tja}", f"{ren}{ten}")
        self._warned.discard("last_try")
        tone = Tone.GOOD if result == "ok" else Tone.ALERT if result in ("locked", "error") else Tone.INFO
        todo = {"locked": ("。窓口での再設定手続きが必要です", "; it can only be reset at the office"),
                "error": ("。端末の表示と警報を確認してください", "; check the terminal's screen and alerts")}.get(
                    result, ("", ""))  # type: ignore[arg-type]
        return [Notice(tone, f"結果: {ja} {rja}{tja}{todo[0]}", f"result: {en} {ren}{ten}{todo[1]}", at,
                       bell=tone is Tone.ALERT)]

    def _card_counter(self, f: dict[str, Any], at: str) -> list[Notice]:
        ja, en = w.pin_name(f.get("pin_type"))
        if f.get("card") == "other":
            return [Notice(Tone.WARNING, f"照合中に抜かれたカードの代わりに別のカードが入りました（{ja}の回数は読めません）",
                           f"another card came in after the one pulled during a check ({en}: count not read)", at,
                           bell=True)]
        t = f.get("tries_left")
        return [Notice(Tone.WARNING, f"照合中に抜かれたカードの{ja}: 残り{t if t is not None else '?'}回（1回数えられた可能性）",
                       f"the card pulled during a check: {en}, {t} tries left (a try may have been counted)", at,
                       bell=True)]

    def _session_ended(self, f: dict[str, Any], at: str) -> list[Notice]:
        p = self.picture
        p.session, p.pin_type, p.action, p.tries_left, p.cert_valid_until = False, None, None, None, None
        p.state = "ended"
        self._warned.clear()
        rja, ren = w.word(w.END_REASONS, f.get("reason"))
        head = f" [監査 {f['audit_head'][:12]}]" if isinstance(f.get("audit_head"), str) else ""
        if f.get("cleared") is not True:
            return [Notice(Tone.ALERT, f"セッション終了（理由: {rja}）: 消去が確認できません！{head}",
                           f"session ended ({ren}): NOT CLEARED", at, bell=True)]
        return [Notice(Tone.INFO, f"セッション終了（理由: {rja}）、内容は消去済み{head}",
                       f"session ended ({ren}), cleared", at)]

    def _drift(self, f: dict[str, Any], at: str) -> list[Notice]:
        level = f.get("level")
        self.picture.drift_level = level if isinstance(level, str) else self.picture.drift_level
        lja = {"ok": "正常", "warn": "注意", "alert": "要校正"}.get(level, f"不明（{level}）")  # type: ignore[arg-type]
        mm = f.get("shift_mm", "?")
        tone = {"warn": Tone.WARNING, "alert": Tone.ALERT}.get(level, Tone.INFO)  # type: ignore[arg-type]
        return [Notice(tone, f"タッチずれ {lja}: {mm} mm（{f.get('taps', '?')}回のタッチから）",
                       f"touch drift {level}: {mm} mm over {f.get('taps', '?')} taps", at, bell=tone is Tone.ALERT)]

    def _calibration_result(self, f: dict[str, Any], at: str) -> list[Notice]:
        ok = f.get("ok") is True
        kja, ken = {"calibrate": ("校正", "calibration"), "drift_check": ("ずれ確認", "drift check")}.get(
            f.get("kind"), ("作業", "procedure"))  # type: ignore[arg-type]
        if ok and f.get("kind") == "calibrate":
            self.picture.calibrated = True
        return [Notice(Tone.GOOD if ok else Tone.ALERT,
                       f"{kja}{'合格' if ok else '不合格'}: 平均誤差 {f.get('rms_mm', '?')} mm、最大 {f.get('max_mm', '?')} mm",
                       f"{ken} {'passed' if ok else 'FAILED'}: rms {f.get('rms_mm', '?')} mm, max {f.get('max_mm', '?')} mm",
                       at, bell=not ok)]

    def _alert(self, f: dict[str, Any], at: str) -> list[Notice]:
        code = str(f.get("code", "?"))
        text = w.alert_text(code)
        lost = f" {f['lost']}件" if "lost" in f else ""
        if code not in w.REFUSAL_CODES:
            self.picture.alerts[code] = StandingAlert(code, text.ja + lost, text.en, text.todo_ja, text.todo_en, at,
                                                      f.get("level") == "fault", text.standing)
        resent = "（再送）" if f.get("resent") else ""
        return [Notice(Tone.ALERT, f"警報{resent}: {text.ja}{lost}。{text.todo_ja}",
                       f"ALERT: {text.en}{' (' + str(f['lost']) + ' lost)' if 'lost' in f else ''}; {text.todo_en}",
                       at, bell=True)]


_HANDLERS = {
    "hello": ConsoleClient._hello,
    "status": ConsoleClient._status,
    "session.started": ConsoleClient._session_started,
    "entry.started": ConsoleClient._entry_started,
    "session.warning": ConsoleClient._warning,
    "pin.result": ConsoleClient._pin_result,
    "card.counter": ConsoleClient._card_counter,
    "session.ended": ConsoleClient._session_ended,
    "drift": ConsoleClient._drift,
    "calibration.result": ConsoleClient._calibration_result,
    "alert": ConsoleClient._alert,
}
