"""The line console: a prompt that incoming lines never break, and a standing status line.

Theory of operation
-------------------
prompt_toolkit (it runs in the Windows console as well as any terminal) keeps
the clerk's half-typed line intact while notices are printed above it
(``patch_stdout``), draws the status line at the bottom (``bottom_toolbar``:
state, reader, card, touch, calibration, current alerts) and rings the
terminal's bell.  This module only draws: the tone of each notice and whether
it rings come from the client core, and the colours below are all it adds.
"""
from __future__ import annotations

import asyncio

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style

from kiosk.console.client import Notice, Tone
from kiosk.console.station import POLL_S, Station

#: Tone -> prompt_toolkit style.
STYLE = {
    "info": "", "good": "ansigreen bold", "accepted": "ansigreen", "refused": "ansiyellow",
    "warning": "ansiyellow bold", "alert": "ansiwhite bg:ansired bold", "link": "ansicyan", "help": "",
    "time": "ansibrightblack",
    "bottom-toolbar": "noreverse bg:#303030 #ffffff", "bar.state": "bold", "bar.devices": "",
    "bar.alerts": "bg:ansired #ffffff bold", "bar.calm": "ansigreen",
}


def _formatted(n: Notice) -> list[tuple[str, str]]:
    parts: list[tuple[str, str]] = []
    if n.at:
        parts.append(("class:time", n.at + " "))
    parts.append((f"class:{n.tone.value}", f"{n.ja} / {n.en}" if n.en else n.ja))
    return parts


async def _run(station: Station) -> int:
    style = Style.from_dict(STYLE)
    picture = station.client.picture

    def toolbar() -> FormattedText:
        bits: list[tuple[str, str]] = []
        for kind, text in picture.status_parts():
            bits += [(f"class:bar.{kind}", f" {text} "), ("", "|")]
        return FormattedText(bits[:-1])

    session: PromptSession[str] = PromptSession(bottom_toolbar=toolbar, style=style, refresh_interval=0.5)

    def show(notices: list[Notice]) -> None:
        ring = False
        for n in notices:
            print_formatted_text(FormattedText(_formatted(n)), style=style)
            ring = ring or n.bell
        if ring and session.app.is_running:
            session.app.output.bell()
            session.app.output.flush()
        if notices and session.app.is_running:
            session.app.invalidate()  # the status line follows at once

    async def pump() -> None:
        while True:
            show(station.step())
            await asyncio.sleep(POLL_S)

    with patch_stdout(raw=True):
        _log_above_the_prompt()
        show([Notice(Tone.HELP, "pin-kiosk コンソール: help（ヘルプ）でコマンド一覧、quit（終了）で閉じます",
                     "pin-kiosk console: type help for commands, quit to close")])
        task = asyncio.ensure_future(pump())
        try:
            while True:
                try:
                    line = await session.prompt_async("コマンド> ")
                except KeyboardInterrupt:
                    continue  # Ctrl-C clears the line; quit or Ctrl-D closes
                notices, parsed = station.typed(line)
                show(notices)
                if parsed is not None and parsed.action == "quit":
                    return 0
        except EOFError:
            return 0
        finally:
            task.cancel()
            station.close()


def _log_above_the_prompt() -> None:
    """Log records go through the patched stderr too (above the prompt), and only warnings and worse."""
    import logging
    import sys
    for handler in logging.getLogger("pin_kiosk").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
            handler.setLevel(max(handler.level, logging.WARNING))


def run_line(station: Station) -> int:
    """The interactive console until quit, Ctrl-D or SIGTERM."""
    return asyncio.run(_run(station))
