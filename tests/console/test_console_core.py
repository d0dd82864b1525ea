"""The clerk's console core, in-process: strict commands, Japanese first, 受付 only when the kiosk acted,
standing alerts, warnings, local time.  The kiosk side is the real protocol Link in the kiosk role."""
import pytest

from kiosk import frames
from kiosk.console.client import ConsoleClient, Tone
from kiosk.console.commands import CommandError, parse
from kiosk.console.wording import JST, local_clock, zone_named
from kiosk.protocol import Link, Role

WALL = 1_796_000_000.0  # a Unix time; JST = UTC + 9


@pytest.mark.parametrize("line,frame_type,fields", [
    ("begin user_auth", "begin", {"pin_type": "user_auth", "action": "verify"}),
    ("BEGIN USER_AUTH", "begin", {"pin_type": "user_auth", "action": "verify"}),
    ("begin 1 change op=clerk-7", "begin", {"pin_type": "signature", "action": "change", "operator": "clerk-7"}),
    ("begin 署名 変更 op=T.1", "begin", {"pin_type": "signature", "action": "change", "operator": "T.1"}),
    ("begin 2", "begin", {"pin_type": "user_auth", "action": "verify"}),
    ("照合 住基", "begin", {"pin_type": "resident_registry", "action": "verify"}),
    ("change 券面 op=a@b", "begin", {"pin_type": "card_info_input", "action": "change", "operator": "a@b"}),
    ("begin Card-Info-Input op=x", "begin", {"pin_type": "card_info_input", "action": "verify", "operator": "x"}),
    ("ＢＥＧＩＮ　４", "begin", {"pin_type": "card_info_input", "action": "verify"}),
    ("cancel", "cancel", {}), ("中止", "cancel", {}), ("logout", "logout", {}), ("ログアウト", "logout", {}),
    ("status", "status_request", {}), ("状態", "status_request", {}),
    ("drift-check op=T01", "drift_check", {"technician": "T01"}),
    ("校正 op=T01", "calibrate", {"technician": "T01"}),
])
def test_commands_short_forms_and_case(line, frame_type, fields):
    p = parse(line)
    assert (p.action, p.frame_type, p.fields) == ("send", frame_type, fields)


@pytest.mark.parametrize("line,ja,en", [
    ("begin signature chnage", "「change」ですか", "did you mean 'change'"),
    ("logout now", "logout の後には何も付けません", "takes nothing after it"),
    ("begin 2 田中", "op=ID で指定します", "op=ID"),
    ("begin 2 op=田中", "半角の英数字", "1-32 of A-Z a-z 0-9"),
    ("lgout", "「logout」ですか", "did you mean 'logout'"),
    ("begn 2", "「begin」ですか", "did you mean 'begin'"),
    ("begin 5", "暗証番号の種類「5」", "unknown PIN type"),
    ("begin sgnature", "「signature」ですか", "did you mean 'signature'"),
    ("begin 2 op=a op=b", "二度", "twice"),
    ("calibrate T01", "op=ID", "op=ID"),
    ("begin", "1 署名", "needs a PIN type"),
])
def test_bad_lines_are_refused_with_the_rule_or_the_nearest_word(line, ja, en):
    with pytest.raises(CommandError) as exc:
        parse(line)
    assert ja in exc.value.ja and en in exc.value.en
    assert "\n" not in exc.value.ja + exc.value.en


def test_times_are_local_jst_by_default_and_zones_are_checked():
    assert local_clock("2026-12-03T12:28:53.120Z", zone_named("Asia/Tokyo")) == "21:28:53"
    assert local_clock("2026-12-03T12:28:53.120Z", zone_named("+05:30")) == "17:58:53"
    assert local_clock("2026-12-03T12:28:53Z", zone_named("UTC")) == "12:28:53"
    assert local_clock("garbage", JST) == "" and local_clock(None, JST) == ""
    with pytest.raises(ValueError):
        zone_named("Mars/Olympus")


class Pair:
    """A kiosk Link and the console core joined in memory."""

    def __init__(self):
        self.kiosk = Link(Role.KIOSK, "k1", terminal="counter-1")
        self.client = ConsoleClient("c1", JST)
        self.kiosk.opened(0.0, self.kiosk.build("hello", {"version": 1, "software": "0.1.0"}, "2026-12-03T00:00:00Z")[0])
        self.client.link.opened(0.0)
        self.client.port_opened(WALL)
        self.notices = []
        self.commands = []
        self.now = 0.0
        self.pump()

    def pump(self):
        for _ in range(4):
            self.now += 0.01
            for line in self.kiosk.poll(self.now):
                for f in frames.FrameDecoder().feed(line):
                    self.notices += self.client.events(self.client.link.receive(f, self.now), self.now, WALL)
            for line in self.client.link.poll(self.now):
                for f in frames.FrameDecoder().feed(line):
                    for ev in self.kiosk.receive(f, self.now):
                        if type(ev).__name__ == "Command":
                            self.commands.append(ev)

    def kiosk_says(self, type_, **fields):
        self.kiosk.submit(self.kiosk.build(type_, fields, "2026-12-03T03:04:05.000Z")[0])
        self.pump()

    def clerk_types(self, line):
        notices, _ = self.client.typed(line, self.now, WALL)
        self.notices += notices
        self.pump()
        return notices

    def tones(self):
        return [(n.tone, n.ja) for n in self.notices]


