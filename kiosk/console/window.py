"""The clerk's window (Tk): the terminal's state in large Japanese, a button per PIN and action.

Theory of operation
-------------------
Tk ships with Python on Windows, so the window needs nothing installed.  It
draws the client core's ``Picture`` and ``Notice`` values and turns button
presses into the same commands the line console sends (``Station.send``);
every decision (what counts as accepted, what is an alert, what rings) is the
core's.  An alert shows as a red banner and rings every ``RING_EVERY_MS`` until
the clerk presses 確認; the link state and the kiosk's boot are always on top.

``Tk.after`` drives the station every ``POLL_S``: one thread, no locks.
``--layout-file`` (hidden) writes where each button is on the screen, so an
automated test can click them (xdotool under Xvfb).
"""
from __future__ import annotations

import json
import tkinter as tk
from pathlib import Path
from tkinter import font as tkfont

from kiosk.console.client import Notice, Tone
from kiosk.console.commands import OPERATOR_RULE_JA
from kiosk.console.station import POLL_S, Station
from kiosk.console.wording import PIN_SHORT, pin_name
from kiosk.protocol import OPERATOR

RING_EVERY_MS = 2500
LOG_LINES = 200
#: Japanese-capable families, preferred first (Windows, then Linux).
FONT_FAMILIES = ("Yu Gothic UI", "Meiryo UI", "Meiryo", "MS Gothic", "Noto Sans CJK JP", "Noto Sans JP",
                 "IPAGothic", "TakaoGothic")
TONE_COLOURS = {
    Tone.INFO: "#202020", Tone.GOOD: "#006400", Tone.ACCEPTED: "#006400", Tone.REFUSED: "#9a5b00",
    Tone.WARNING: "#b35c00", Tone.ALERT: "#b00000", Tone.LINK: "#004f8a", Tone.HELP: "#404040",
}
LINK_WORDS = {"down": ("回線: 切断", "#b00000"), "open": ("回線: 応答待ち", "#9a5b00"),
              "up": ("回線: 接続中", "#006400"), "silent": ("回線: 応答なし", "#b00000")}


