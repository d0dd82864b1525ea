"""Every word on the kiosk screen: one table per language, same keys in each.

Plain words for citizens who may be elderly and anxious about locking their
card: say what is happening, what to do next, and that staff can help.
Placeholders are ``str.format`` names (``{n}``, ``{rms}``...); a test checks
both tables have the same keys and the same placeholders.  No string ever
contains PIN material; the field shows ``MASK_CHAR`` per typed character.

Pure data: no pygame here (kiosk.keypad reads the key labels).
"""
from __future__ import annotations

JA: dict[str, str] = {
    # keys and buttons
    "key_backspace": "訂正",
    "key_clear": "クリア",
    "key_cancel": "中止",
    "key_enter": "確定",
    "key_lang": "English",
    "key_retry": "もう一度入力",
    "key_continue": "入力する",
    "key_accept": "保存する",
    # entry
    "entry_verify": "{name}を入力してください",
    "entry_change_current": "いまの{name}を入力してください",
    "entry_change_new": "新しい{name}を入力してください",
    "entry_change_confirm": "確認のため、新しい{name}をもう一度入力してください",
    "legend_digits": "使える文字：数字0〜9だけ（英字・記号は使えません）",
    "legend_alnum": "使える文字：数字0〜9と英大文字A〜Z（記号・小文字は使えません）",
    "length_fixed": "{min}桁",
    "length_range": "{min}〜{max}桁",
    "tries_left": "のこり{n}回まちがえるとロックされます",
    "seconds_left": "あと{n}秒で終了します",
    "problem_empty": "まだ入力されていません",
    "problem_too_short": "桁数が足りません",
    "problem_too_long": "桁数が多すぎます",
    "problem_bad_char": "使えない文字があります",
    "problem_needs_letter_and_digit": "数字と英字の両方を入れてください",
    "problem_mismatch": "1回目と2回目がちがいます。もう一度入力してください",
    # screens
    "idle_title": "職員の案内をお待ちください",
    "idle_body": "手続きは職員が始めます。お困りのときは、窓口の職員にお声かけください。",
    "card_check_title": "カードを確認しています",
    "card_check_body": "カードを置いたまま、しばらくお待ちください。",
    "no_card_title": "カードが読み取れません",
    "no_card_body": "カードをカードリーダーに置いてください。置いても読み取れないときは、職員にお声かけください。",
    "last_try_warning_title": "つぎが最後の1回です",
    "last_try_warning_body": "つぎにまちがえると暗証番号がロックされ、窓口で手続きが必要になります。自信がないときは「中止」を押して職員にご相談ください。",
    "verifying_title": "確認しています",
    "verifying_body": "カードを動かさずに、そのままお待ちください。",
    "result_ok_title": "暗証番号を確認しました",
    "result_ok_changed_title": "暗証番号を変更しました",
    "result_ok_body": "職員の案内をお待ちください。",
    "wrong_pin_title": "暗証番号がちがいます",
    "wrong_pin_body": "あと{n}回まちがえるとロックされます。",
    "locked_title": "暗証番号がロックされました",
    "locked_body": "この暗証番号は使えなくなりました。窓口で初期化の手続きができます。本人確認書類をご用意のうえ、職員にお声かけください。",
    "timed_out_title": "時間切れのため終了しました",
    "timed_out_body": "入力した内容はすべて消去しました。続けるときは職員にお声かけください。",
    "card_removed_title": "カードが取り出されました",
    "card_removed_body": "入力した内容はすべて消去しました。続けるときは職員にお声かけください。",
    "session_ended_title": "画面を終了しました",
    "session_ended_body": "入力した内容はすべて消去しました。ご利用ありがとうございました。",
    "calibration_title": "タッチ位置の調整（技術者用）",
    "drift_check_title": "タッチ位置の点検（技術者用）",
    "targets_body": "赤い＋の中心を指で押してください（{i}/{n}）",
    "targets_validate_body": "確認：赤い＋の中心をもう一度押してください（{i}/{n}）",
    "calibration_result_title": "調整の結果（技術者用）",
    "calibration_result_body": "平均のずれ {rms} mm ／ 最大のずれ {max} mm",
    "calibration_passed": "合格",
    "calibration_failed": "不合格：やり直してください",
    "message_rejected_retry": "押した位置が離れすぎていました。もう一度押してください",
    "fault_title": "ただいま利用できません",
    "fault_body": "職員にお声かけください。",
    "fault_no_reader": "カードリーダーが見つかりません",
    "fault_touch_absent": "タッチパネルが応答しません",
    "fault_link_down": "職員の端末と通信できません",
    "fault_card_error": "カードと通信できません",
    "fault_other": "装置の異常です（{code}）",
    "name_user_auth": "利用者証明用電子証明書の暗証番号",
    "name_signature": "署名用電子証明書の暗証番号",
    "name_resident_registry": "住民基本台帳用の暗証番号",
    "name_card_info_input": "券面事項入力補助用の暗証番号",
}

