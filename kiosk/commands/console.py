"""``pin-kiosk console --port PORT [--json]``: the reference staff console.

Theory of operation
-------------------
The clerk's side of the link, built from the same pieces as the kiosk's
(``kiosk.console_link.LinkEnd`` over ``kiosk.protocol.Link`` in the console
role): it acks every kiosk frame, shows each new one once (duplicates from
retransmissions and journal replays are acked again but not shown), and sends
the clerk's commands as reliable frames, retransmitted until the kiosk acks
them.  It keeps no journal: a console restart may show a frame whose ack was
lost once more.

Plain output is one line per event in Japanese and English; drift warnings,
faults, alerts, a lost port and a kiosk silent for three heartbeats (it sends
one every ``[console] heartbeat_s``) start with ``!!!`` so they stand out.  ``--json`` prints each
new frame as one JSON object per line on stdout instead (status lines and
link changes go to stderr), for scripts.  Commands are read from stdin, one
per line (``help`` lists them).  At end of input the console exits once the
kiosk has acked every command it sent, so ``echo logout | pin-kiosk console
--port ...`` is a one-shot sender.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from typing import Any, TextIO

from kiosk.cli import UsageError, config_from_args
from kiosk.ui.strings import text
from kiosk.vocabulary import PinType

HELP = """commands:
  begin PIN_TYPE [verify|change] [OPERATOR]   start a PIN entry (PIN_TYPE: user_auth, signature,
                                              resident_registry, card_info_input)
  cancel                                      cancel the entry in progress
  logout                                      end the session and wipe it
  status                                      ask for a status report
  drift-check TECH                            start a drift check by technician TECH
  calibrate TECH                              start a calibration by technician TECH
  help | quit"""

#: Give up waiting for acks at end of input after this long.
EOF_ACK_WAIT_S = 15.0


def parse_command(line: str) -> tuple[str, dict[str, Any]] | None:
    """A console command line -> (frame type, fields); None for a blank line.

    Raises ValueError with a one-line message for anything else.
    """
    words = line.split()
    if not words:
        return None
    verb, rest = words[0].lower().replace("_", "-"), words[1:]
    if verb == "begin":
        if not rest:
            raise ValueError("begin needs a PIN type: " + ", ".join(p.value for p in PinType))
        fields: dict[str, Any] = {"pin_type": rest[0]}
        if rest[0] not in {p.value for p in PinType}:
            raise ValueError(f"unknown PIN type {rest[0]!r}: " + ", ".join(p.value for p in PinType))
        rest = rest[1:]
        if rest and rest[0] in ("verify", "change"):
            fields["action"] = rest.pop(0)
        if rest:
            fields["operator"] = rest.pop(0)
        if rest:
            raise ValueError("begin PIN_TYPE [verify|change] [OPERATOR]")
        fields.setdefault("action", "verify")
        return "begin", fields
    if verb in ("cancel", "logout") and not rest:
        return verb, {}
    if verb in ("status", "status-request") and not rest:
        return "status_request", {}
    if verb in ("drift-check", "calibrate"):
        if len(rest) != 1:
            raise ValueError(f"{verb} needs exactly one technician id")
        return verb.replace("-", "_"), {"technician": rest[0]}
    raise ValueError(f"unknown command {words[0]!r} (type help)")


_RESULTS = {
    "ok": ("照合成功", "verified"),
    "wrong": ("暗証番号が違います", "wrong PIN"),
    "locked": ("ロックされました", "LOCKED"),
    "cancelled": ("取り消されました", "cancelled"),
    "timeout": ("時間切れ", "timed out"),
    "card_removed": ("カードが抜かれました", "card removed"),
    "no_card": ("カードがありません", "no card"),
    "error": ("エラー", "error"),
}
_ACTIONS = {"verify": ("照合", "verify"), "change": ("変更", "change")}


def _pin_names(pin_type: Any) -> tuple[str, str]:
    try:
        name = f"name_{PinType(pin_type).value}"
        return text("ja", name), text("en", name)
    except ValueError:
        return str(pin_type), str(pin_type)


def _tries(frame: dict[str, Any]) -> tuple[str, str]:
    t = frame.get("tries_left")
    return ("", "") if t is None else (f" 残り{t}回", f", {t} tries left")


def _yes(v: Any) -> str:
    return {True: "○", False: "×"}.get(v, "?")


def describe(frame: dict[str, Any]) -> tuple[str, bool]:
    """One plain Japanese / English line for a kiosk frame, and whether it is an alert."""
    t = frame.get("type")
    ts = frame.get("ts")
    # the kiosk's own clock (UTC): under line noise a retransmitted line can arrive late
    who = frame.get("terminal", "?") + (f" {ts[11:19]}Z" if isinstance(ts, str) and len(ts) >= 19 else "")
    if t == "hello":
        return f"[{who}] 端末と接続しました / terminal connected (software {frame.get('software', '?')})", False
    if t == "status":
        drift = frame.get("drift") or {}
        text = (f"[{who}] 状態 {frame.get('state', '?')}: リーダー{_yes(frame.get('reader'))} "
                f"カード{_yes(frame.get('card'))} タッチ{_yes(frame.get('touch'))} / status "
                f"{frame.get('state', '?')}: reader {_yes(frame.get('reader'))} card {_yes(frame.get('card'))} "
                f"touch {_yes(frame.get('touch'))}, rx errors {frame.get('rx_errors', 0)}")
        if drift:
            text += f", drift {drift.get('level', '?')} {drift.get('shift_mm', '?')} mm"
        return text, drift.get("level") in ("warn", "alert")
    if t == "session.started":
        return f"[{who}] セッション開始 / session started", False
    if t == "entry.started":
        ja, en = _pin_names(frame.get("pin_type"))
        aja, aen = _ACTIONS.get(frame.get("action"), ("?", "?"))
        tja, ten = _tries(frame)
        return f"[{who}] 入力開始: {ja}（{aja}）{tja} / entry started: {en} ({aen}){ten}", False
    if t == "pin.result":
        ja, en = _pin_names(frame.get("pin_type"))
        rja, ren = _RESULTS.get(frame.get("result"), ("?", str(frame.get("result"))))
        if frame.get("result") == "ok" and frame.get("action") == "change":
            rja, ren = "変更完了", "changed"
        tja, ten = _tries(frame)
        alert = frame.get("result") in ("locked", "error")
        return f"[{who}] 結果: {ja} {rja}{tja} / result: {en} {ren}{ten}", alert
    if t == "session.ended":
        cleared = "消去済み" if frame.get("cleared") is True else "未消去!"
        head = f" [audit {frame['audit_head'][:12]}]" if isinstance(frame.get("audit_head"), str) else ""
        return (f"[{who}] セッション終了（{cleared}）: {frame.get('reason', '?')} / session ended "
                f"({'cleared' if frame.get('cleared') is True else 'NOT CLEARED'}): {frame.get('reason', '?')}"
                f"{head}"), frame.get("cleared") is not True
    if t == "drift":
        level = frame.get("level", "?")
        text = (f"[{who}] タッチずれ {level}: {frame.get('shift_mm', '?')} mm / touch drift {level}: "
                f"{frame.get('shift_mm', '?')} mm over {frame.get('taps', '?')} taps")
        if frame.get("message"):
            text += f" ({frame['message']})"
        return text, level in ("warn", "alert")
    if t == "calibration.result":
        ok = frame.get("ok") is True
        kind = {"calibrate": ("校正", "calibration"), "drift_check": ("ずれ確認", "drift check")}.get(
            frame.get("kind"), ("?", "?"))
        return (f"[{who}] {kind[0]}{'合格' if ok else '不合格'} / {kind[1]} {'passed' if ok else 'FAILED'}: "
                f"rms {frame.get('rms_mm', '?')} mm, max {frame.get('max_mm', '?')} mm"), not ok
    if t == "alert":
        lost = f" ({frame['lost']} lost)" if "lost" in frame else ""
        return f"[{who}] 警報 {frame.get('code', '?')}: {frame.get('message', '')}{lost}", True
    return f"[{who}] ? {json.dumps(frame, ensure_ascii=False)}", False


ALERT_PREFIX = "!!! "


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, metavar="PORT",
                        help="the kiosk's line: device path or pyserial URL (socket://host:port, loop://)")
    parser.add_argument("--json", action="store_true", help="print each new kiosk frame as one JSON object")
    parser.add_argument("--key-file", metavar="FILE",
                        help="the terminal's console key (protocol 2; default: [console] key_file of --config)")


class StaffConsole:
    """The console's end: a LinkEnd in the console role, plus what the clerk sees."""

    def __init__(self, port: str, baudrate: int, retransmit_s: float, reopen_max_s: float,
                 out: TextIO, as_json: bool, err: TextIO, heartbeat_s: float = 5.0,
                 key: bytes | None = None) -> None:
        from drivers.serial_link import SerialPort
        from kiosk.console_link import LinkEnd, new_boot
        from kiosk.protocol import COMMAND_WINDOW_FRAMES, SILENT_HEARTBEATS, Link, Role

        self.end = LinkEnd(Link(Role.CONSOLE, new_boot(), retransmit_s=retransmit_s, window=COMMAND_WINDOW_FRAMES,
                                key=key),
                           SerialPort(port, baudrate, reopen_max_s))
        self.out, self.err, self.as_json = out, err, as_json
        #: The kiosk sends a status every heartbeat_s: this long without a frame means trouble.
        self.silent_after_s = SILENT_HEARTBEATS * heartbeat_s
        self._silent = False
        self._last_status: dict[str, Any] | None = None
        self._show_next_status = True
        self._was_open = False

    def say(self, text: str, alert: bool = False) -> None:
        stream = self.err if self.as_json else self.out
        print((ALERT_PREFIX if alert else "") + text, file=stream, flush=True)

    def command(self, line: str, now_s: float) -> None:
        try:
            parsed = parse_command(line)
        except ValueError as exc:
            self.say(f"? {exc}")
            return
        if parsed is None:
            return
        type_, fields = parsed
        try:
            frame, refused = self.end.link.build(type_, fields)
        except ValueError as exc:
            self.say(f"? {exc}")
            return
        if refused:
            self.say(f"? bad value for {', '.join(refused)}")
            return
        if type_ == "status_request":
            self._show_next_status = True
        self.end.link.submit(frame)
        self.end.flush(now_s)

    def step(self, now_s: float) -> None:
        """Open if due, read, show, flush."""
        from kiosk.protocol import Acked, Received

        is_open = self.end.open_if_due(now_s)
        if is_open and not self._was_open:
            self._was_open = True
            self.say("--- 回線接続 / link open")
        events = self.end.receive(now_s)
        if events and self._silent:
            self._silent = False
            self.say("--- 端末の応答が戻りました / the terminal answers again")
        for ev in events:
            if isinstance(ev, Received):
                self.show(ev.frame)
            elif isinstance(ev, Acked) and not self.as_json:
                self.say(f"    (受付 / accepted #{ev.seq})")
        if self._was_open and not self.end.port.is_open:
            self._was_open = self._silent = False
            self.say("回線切断: 再接続を試みています / link down: reopening the port", True)
        elif (self.end.port.is_open and not self._silent
              and now_s - self.end.link.last_rx_s > self.silent_after_s):
            self._silent = True
            self.say(f"端末から{self.silent_after_s:g}秒以上応答がありません / no word from the terminal "
                     f"for {self.silent_after_s:g} s (cable? kiosk off?)", True)
        self.end.flush(now_s)

    def show(self, frame: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps(frame, ensure_ascii=False), file=self.out, flush=True)
        if frame.get("type") == "status":
            key = {k: v for k, v in frame.items() if k not in ("seq", "ts", "rx_errors", "journal_frames")}
            changed = key != self._last_status
            self._last_status = key
            text, alert = describe(frame)
            if (changed or self._show_next_status or alert) and (not self.as_json or alert):
                self._show_next_status = False
                self.say(text, alert)
            return
        if not self.as_json:
            text, alert = describe(frame)
            self.say(text, alert)
        elif describe(frame)[1]:
            self.say(describe(frame)[0], True)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if not args.port.strip():
        raise UsageError("--port must name a device path or URL")
    c = cfg.console
    from kiosk.console_key import KeyFileError, load_key
    try:
        key = load_key(args.key_file or c.key_file)
        if key is None and args.key_file:
            raise KeyFileError(f"{args.key_file}: no such key file")
    except KeyFileError as exc:
        print(f"pin-kiosk console: {exc}", file=sys.stderr)
        return 2
    console = StaffConsole(args.port, c.baudrate, c.retransmit_s, c.reopen_max_s,
                           sys.stdout, args.json, sys.stderr, heartbeat_s=c.heartbeat_s, key=key)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    stdin_fd: int | None = sys.stdin.fileno() if sys.stdin is not None else None
    stdin_buf = b""
    eof_at: float | None = None
    if not args.json:
        console.say("pin-kiosk console: 'help' でコマンド一覧 / type 'help' for commands")
    try:
        while not stop:
            now = time.monotonic()
            console.step(now)
            if eof_at is not None and (console.end.link.pending == 0 or now - eof_at > EOF_ACK_WAIT_S):
                if console.end.link.pending:
                    console.say(f"{console.end.link.pending} commands not acknowledged by the kiosk", True)
                    return 1
                return 0
            deadline = console.end.next_deadline_s(now)
            timeout = 0.5 if deadline is None else min(0.5, max(0.0, deadline - now))
            fds = [fd for fd in (console.end.fileno(), stdin_fd) if fd is not None]
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            if stdin_fd is not None and stdin_fd in ready:
                chunk = os.read(stdin_fd, 4096)
                if not chunk:
                    stdin_fd, eof_at = None, now
                    chunk = b"\n"
                stdin_buf += chunk
                *lines, stdin_buf = stdin_buf.split(b"\n")
                for raw in lines:
                    line = raw.decode("utf-8", "replace").strip()
                    if line in ("quit", "exit"):
                        return 0
                    if line == "help":
                        console.say(HELP)
                        continue
                    console.command(line, time.monotonic())
    except KeyboardInterrupt:
        return 0
    finally:
        console.end.close()
    return 0