class ClerkWindow:
    """One Tk root showing one station."""

    def __init__(self, root: tk.Tk, station: Station, layout_file: str | None = None) -> None:
        self.root, self.station, self.layout_file = root, station, layout_file
        self.picture = station.client.picture
        family = next((f for f in FONT_FAMILIES if f in set(tkfont.families(root))), "TkDefaultFont")
        self.font = {size: tkfont.Font(root, family=family, size=size) for size in (11, 14, 18, 40)}
        self.bold = tkfont.Font(root, family=family, size=16, weight="bold")
        root.title("pin-kiosk 窓口コンソール / clerk's console")
        root.geometry("1024x720+0+0")
        root.configure(bg="white")
        self.buttons: dict[str, tk.Button] = {}
        self._ringing = False
        self._build()

    # -- layout ------------------------------------------------------------------
    def _build(self) -> None:
        r, f = self.root, self.font
        top = tk.Frame(r, bg="#eeeeee")
        top.pack(fill="x")
        self.link_label = tk.Label(top, font=f[14], bg="#eeeeee", anchor="w")
        self.link_label.pack(side="left", padx=10, pady=6)
        self.boot_label = tk.Label(top, font=f[11], bg="#eeeeee", fg="#404040", anchor="e")
        self.boot_label.pack(side="right", padx=10)

        # the banner's room is kept when it is empty: no button moves under the clerk's pointer
        self.banner = tk.Frame(r, bg="white", height=86)
        self.banner.pack(fill="x")
        self.banner.pack_propagate(False)
        self.banner_text = tk.Label(self.banner, font=self.bold, bg="white", fg="white", justify="left",
                                    anchor="w", wraplength=820)
        self.banner_text.pack(side="left", fill="x", expand=True, padx=12, pady=8)
        self.ack_button = tk.Button(self.banner, text="確認\nacknowledge", font=f[14], command=self._acknowledge)
        self.buttons["ack"] = self.ack_button

        self.body = tk.Frame(r, bg="white")
        self.body.pack(fill="both", expand=True)
        self.state_label = tk.Label(self.body, font=f[40], bg="white", fg="#101010")
        self.state_label.pack(pady=(18, 0))
        self.state_en = tk.Label(self.body, font=f[14], bg="white", fg="#505050")
        self.state_en.pack()
        self.detail = tk.Label(self.body, font=f[18], bg="white", fg="#202020")
        self.detail.pack(pady=(6, 0))
        self.devices = tk.Label(self.body, font=f[14], bg="white", fg="#303030")
        self.devices.pack(pady=(4, 10))

        grid = tk.Frame(self.body, bg="white")
        grid.pack()
        for row, (pin_type, (number, short)) in enumerate(PIN_SHORT.items()):
            ja, en = pin_name(pin_type)
            tk.Label(grid, text=f"{number} {ja}", font=f[14], bg="white", anchor="w").grid(
                row=row, column=0, sticky="w", padx=(0, 12), pady=3)
            for col, (action, word) in enumerate((("verify", "照合"), ("change", "変更")), start=1):
                b = tk.Button(grid, text=f"{short} {word}", width=12, font=f[14],
                              command=lambda t=pin_type.value, a=action: self._begin(t, a))
                b.grid(row=row, column=col, padx=4, pady=3)
                self.buttons[f"{pin_type.value}.{action}"] = b

        side = tk.Frame(self.body, bg="white")
        side.pack(pady=8)
        tk.Label(side, text="担当者ID（任意）", font=f[14], bg="white").pack(side="left")
        self.operator = tk.Entry(side, width=14, font=f[14])
        self.operator.pack(side="left", padx=(4, 16))
        for name, text, command in (("logout", "ログアウト\nlogout", lambda: self._send("logout", {})),
                                    ("cancel", "中止\ncancel", lambda: self._send("cancel", {})),
                                    ("status", "状態を聞く\nstatus", lambda: self._send("status_request", {}))):
            b = tk.Button(side, text=text, width=11, font=f[14], command=command)
            b.pack(side="left", padx=4)
            self.buttons[name] = b

        self.log = tk.Text(r, height=8, font=f[11], bg="#fafafa", state="disabled", wrap="none")
        self.log.pack(fill="x", side="bottom")
        for tone, colour in TONE_COLOURS.items():
            self.log.tag_configure(tone.value, foreground=colour)
        self.refresh()

    # -- actions -------------------------------------------------------------------
    def _begin(self, pin_type: str, action: str) -> None:
        fields = {"pin_type": pin_type, "action": action}
        op = self.operator.get().strip()
        if op:
            if not OPERATOR(op):
                self.show([Notice(Tone.REFUSED, f"入力エラー: {OPERATOR_RULE_JA}", "operator id not allowed")])
                return
            fields["operator"] = op
        self._send("begin", fields)

    def _send(self, type_: str, fields: dict) -> None:
        self.show(self.station.send(type_, fields))

    def _acknowledge(self) -> None:
        self.show(self.station.acknowledge())

    # -- drawing -------------------------------------------------------------------
    def show(self, notices: list[Notice]) -> None:
        if not notices:
            return
        self.log.configure(state="normal")
        for n in notices:
            self.log.insert("end", n.line() + "\n", n.tone.value)
        excess = int(self.log.index("end-1c").split(".")[0]) - LOG_LINES
        if excess > 0:
            self.log.delete("1.0", f"{excess + 1}.0")
        self.log.see("end")
        self.log.configure(state="disabled")
        if any(n.bell for n in notices):
            self.root.bell()
        self.refresh()

    def refresh(self) -> None:
        p = self.picture
        text, colour = LINK_WORDS.get(p.link, (p.link, "#000000"))
        self.link_label.configure(text=f"{text}  端末 {p.terminal or '?'}", fg=colour)
        self.boot_label.configure(text=(f"端末の起動: {p.boot_at}（{p.boot[:8]}）ソフト {p.software}" if p.boot
                                        else "端末の起動: まだ連絡なし"))
        ja, en = p.state_words()
        self.state_label.configure(text=ja, fg="#b00000" if p.link in ("down", "silent") else "#101010")
        self.state_en.configure(text=en)
        detail = ""
        if p.session and p.pin_type:
            ja_name, _ = pin_name(p.pin_type)
            detail = ja_name + (f"　残り{p.tries_left}回" if p.tries_left is not None else "")
        elif p.last_result:
            detail = f"前回の結果: {p.last_result[0]}"
        if p.cert_valid_until:
            detail += f"　証明書有効期限 {p.cert_valid_until}"
        self.detail.configure(text=detail, fg="#b00000" if p.tries_left == 1 and p.session else "#202020")
        parts = dict(p.status_parts())
        self.devices.configure(text=parts.get("devices", ""))
        pending = p.unacknowledged()
        if pending:
            lines = [f"警報 {a.at}: {a.ja}。{a.todo_ja}" for a in pending[-2:]]
            more = f"（ほか{len(pending) - 2}件）" if len(pending) > 2 else ""
            self.banner.configure(bg="#c00000")
            self.banner_text.configure(text="\n".join(lines) + more, bg="#c00000")
            if not self.ack_button.winfo_ismapped():
                self.ack_button.pack(side="right", padx=10, pady=6, before=self.banner_text)
            if not self._ringing:
                self._ringing = True
                self.root.after(RING_EVERY_MS, self._ring)
        else:
            self.banner.configure(bg="white")
            self.banner_text.configure(text="", bg="white")
            if self.ack_button.winfo_ismapped():
                self.ack_button.pack_forget()

    def _ring(self) -> None:
        if self.picture.unacknowledged():
            self.root.bell()
            self.root.after(RING_EVERY_MS, self._ring)
        else:
            self._ringing = False

    def poll(self) -> None:
        self.show(self.station.step())
        self.refresh()
        if self.layout_file:
            self.root.update_idletasks()  # what the file says is what is drawn
            self._write_layout()
        self.root.after(int(POLL_S * 1000), self.poll)

    def _write_layout(self) -> None:
        """Where each button is (screen px) and what the big labels say, for automated tests."""
        spots = {}
        for name, b in self.buttons.items():
            if b.winfo_ismapped():
                spots[name] = [b.winfo_rootx() + b.winfo_width() // 2, b.winfo_rooty() + b.winfo_height() // 2]
        shown = {name: str(label.cget("text")) for name, label in (
            ("link", self.link_label), ("state", self.state_label), ("detail", self.detail),
            ("banner", self.banner_text), ("boot", self.boot_label))}
        text = json.dumps({"buttons": spots, "shown": shown}, sort_keys=True, ensure_ascii=False)
        path = Path(self.layout_file or "")
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)


def run_window(station: Station, layout_file: str | None = None) -> int:
    """The window until it is closed."""
    root = tk.Tk()
    window = ClerkWindow(root, station, layout_file)
    root.protocol("WM_DELETE_WINDOW", root.destroy)
    root.after(0, window.poll)
    try:
        root.mainloop()
    finally:
        station.close()
    return 0
