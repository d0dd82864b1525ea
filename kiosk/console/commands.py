"""The clerk's command language: strict, Japanese or English, short forms for the PINs.

Theory of operation
-------------------
A typed line is split into words; the first is the command (``VERBS``, each
with a Japanese name), the rest are its arguments, each of which must be
understood or the whole line is refused.  Nothing is guessed and nothing
unknown becomes data: an unknown word is an error that names the nearest word
the console knows (difflib), an operator is given only as ``op=ID`` and an
``ID`` outside the protocol's rule is refused with the rule stated.  PIN types
are case-insensitive ids (``user_auth``, ``USER-AUTH``), numbers 1-4 or the
Japanese short names 署名・利用者・住基・券面.

``parse`` is pure; it returns a ``Parsed`` or raises ``CommandError`` whose
``ja`` and ``en`` are one line each.
"""
from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from kiosk.console.wording import ACTIONS, PIN_SHORT, pin_name
from kiosk.pin import PinType
from kiosk.protocol import OPERATOR

#: What ``op=ID`` may hold (kiosk.protocol.OPERATOR), in the clerk's words.
OPERATOR_RULE_JA = "担当者IDは半角の英数字と _ . @ - で1〜32文字、先頭は英数字です（例: op=tanaka01）"
OPERATOR_RULE_EN = "an operator id is 1-32 of A-Z a-z 0-9 _ . @ -, starting with a letter or digit (e.g. op=tanaka01)"


class CommandError(ValueError):
    """A line the console will not send: why, in Japanese and in English."""

    def __init__(self, ja: str, en: str) -> None:
        self.ja, self.en = ja, en
        super().__init__(en)


@dataclass(frozen=True)
class Parsed:
    """A typed line understood: ``send`` a frame, or a local action (help, quit, ack)."""

    action: str  # "send" | "help" | "quit" | "ack"
    frame_type: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verb:
    name: str
    ja: str
    usage: str
    help_ja: str
    help_en: str


#: Every command, in the order help lists them.
VERBS: tuple[Verb, ...] = (
    Verb("begin", "開始", "begin PIN [verify|change] [op=ID]",
         "暗証番号の入力を始める（照合が既定）", "start a PIN entry (verify unless change)"),
    Verb("verify", "照合", "verify PIN [op=ID]", "暗証番号の照合を始める", "start a PIN check"),
    Verb("change", "変更", "change PIN [op=ID]", "暗証番号の変更を始める", "start a PIN change"),
    Verb("cancel", "中止", "cancel",
         "入力をやめてセッションを終える（理由: 中止）。技術者の作業も中止",
         "stop the entry and end the session (reason: cancel); also stops a technician procedure"),
    Verb("logout", "ログアウト", "logout",
         "セッションを終えて消去する（理由: ログアウト）", "end the session and wipe it (reason: logout)"),
    Verb("status", "状態", "status", "端末の状態を今すぐ聞く", "ask the terminal for its status now"),
    Verb("drift-check", "ずれ確認", "drift-check op=ID",
         "技術者がタッチのずれを確認する", "a technician checks the touch panel for drift"),
    Verb("calibrate", "校正", "calibrate op=ID", "技術者がタッチパネルを校正する", "a technician calibrates the touch panel"),
    Verb("ack", "了解", "ack", "表示中の警報を確認済みにする", "acknowledge the alerts shown"),
    Verb("help", "ヘルプ", "help", "この一覧", "this list"),
    Verb("quit", "終了", "quit", "コンソールを閉じる（端末はそのまま）", "close the console (the terminal carries on)"),
)

def _norm(word: str) -> str:
    """Case and full-width forms folded, '-' and '_' alike: what the clerk meant to type."""
    return unicodedata.normalize("NFKC", word).lower().replace("-", "_")


#: Every word that names a command (folded as ``_norm`` folds what is typed) -> its verb.
_ALIASES: dict[str, str] = {}
for _v in VERBS:
    _ALIASES[_v.name.replace("-", "_")] = _v.name
    _ALIASES[_v.ja] = _v.name
_ALIASES.update({"exit": "quit", "?": "help", "status_request": "status", "取消": "cancel"})

_PIN_WORDS: dict[str, PinType] = {}
for _t in PinType:
    number, short = PIN_SHORT[_t]
    _PIN_WORDS[_norm(_t.value)] = _t
    _PIN_WORDS[number] = _t
    _PIN_WORDS[short] = _t
_ACTION_WORDS: dict[str, str] = {}
for _a, (_ja, _en) in ACTIONS.items():
    _ACTION_WORDS[_a] = _a
    _ACTION_WORDS[_ja] = _a


def _nearest(word: str, vocabulary: list[str]) -> str | None:
    hits = difflib.get_close_matches(_norm(word), vocabulary, n=1, cutoff=0.5)
    return hits[0] if hits else None


