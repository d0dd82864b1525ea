"""The line console as a clerk uses it: typed in tmux, against a real ``pin-kiosk run`` over a pty null modem.

The kiosk runs with the simulated card (its PINs from the config's ``sim_pins``) and a FIFO finger;
the console is the real ``pin-kiosk console`` in a terminal, read back with ``tmux capture-pane``.
"""
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from support_clerk import Tmux
from support_kiosk import KioskUnderTest
from support_pty import NullModem
from support_repo import ROOT

pytestmark = pytest.mark.stack
JST = timezone(timedelta(hours=9))


@pytest.fixture
def counter(tmp_path):
    """A kiosk behind a null modem; the test starts the clerk's console on the other end."""
    modem = NullModem(tmp_path)
    made = []

    def start(**kw):
        made.append(KioskUnderTest(tmp_path, card="sim", modem=modem, **kw))
        return made[-1]

    yield modem, start
    for k in made:
        k.finish()
        k.assert_no_pin_anywhere()
    modem.close()


def console_in_tmux(tmp_path, modem, kiosk):
    return Tmux(tmp_path, [sys.executable, "-m", "kiosk", "console", "--port", str(modem.console_path),
                           "--config", str(kiosk.config)], cwd=ROOT)


def jst_now_near(clock: str) -> bool:
    shown = datetime.strptime(clock, "%H:%M:%S").time()
    now = datetime.now(JST)
    return any(abs((datetime.combine(now.date(), shown, JST) - now + timedelta(days=d)).total_seconds()) < 120
               for d in (-1, 0, 1))


def test_a_clerk_runs_a_session_from_the_line_console(tmp_path, counter):
    modem, start = counter
    kiosk = start()
    tmux = console_in_tmux(tmp_path, modem, kiosk)
    try:
        tmux.wait_for("端末 e2e-1 と接続しました")
        assert "状態: 待機中" in tmux.wait_for("状態: 待機中")

        # Japanese help, English after it on the same line
        tmux.type("help")
        screen = tmux.wait_for("(e.g. op=tanaka01)")  # the last line of the help
        assert "暗証番号の入力を始める（照合が既定） / start a PIN entry" in screen
        assert "1 署名=署名用電子証明書の暗証番号" in screen

        # typos are refused with the nearest word; the operator only as op=ID, with its rule
        tmux.type("begin signature chnage")
        assert "照合・変更の指定「chnage」は分かりません。「change」ですか？" in tmux.wait_for("「change」ですか")
        tmux.type("logout now")
        tmux.wait_for("logout の後には何も付けません")
        tmux.type("begin 2 田中")
        screen = tmux.wait_for("担当者は op=ID で指定します")
        assert "半角の英数字と _ . @ - で1〜32文字" in screen
        assert "受付" not in screen  # nothing was sent

        # 受付 only once the kiosk acted: the session started, in JST
        tmux.type("BEGIN 利用者 op=tanaka01")
        screen = tmux.wait_for("受付: 入力を開始しました")
        clock = re.search(r"(\d\d:\d\d:\d\d) 受付: 入力を開始しました", screen).group(1)
        assert jst_now_near(clock), clock
        assert "セッション開始 担当 tanaka01" in screen
        tmux.wait_for("入力開始: 利用者証明用電子証明書の暗証番号（照合） 残り3回")

        # a begin the kiosk does not carry out is refused in Japanese, not accepted
        tmux.type("begin 2")
        screen = tmux.wait_for("受付できません（開始）")
        assert "今はできません（端末は「暗証番号の入力中」）。やめるには cancel（中止）" in screen
        assert screen.count("受付: 入力を開始しました") == 1

        # the clerk has begun typing when the kiosk's lines come in: the typing stays whole
        tmux.type("logo", enter=False)

        # two wrong PINs: the clerk is warned of the last try
        for attempt in (1, 2):
            kiosk.type("0000")
            kiosk.press("enter")
            tmux.wait_for(f"暗証番号が違います 残り{3 - attempt}回")
            kiosk.press("retry", screen="wrong_pin")
        tmux.wait_for("残り1回です。間違えるとロックされ")
        screen = tmux.wait_for("状態: 残り1回の確認中")  # the next heartbeat: the warning frame came before it
        assert screen.count("残り1回です。間違えるとロックされ") == 1  # once, though two frames say so

        prompt = [ln for ln in tmux.screen().rstrip().split("\n") if ln.startswith("コマンド>")][-1]
        assert prompt.rstrip() == "コマンド> logo", prompt
        tmux.type("ut")  # logout
        screen = tmux.wait_for("受付: ログアウトしました")
        assert "セッション終了（理由: ログアウト）、内容は消去済み" in screen
        assert "last_try_warning" not in screen and "not_now" not in screen  # no raw protocol words
        assert not re.search(r"\d\d:\d\d:\d\dZ", screen)  # no UTC stamps
    finally:
        tmux.close()


def test_a_console_started_late_is_told_of_the_alerts_in_force(tmp_path, counter):
    modem, start = counter
    kiosk = start(calibrated=False)  # calibration_missing from the first moment
    # a first console sees the alert, acks everything and leaves
    first = subprocess.run([sys.executable, "-m", "kiosk", "console", "--port", str(modem.console_path),
                            "--config", str(kiosk.config)], input="status\n", capture_output=True,
                           text=True, timeout=60, cwd=ROOT)
    assert "警報: タッチパネルが校正されていません" in first.stdout, first.stdout + first.stderr
    tmux = console_in_tmux(tmp_path, modem, kiosk)
    try:
        screen = tmux.wait_for("警報（再送）: タッチパネルが校正されていません。技術者に校正を依頼してください")
        assert "端末 e2e-1 と接続しました" in screen
        bar = tmux.bottom_line("警報:")
        assert "警報: タッチパネルが校正されていません" in bar and "校正×" in bar, bar
    finally:
        tmux.close()
