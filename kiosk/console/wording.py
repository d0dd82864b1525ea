"""What the clerk reads: Japanese first, English after it, local time.

Theory of operation
-------------------
Every word the console shows comes from the tables here, as a ``(ja, en)``
pair; a face prints ``ja / en`` on one line (the line console) or the Japanese
large and the English small (the window).  Protocol words (states, results,
reasons, alert codes) never reach the clerk raw: an unknown one is shown inside
a Japanese sentence that says it is unknown, so a newer kiosk still reads
sensibly.

Times: the kiosk stamps its frames in UTC (``ts``); the clerk works in local
time, Japan Standard Time unless ``[console] time_zone`` says otherwise.  Japan
has kept UTC+9 without daylight saving since 1951, so when the time-zone
database is missing (a Windows PC without the ``tzdata`` package) Asia/Tokyo
is still exact as a fixed offset.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from kiosk.pin import PinType

DEFAULT_TIME_ZONE = "Asia/Tokyo"
JST = timezone(timedelta(hours=9), "JST")
_OFFSET_RE = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?")

Pair = tuple[str, str]


def zone_named(name: str) -> tzinfo:
    """The time zone ``name`` (an IANA name such as Asia/Tokyo, ``UTC``, or ``+09:00``).

    Raises ValueError with the reason for a name that is neither.
    """
    if name in ("UTC", "Z"):
        return timezone.utc
    m = _OFFSET_RE.fullmatch(name)
    if m:
        hours, minutes = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or minutes > 59:
            raise ValueError(f"offset {name!r} out of range")
        sign = -1 if m.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=hours, minutes=minutes), name)
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, ImportError):
        if name in ("Asia/Tokyo", "Japan", "JST"):
            return JST
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Tokyo, or +09:00)") from None


def local_clock(ts: str | None, zone: tzinfo) -> str:
    """``HH:MM:SS`` in ``zone`` for a kiosk timestamp (ISO 8601, UTC); '' if there is none."""
    if not isinstance(ts, str) or not ts:
        return ""
    try:
        when = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(zone).strftime("%H:%M:%S")


def wall_clock(wall_s: float, zone: tzinfo) -> str:
    """``HH:MM:SS`` in ``zone`` for a Unix time (the console's own events)."""
    return datetime.fromtimestamp(wall_s, zone).strftime("%H:%M:%S")


def zone_label(zone: tzinfo) -> str:
    """A short name for the zone the times are in (JST, UTC, +05:30)."""
    name = datetime.now(zone).tzname() or str(zone)
    return name


# -- the four PINs -------------------------------------------------------------------

#: The clerk's short forms: number and Japanese short name, in the order of the counter's forms.
PIN_SHORT: dict[PinType, tuple[str, str]] = {
    PinType.SIGNATURE: ("1", "署名"),
    PinType.USER_AUTH: ("2", "利用者"),
    PinType.RESIDENT_REGISTRY: ("3", "住基"),
    PinType.CARD_INFO_INPUT: ("4", "券面"),
}


def pin_name(pin_type: object) -> Pair:
    """(Japanese, English) name of a PIN type; an unknown one says so."""
    from kiosk.ui.strings import text  # the citizen's screen names them so: one place for the names
    try:
        key = f"name_{PinType(pin_type).value}"
    except ValueError:
        return f"不明な暗証番号（{pin_type}）", f"unknown PIN type {pin_type}"
    return text("ja", key), text("en", key)


def pin_short(pin_type: object) -> str:
    """``1 署名`` for the signature PIN: what the clerk can type for it."""
    try:
        number, short = PIN_SHORT[PinType(pin_type)]
    except ValueError:
        return str(pin_type)
    return f"{number} {short}"


ACTIONS: dict[str, Pair] = {"verify": ("照合", "verify"), "change": ("変更", "change")}

# -- the terminal's states, results, reasons -----------------------------------------

STATES: dict[str, Pair] = {
    "idle": ("待機中", "idle"),
    "card_check": ("カード確認中", "checking the card"),
    "last_try_warning": ("残り1回の確認中", "last-try warning shown"),
    "entry": ("暗証番号の入力中", "PIN entry"),
    "verifying": ("カードで照合中", "card checking the PIN"),
    "result": ("結果を表示中", "showing the result"),
    "ended": ("終了画面", "session-ended screen"),
    "technician": ("技術者の作業中", "technician at work"),
}

RESULTS: dict[str, Pair] = {
    "ok": ("照合成功", "verified"),
    "wrong": ("暗証番号が違います", "wrong PIN"),
    "locked": ("ロックされました", "LOCKED"),
    "cancelled": ("中止されました", "cancelled"),
    "timeout": ("時間切れ", "timed out"),
    "card_removed": ("カードが抜かれました", "card removed"),
    "no_card": ("カードがありません", "no card"),
    "error": ("エラー", "error"),
}

END_REASONS: dict[str, Pair] = {
    "logout": ("ログアウト", "logout"),
    "cancel": ("中止", "cancel"),
    "timeout": ("時間切れ", "timeout"),
    "card_removed": ("カード抜去", "card removed"),
    "shutdown": ("端末の停止", "terminal shutdown"),
}


def word(table: dict[str, Pair], value: object) -> Pair:
    """A protocol word through its table; an unknown one inside a sentence that says so."""
    if isinstance(value, str) and value in table:
        return table[value]
    return f"不明（{value}）", f"unknown ({value})"


# -- alerts --------------------------------------------------------------------------

class AlertText:
    """What one alert code means to the clerk and what the clerk does about it."""

    __slots__ = ("ja", "en", "todo_ja", "todo_en", "standing")

    def __init__(self, ja: str, en: str, todo_ja: str, todo_en: str, standing: bool = True) -> None:
        self.ja, self.en, self.todo_ja, self.todo_en = ja, en, todo_ja, todo_en
        #: True: a condition of the terminal that lasts until the kiosk reports it gone.
        self.standing = standing


ALERTS: dict[str, AlertText] = {
    "reader_absent": AlertText("カードリーダーが外れています", "card reader disconnected",
                               "リーダーのUSBケーブルを確認してください", "check the reader's USB cable"),
    "pcscd_down": AlertText("カード読み取りサービスが止まっています", "PC/SC service down",
                            "情報システム担当に連絡してください", "call the IT team"),
    "touch_absent": AlertText("タッチパネルが外れています", "touch panel absent",
                              "パネルのケーブルを確認してください", "check the panel's cable"),
    "drift_warn": AlertText("タッチ位置がずれ始めています", "touch panel drifting",
                            "空いた時に ずれ確認 をしてください", "run a drift check when the counter is free"),
    "drift_alert": AlertText("タッチ位置が大きくずれています", "touch panel drift: keys may be missed",
                             "市民の入力前に校正してください", "calibrate before the next citizen types"),
    "calibration_missing": AlertText("タッチパネルが校正されていません", "touch panel not calibrated",
                                     "技術者に校正を依頼してください", "ask a technician to calibrate"),
    "calibration_corrupt": AlertText("校正データが壊れています", "calibration data damaged",
                                     "技術者に校正を依頼してください", "ask a technician to calibrate"),
    "calibration_mismatch": AlertText("校正データが別の画面用です", "calibration made for another screen",
                                      "技術者に校正を依頼してください", "ask a technician to calibrate"),
    "journal_overflow": AlertText("端末の送信記録があふれ、古い知らせが失われました",
                                  "console journal full: old events lost",
                                  "端末の監査記録で確認してください", "check the terminal's audit trail",
                                  standing=False),
    "busy": AlertText("端末は使用中です", "terminal busy",
                      "セッションや作業が終わってからもう一度", "try again when the session or procedure ends",
                      standing=False),
    "not_now": AlertText("今はできません", "not possible now",
                         "状態を確認してからもう一度", "check the state and try again", standing=False),
    "change_not_supported": AlertText("この暗証番号は端末では変更できません", "this PIN cannot be changed here",
                                      "窓口の手続きで変更", "change it through the office procedure", standing=False),
    "bad_command": AlertText("端末がコマンドを受け付けませんでした", "the terminal refused a command",
                             "コマンドを確認してください", "check the command", standing=False),
    # the card in the reader (kiosk.session.CARD_ALERTS): events of one begin, not conditions
    "two_cards": AlertText("二つのリーダーにカードがあります", "two readers hold a card",
                           "市民のカードだけを残して、もう一度開始", "leave only the citizen's card, then begin again",
                           standing=False),
    "juki_card": AlertText("住基カードです（マイナンバーカードではありません）", "an old 住基カード, not a My Number card",
                           "マイナンバーカードをお持ちか確認", "ask for the My Number card", standing=False),
    "smartphone": AlertText("スマートフォンのJPKIです（カードではありません）", "a smartphone's JPKI, not a card",
                            "カードをリーダーに入れてもらう", "ask for the card itself", standing=False),
    "unknown_token": AlertText("カードの種類が分かりません", "unknown JPKI token",
                               "カードを入れ直してもう一度", "reinsert the card and begin again", standing=False),
    "not_mynumber": AlertText("マイナンバーカードではありません", "not a My Number card",
                              "カードを確認", "check the card", standing=False),
    "not_a_card": AlertText("カードとして応答しません", "does not answer as a smart card",
                            "カードの向きを確かめて入れ直す", "reinsert the card the right way up", standing=False),
    "no_applet": AlertText("この暗証番号の機能がカードにありません", "no applet for this PIN on the card",
                           "種類を確かめてもう一度", "check the PIN type", standing=False),
    "card_error": AlertText("カードがエラーを返しました", "the card answered with an error",
                            "カードを入れ直してもう一度", "reinsert the card and begin again", standing=False),
    "card_changed": AlertText("別のカードに替わったため、セッションを終了しました", "another card: session ended",
                              "市民のカードを確認して最初から", "check the card and start again", standing=False),
}

#: Codes that answer a command of this console: shown as its refusal, never as a standing alert.
REFUSAL_CODES = frozenset({"busy", "not_now", "bad_command", "change_not_supported"})


def alert_text(code: str) -> AlertText:
    """The clerk's words for ``code``; an unknown code is still an alert, named as such."""
    known = ALERTS.get(code)
    if known is not None:
        return known
    return AlertText(f"端末からの警報（{code}）", f"terminal alert ({code})",
                     "内容を確認し、必要なら情報システム担当へ", "read it; call the IT team if unsure",
                     standing=False)


def yes_no(value: object) -> str:
    """○ for True, × for False, ? for unknown."""
    return {True: "○", False: "×"}.get(value, "?")  # type: ignore[call-overload]