def test_accepted_only_when_the_kiosk_acted_and_refusals_in_japanese():
    p = Pair()
    assert p.clerk_types("begin 2 op=tanaka") == []
    assert p.commands and p.commands[-1].fields["operator"] == "tanaka"  # acked by the kiosk...
    assert not [n for n in p.notices if n.tone is Tone.ACCEPTED]  # ...but it has not acted yet
    p.kiosk_says("session.started", pin_type="user_auth", action="verify", operator="tanaka")
    accepted = [n for n in p.notices if n.tone is Tone.ACCEPTED]
    assert len(accepted) == 1 and accepted[0].ja == "受付: 入力を開始しました" and accepted[0].at == "12:04:05"
    p.kiosk_says("entry.started", pin_type="user_auth", action="verify", tries_left=3)
    p.kiosk_says("status", state="entry", session=True, reader=True, card=True, touch=True, calibrated=True)
    p.notices.clear()
    p.clerk_types("begin 2")
    p.kiosk_says("alert", code="not_now", message="begin ignored while entry", state="entry")
    refused = [n for n in p.notices if n.tone is Tone.REFUSED]
    assert len(refused) == 1 and "受付できません（開始）" in refused[0].ja and "暗証番号の入力中" in refused[0].ja
    assert "cancel（中止）" in refused[0].ja and refused[0].bell
    assert not [n for n in p.notices if n.tone is Tone.ACCEPTED or n.tone is Tone.ALERT]
    assert "not_now" not in p.client.picture.alerts
    p.clerk_types("logout")
    p.kiosk_says("pin.result", pin_type="user_auth", action="verify", result="cancelled", tries_left=3)
    p.kiosk_says("session.ended", reason="logout", cleared=True)
    assert [n.ja for n in p.notices if n.tone is Tone.ACCEPTED][-1] == "受付: ログアウトしました"
    assert any("セッション終了（理由: ログアウト）、内容は消去済み" in n.ja for n in p.notices)


def test_no_reaction_and_no_ack_are_said_once():
    p = Pair()
    p.clerk_types("status")
    assert p.client.tick(p.now + 1.0, WALL) == []
    slow = p.client.tick(p.now + 10.0, WALL)
    assert len(slow) == 1 and "端末は受け取りました" in slow[0].ja
    assert p.client.tick(p.now + 12.0, WALL) == []
    silent = p.client.tick(p.now + 16.0, WALL)  # 3 heartbeats without a frame
    assert [n.tone for n in silent] == [Tone.ALERT] and silent[0].bell and p.client.picture.link == "silent"


def test_standing_alerts_stay_until_the_status_says_they_are_gone_and_bell():
    p = Pair()
    p.kiosk_says("alert", code="reader_absent", level="fault", message="card reader disconnected", resent=True)
    alert = [n for n in p.notices if n.tone is Tone.ALERT][-1]
    assert alert.bell and alert.ja.startswith("警報（再送）: カードリーダーが外れています") and "USB" in alert.ja
    assert "reader_absent" not in alert.ja  # no raw codes for the clerk
    assert "警報: カードリーダーが外れています" in p.client.picture.status_line()
    p.client.acknowledge(WALL)
    assert p.client.picture.unacknowledged() == [] and "reader_absent" in p.client.picture.alerts
    p.kiosk_says("status", state="idle", reader=True, alerts=[])
    assert p.client.picture.alerts == {} and "警報なし" in p.client.picture.status_line()


def test_last_try_and_timeout_warnings_ring_once():
    p = Pair()
    p.kiosk_says("session.started", pin_type="user_auth", action="verify")
    p.kiosk_says("entry.started", pin_type="user_auth", action="verify", tries_left=1)
    p.kiosk_says("session.warning", kind="last_try", pin_type="user_auth")
    warns = [n for n in p.notices if n.tone is Tone.WARNING]
    assert len(warns) == 1 and warns[0].bell and "残り1回" in warns[0].ja and "one try left" in warns[0].en
    p.kiosk_says("session.warning", kind="timeout_soon", seconds_left=10)
    assert "あと10秒で時間切れ" in [n for n in p.notices if n.tone is Tone.WARNING][-1].ja


def test_the_status_line_has_every_part_in_japanese():
    p = Pair()
    p.kiosk_says("status", state="last_try_warning", reader=True, card=True, touch=False, calibrated=False,
                 session=True)
    line = p.client.picture.status_line()
    for part in ("状態: 残り1回の確認中", "リーダー○", "カード○", "タッチ×", "校正×", "警報なし"):
        assert part in line
    assert "last_try_warning" not in line
    # the card's user-authentication certificate end date (issue 17), when the kiosk sends it
    p.kiosk_says("session.started", pin_type="user_auth", action="verify")
    p.kiosk_says("entry.started", pin_type="user_auth", action="verify", tries_left=3, cert_valid_until="2029-03-31")
    assert "利用者証明用電子証明書の有効期限 2029-03-31" in p.notices[-1].ja
    assert "証明書有効期限 2029-03-31" in p.client.picture.status_line()


def test_help_is_japanese_first_with_english_after():
    notices = Pair().client.help()
    text = "\n".join(n.line() for n in notices)
    assert "コマンド一覧" in text and "暗証番号の入力を始める" in text and " / start a PIN entry" in text
    assert "1 署名=署名用電子証明書の暗証番号" in text and "op=ID" in text


@pytest.mark.stack  # a fresh interpreter, so nothing imported by other tests counts
def test_the_console_part_imports_no_terminal_driver():
    """The staff PC has no pygame, pyscard or evdev: the console's modules never import them."""
    import subprocess
    import sys
    code = ("import sys, kiosk.console.client, kiosk.console.station, kiosk.console.plain, kiosk.console.line, "
            "kiosk.console.main, kiosk.console.window, kiosk.commands.console; "
            "import prompt_toolkit, serial; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('pygame', 'smartcard', 'evdev')]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