EN: dict[str, str] = {
    "key_backspace": "Delete",
    "key_clear": "Clear",
    "key_cancel": "Stop",
    "key_enter": "OK",
    "key_lang": "日本語",
    "key_retry": "Try again",
    "key_continue": "Enter PIN",
    "key_accept": "Save",
    "entry_verify": "Please enter your {name}",
    "entry_change_current": "Please enter your current {name}",
    "entry_change_new": "Please enter your new {name}",
    "entry_change_confirm": "Please enter your new {name} once more",
    "legend_digits": "Allowed: digits 0-9 only (no letters, no symbols)",
    "legend_alnum": "Allowed: digits 0-9 and capital letters A-Z (no symbols, no small letters)",
    "length_fixed": "{min} digits",
    "length_range": "{min} to {max} characters",
    "tries_left": "Locks after {n} more wrong tries",
    "seconds_left": "Ends in {n} seconds",
    "problem_empty": "Nothing entered yet",
    "problem_too_short": "Too short",
    "problem_too_long": "Too long",
    "problem_bad_char": "Contains a character that is not allowed",
    "problem_needs_letter_and_digit": "Use both digits and letters",
    "problem_mismatch": "The two entries differ. Please enter it again",
    "idle_title": "Please wait for the staff",
    "idle_body": "A member of staff will start the procedure. If you need help, please ask at the counter.",
    "card_check_title": "Checking your card",
    "card_check_body": "Please leave the card where it is and wait.",
    "no_card_title": "The card cannot be read",
    "no_card_body": "Please place your card on the reader. If it still cannot be read, please ask the staff.",
    "last_try_warning_title": "This is your last try",
    "last_try_warning_body": "If the next PIN is wrong, it will be locked and must be reset at the counter. If you are not sure, press Stop and ask the staff.",
    "verifying_title": "Checking",
    "verifying_body": "Please do not move the card.",
    "result_ok_title": "Your PIN is correct",
    "result_ok_changed_title": "Your PIN has been changed",
    "result_ok_body": "Please wait for the staff.",
    "wrong_pin_title": "Wrong PIN",
    "wrong_pin_body": "The PIN will lock after {n} more wrong tries.",
    "locked_title": "This PIN is locked",
    "locked_body": "This PIN can no longer be used. It can be reset at the counter; please bring an identity document and ask the staff.",
    "timed_out_title": "Ended: no input for a while",
    "timed_out_body": "Everything you entered has been erased. Please ask the staff to continue.",
    "card_removed_title": "The card was removed",
    "card_removed_body": "Everything you entered has been erased. Please ask the staff to continue.",
    "session_ended_title": "The screen has been closed",
    "session_ended_body": "Everything you entered has been erased. Thank you.",
    "calibration_title": "Touch calibration (technician)",
    "drift_check_title": "Touch check (technician)",
    "targets_body": "Touch the centre of the red cross ({i}/{n})",
    "targets_validate_body": "Check: touch the centre of the red cross again ({i}/{n})",
    "calibration_result_title": "Calibration result (technician)",
    "calibration_result_body": "Mean error {rms} mm / largest error {max} mm",
    "calibration_passed": "Passed",
    "calibration_failed": "Failed: please retry",
    "message_rejected_retry": "That touch was too far off. Please touch again",
    "fault_title": "Not available at the moment",
    "fault_body": "Please ask the staff.",
    "fault_no_reader": "No card reader found",
    "fault_touch_absent": "The touch panel does not respond",
    "fault_link_down": "No connection to the staff terminal",
    "fault_card_error": "Cannot talk to the card",
    "fault_other": "Device fault ({code})",
    "name_user_auth": "user authentication PIN",
    "name_signature": "signature PIN",
    "name_resident_registry": "resident registry PIN",
    "name_card_info_input": "card information input PIN",
}

STRINGS: dict[str, dict[str, str]] = {"ja": JA, "en": EN}
LANGUAGES = tuple(STRINGS)


def other_language(lang: str) -> str:
    """The language the ``lang`` key switches to."""
    return "en" if lang == "ja" else "ja"


def text(lang: str, key: str, **values: object) -> str:
    """The string ``key`` in ``lang``, with placeholders filled."""
    return STRINGS[lang][key].format(**values)