def _unknown(what_ja: str, what_en: str, word: str, vocabulary: list[str]) -> CommandError:
    near = _nearest(word, vocabulary)
    if near is None:
        return CommandError(f"{what_ja}「{word}」は分かりません（help で一覧）",
                            f"unknown {what_en} {word!r} (type help)")
    return CommandError(f"{what_ja}「{word}」は分かりません。「{near}」ですか？",
                        f"unknown {what_en} {word!r}: did you mean {near!r}?")


def _verb_of(word: str) -> str:
    key = _norm(word)
    if key in _ALIASES:
        return _ALIASES[key]
    raise _unknown("コマンド", "command", word, sorted(_ALIASES))


def pin_type_of(word: str) -> PinType:
    """The PinType a clerk's word names: ``1``-``4``, 署名・利用者・住基・券面, or the id (any case)."""
    key = _norm(word)
    if key in _PIN_WORDS:
        return _PIN_WORDS[key]
    raise _unknown("暗証番号の種類", "PIN type", word, sorted(_PIN_WORDS))


def _operator(word: str, verb: str) -> str:
    if not _norm(word).startswith("op="):
        raise CommandError(f"「{word}」は分かりません。担当者は op=ID で指定します。{OPERATOR_RULE_JA}",
                           f"{verb}: {word!r} not understood; give the operator as op=ID: {OPERATOR_RULE_EN}")
    value = word.split("=", 1)[1]
    if not OPERATOR(value):
        raise CommandError(f"担当者ID「{value}」は使えません。{OPERATOR_RULE_JA}",
                           f"operator id {value!r} not allowed: {OPERATOR_RULE_EN}")
    return value


def _no_more(verb: str, rest: list[str]) -> None:
    if rest:
        raise CommandError(f"{verb} の後には何も付けません（「{' '.join(rest)}」）",
                           f"{verb} takes nothing after it (got {' '.join(rest)!r})")


def parse(line: str) -> Parsed | None:
    """A typed line -> what to do; None for a blank line; CommandError for anything else."""
    words = line.split()
    if not words:
        return None
    verb, rest = _verb_of(words[0]), words[1:]
    if verb in ("begin", "verify", "change"):
        return _begin(verb, rest)
    if verb in ("cancel", "logout"):
        _no_more(verb, rest)
        return Parsed("send", verb)
    if verb == "status":
        _no_more(verb, rest)
        return Parsed("send", "status_request")
    if verb in ("drift-check", "calibrate"):
        if len(rest) != 1:
            raise CommandError(f"{verb} には技術者を op=ID で一つ付けます。{OPERATOR_RULE_JA}",
                               f"{verb} needs the technician as op=ID: {OPERATOR_RULE_EN}")
        return Parsed("send", verb.replace("-", "_"), {"technician": _operator(rest[0], verb)})
    _no_more(verb, rest)
    return Parsed(verb)


def _begin(verb: str, rest: list[str]) -> Parsed:
    if not rest:
        choices = "、".join(f"{n} {s}" for n, s in PIN_SHORT.values())
        raise CommandError(f"{verb} には暗証番号の種類を付けます（{choices}）",
                           f"{verb} needs a PIN type: 1-4 or " + ", ".join(t.value for t in PinType))
    pin_type = pin_type_of(rest[0])
    fields: dict[str, Any] = {"pin_type": pin_type.value, "action": "verify" if verb == "begin" else verb}
    given: set[str] = set()
    for w in rest[1:]:
        key = _norm(w)
        what = "action" if key in _ACTION_WORDS and verb == "begin" else "operator" if key.startswith("op=") else None
        if what is None:
            if verb == "begin" and _nearest(w, sorted(_ACTION_WORDS)) is not None:
                raise _unknown("照合・変更の指定", "action", w, sorted(_ACTION_WORDS))
            _operator(w, verb)  # raises: what op= looks like
        if what in given:
            raise CommandError(f"同じ指定が二度あります（「{w}」）", f"{what} given twice ({w!r})")
        given.add(what)
        if what == "action":
            fields["action"] = _ACTION_WORDS[key]
        else:
            fields["operator"] = _operator(w, verb)
    return Parsed("send", "begin", fields)


def help_lines() -> list[tuple[str, str]]:
    """The help as (usage, 'ja / en') rows, Japanese first."""
    rows = [(f"{v.usage}  ({v.ja})", f"{v.help_ja} / {v.help_en}") for v in VERBS]
    pins = "、".join(f"{n} {s}={pin_name(t)[0]}" for t, (n, s) in PIN_SHORT.items())
    rows.append(("PIN", f"{pins} / or the ids " + ", ".join(t.value for t in PinType) + " (any case)"))
    rows.append(("op=ID", f"{OPERATOR_RULE_JA} / {OPERATOR_RULE_EN}"))
    return rows
