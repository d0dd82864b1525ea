"""The Japanese font, found at start, and text fitted into boxes.

A kiosk that starts without Japanese glyphs would show empty boxes (tofu) to
the citizen, so ``Fonts`` checks at start that the configured font draws a
kanji differently from a code point no font has, and raises ``FontError``
with one line naming the setting and the fix.  Text is then fitted to a box:
the largest size between a maximum and a minimum whose wrapped lines fit.
Japanese wraps between any two characters except before closing punctuation
(a short kinsoku rule); English wraps between words.
"""
from __future__ import annotations

import weakref
from pathlib import Path

import pygame
import pygame.freetype

#: Characters that must not start a line in Japanese text.
_NO_LINE_START = "、。，．・：；？！）」』】〕ーぁぃぅぇぉっゃゅょァィゥェォッャュョ〜"
#: Characters that must not end a line (they open what follows).
_NO_LINE_END = "（「『【〔"
_PROBE_KANJI = "暗"
#: Line pitch in em, and the height of the middle of a kanji above the baseline, in em.
LINE_EM = 1.3
INK_CENTRE_EM = 0.38
_PROBE_MISSING = "\U000F0000"  # private use plane: no font draws it


class FontError(Exception):
    """No usable Japanese font: one line naming the setting and the fix."""


def _face(path: Path) -> "pygame.freetype.Font":
    face = pygame.freetype.Font(str(path))
    face.pad = True  # text boxes as tall as the font's line, as pygame.font draws them
    face.antialiased = True
    return face


class SizedFont:
    """One face at one size, with the few ``pygame.font.Font`` methods the renderer uses."""

    __slots__ = ("face", "size_px", "strong", "__weakref__")

    def __init__(self, face: "pygame.freetype.Font", size_px: int, strong: bool = False) -> None:
        self.face, self.size_px, self.strong = face, size_px, strong

    def _style(self) -> int:
        return pygame.freetype.STYLE_STRONG if self.strong else pygame.freetype.STYLE_DEFAULT

    def size(self, text: str) -> tuple[int, int]:
        r = self.face.get_rect(text, style=self._style(), size=self.size_px)
        return r.width, r.height

    def render(self, text: str, antialias: bool, color) -> pygame.Surface:
        return self.face.render(text, fgcolor=color, style=self._style(), size=self.size_px)[0]

    def get_height(self) -> int:
        return self.face.get_sized_height(self.size_px)

    def get_ascent(self) -> int:
        return self.face.get_sized_ascender(self.size_px)


class Fonts:
    """Fonts of one file at every size used, cached."""

    def __init__(self, path: str | Path, *, bold_path: str | Path | None = None) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FontError(f"screen.font_path: {self.path}: no such font file "
                            "(install fonts-noto-cjk or set screen.font_path to a font with Japanese glyphs)")
        if not pygame.freetype.get_init():
            pygame.freetype.init()
        try:
            probe = SizedFont(_face(self.path), 24)
            no_kanji = _same_pixels(probe, _PROBE_KANJI, _PROBE_MISSING)
        except (OSError, pygame.error) as exc:
            raise FontError(f"screen.font_path: {self.path}: not a usable font ({exc})") from None
        if no_kanji:
            raise FontError(f"screen.font_path: {self.path}: has no Japanese glyphs "
                            "(use e.g. /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc)")
        guess = self.path.with_name(self.path.name.replace("Regular", "Bold"))
        self.bold_path = Path(bold_path) if bold_path else (guess if guess.is_file() and guess != self.path else None)
        # One FreeType face per file, drawn at any size.  A pygame.font.Font per size
        # costs 2.3-2.6 MB each with a CJK font (about 30 sizes are tried while fitting),
        # which alone put the kiosk over its 80 MB memory target.
        self._faces = {False: _face(self.path), True: _face(self.bold_path or self.path)}
        # unpadded twins of the faces: their rectangles are the ink, not the line box
        self._ink_faces = {k: pygame.freetype.Font(str(f.path)) for k, f in self._faces.items()}
        self._cache: dict[tuple[int, bool], SizedFont] = {}
        self._sizes: dict[SizedFont, int] = {}
        self._fitted: dict[tuple, tuple[int, list[str], bool]] = {}
        self._ink: dict[tuple[str, bool], float] = {}
        #: texts that did not fit their box even at the smallest size (drawn clipped)
        self.overflows: list[str] = []

    def ink_em(self, text: str, bold: bool = False) -> float:
        """Height of the ink of ``text`` set on one line, in em (kanji about 0.93, "Enter" 0.74).

        Sizes are asked for in millimetres of *ink*, because that is what a
        reader sees: a Latin line of capitals is a quarter shorter than a line
        of kanji at the same font size.  Each paragraph is measured and the
        smallest taken, so every line reaches the size asked for.
        """
        key = (text, bold)
        hit = self._ink.get(key)
        if hit is None:
            face = self._ink_faces[bold and self.bold_path is not None]
            heights = [face.get_rect(p, size=100).height / 100 for p in text.split("\n") if p.strip()]
            hit = self._ink[key] = min(heights, default=1.0) or 1.0
        return hit

    def fits(self, text: str, w_px: int, h_px: int, size_px: int, bold: bool = False) -> bool:
        """True when ``text`` wrapped at ``size_px`` fits ``w_px`` x ``h_px``."""
        font = self.get(size_px, bold)
        lines = wrap(font, text, w_px)
        return (len(lines) * self.line_pitch(font) <= h_px
                and all(font.size(line)[0] <= w_px for line in lines))

    def line_pitch(self, font: SizedFont) -> int:
        """Distance between lines: 1.3 em.  The font's own line size (1.45 em for Noto CJK)
        wastes height that small panels do not have."""
        return round(self._sizes.get(font, font.get_height()) * LINE_EM)

    def ink_offset(self, font: SizedFont) -> int:
        """Where to blit a rendered line so its glyphs sit in the middle of a ``line_pitch`` slot."""
        size = self._sizes.get(font, font.get_height())
        return round(self.line_pitch(font) / 2 - (font.get_ascent() - INK_CENTRE_EM * size))

    def get(self, size_px: int, bold: bool = False) -> "SizedFont":
        size_px = max(6, int(size_px))
        key = (size_px, bold)
        font = self._cache.get(key)
        if font is None:
            face = self._faces[bold and self.bold_path is not None]
            font = self._cache[key] = SizedFont(face, size_px, strong=bold and self.bold_path is None)
            self._sizes[font] = size_px
        return font

    def fit(self, text: str, w_px: int, h_px: int, max_px: int, min_px: int,
            bold: bool = False, one_line: bool = False) -> tuple[SizedFont, list[str]]:
        """The largest font (max..min) whose wrapped lines of ``text`` fit ``w_px`` x ``h_px``.

        ``one_line`` never wraps (key labels): it only shrinks.  Results are
        cached: a screen drawn again costs no measuring.
        """
        key = (text, w_px, h_px, max_px, min_px, bold, one_line)
        hit = self._fitted.get(key)
        if hit is None:
            phrases = True  # break between phrases; between any two characters only if that fails
            size, lines, ok = self._search(text, w_px, h_px, max_px, min_px, bold, one_line, phrases)
            if not ok and not one_line:
                phrases = False
                size, lines, ok = self._search(text, w_px, h_px, max_px, min_px, bold, one_line, phrases)
            if not one_line and len(lines) > 1:
                lines = wrap(self.get(size, bold), text, w_px, balance=True, phrases=phrases)
            if len(self._fitted) > 4096:
                self._fitted.clear()
            hit = self._fitted[key] = (size, lines, ok)
        size, lines, ok = hit
        if not ok:
            self.overflows.append(text)  # clipped at the smallest size: tests assert none
        return self.get(size, bold), list(lines)

    def _search(self, text: str, w_px: int, h_px: int, max_px: int, min_px: int,
                bold: bool, one_line: bool, phrases: bool) -> tuple[int, list[str], bool]:
        sizes = _ladder(max_px, min_px)
        for i, size in enumerate(sizes):
            font = self.get(size, bold)
            lines = text.split("\n") if one_line else wrap(font, text, w_px, phrases=phrases)
            fits = (len(lines) * self.line_pitch(font) <= h_px
                    and all(font.size(line)[0] <= w_px for line in lines))
            if fits and len(lines) > 1 and not one_line:
                # a slightly smaller size that saves a line (a title on one line reads better)
                for smaller in sizes[i + 1:]:
                    if smaller < size * 4 // 5:
                        break
                    sfont = self.get(smaller, bold)
                    slines = wrap(sfont, text, w_px, phrases=phrases)
                    if len(slines) < len(lines) and all(sfont.size(x)[0] <= w_px for x in slines):
                        return smaller, slines, True
            if fits or i == len(sizes) - 1:
                return size, lines, fits
        raise AssertionError("unreachable: the ladder is never empty")


#: The font sizes used, about 7 % apart: a few dozen Font objects at most (each costs a file load).
LADDER_PX = tuple(sorted({round(8 * 1.07 ** k) for k in range(48)}, reverse=True))


def _ladder(max_px: int, min_px: int) -> list[int]:
    """Sizes from ``max_px`` down the ladder, ending exactly at ``min_px`` (never below it)."""
    sizes = [s for s in LADDER_PX if min_px < s <= max_px]
    sizes.append(min_px)
    return sizes


def _same_pixels(font: SizedFont, a: str, b: str) -> bool:
    sa, sb = font.render(a, True, (0, 0, 0)), font.render(b, True, (0, 0, 0))
    # tostring, not tobytes: the terminal's pygame is Debian's 2.1.2, which has no tobytes
    return sa.get_size() == sb.get_size() and pygame.image.tostring(sa, "RGBA") == pygame.image.tostring(sb, "RGBA")


def _char_tokens(text: str) -> list[str]:
    """Words (with their trailing space) for Latin text, single characters for Japanese."""
    out: list[str] = []
    word = ""
    glue = False  # the previous token was an opening bracket: the next character joins it
    word_glued = False  # the word being collected follows an opening bracket
    for ch in text:
        if ch.isascii() and not ch.isspace():
            if not word:
                word_glued = glue
            word += ch
            continue
        if word:
            if word_glued and out:
                out[-1] += word  # 「（A」: the bracket never ends a line
            else:
                out.append(word)
            word = ""
        if ch.isspace():
            if out:
                out[-1] += ch
        elif (ch in _NO_LINE_START or glue) and out:
            out[-1] += ch  # closing punctuation stays with what it closes
        else:
            out.append(ch)
        glue = ch in _NO_LINE_END
    if word:
        out.append(word)
    return out


def _is_kana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u309f"  # hiragana (particles and endings close a phrase)


#: After these a Japanese phrase always ends (punctuation, spaces).
_PHRASE_END = "、。，．：；？！・　 "
#: After a closing bracket a phrase ends unless a particle follows (「中止」を).
_CLOSING = "）」』】〕"
_HONORIFIC = "おご"


#: Hand-set break points inside long compounds, where the rule of particles finds none
#: (「利用者証明用電子証明書の」 has no kana until の): ``|`` marks where a line may break.
BREAK_TABLE = (
    "利用者証明用|電子証明書", "署名用|電子証明書", "券面事項|入力補助用", "住民基本台帳用|",
    "英字の|大文字", "（アンダーバー）|", "暗証番号|（", "署名用|パスワード",
)
_BREAKS = tuple((entry.replace("|", ""), entry.index("|")) for entry in BREAK_TABLE)
#: Hand-set spans a line never breaks inside (the underscore and its name belong together).
KEEP_TOGETHER = ("『_』（アンダーバー）", "“_” (underscore)")
_SOFT = "\u200b"  # a break opportunity inserted from BREAK_TABLE, never drawn


def _mark_breaks(text: str) -> str:
    for word, at in _BREAKS:
        if word in text:
            text = text.replace(word, word[:at] + _SOFT + word[at:])
    return text


def _tokens(text: str) -> list[str]:
    """Phrases: a line may break only where a reader would pause.

    Latin text breaks after spaces.  Japanese text breaks where hiragana (the
    particles and endings that close a phrase, が・を・に・て...) or punctuation
    is followed by something else (kanji, katakana, digits, an opening bracket),
    so 「暗証番号が」 stays whole instead of splitting as 「暗 / 証番号が」.  A
    phrase too wide for a line is split by characters when wrapping.
    """
    out: list[str] = []
    cur = ""
    marked = _mark_breaks(text)
    inside: set[int] = set()  # positions where a break would split a KEEP_TOGETHER span
    for span in KEEP_TOGETHER:
        at = marked.find(span)
        while at >= 0:
            inside.update(range(at + 1, at + len(span)))
            at = marked.find(span, at + 1)
    for i, ch in enumerate(marked):
        if i in inside and cur:
            cur += ch
            continue
        if ch == _SOFT:
            if cur:
                out.append(cur)
                cur = ""
            continue
        if cur:
            prev = cur[-1]
            ends = (prev.isspace() or prev in _PHRASE_END or ch in _NO_LINE_END
                    or ((_is_kana(prev) or prev in _CLOSING) and not _is_kana(ch)))
            if ends and not ch.isspace() and ch not in _NO_LINE_START:
                if prev in _HONORIFIC and not _is_kana(ch):
                    # 「ご用意」「お声かけ」: the honorific prefix belongs to the word after it
                    if len(cur) > 1:
                        out.append(cur[:-1])
                        cur = prev
                else:
                    out.append(cur)
                    cur = ""
        cur += ch
    if cur:
        out.append(cur)
    return out


#: Token widths per Font object (weak: a Font that goes away takes its widths along).
_TOKEN_W: "weakref.WeakKeyDictionary[SizedFont, dict[str, int]]" = weakref.WeakKeyDictionary()


def _width(font: SizedFont, tok: str) -> int:
    widths = _TOKEN_W.get(font)
    if widths is None:
        widths = _TOKEN_W[font] = {}
    w = widths.get(tok)
    if w is None:
        w = widths[tok] = font.size(tok)[0]
    return w


def _wrap_paragraph(font: SizedFont, tokens: list[str], w_px: int) -> list[str]:
    """Greedy line filling by summed token widths (the caller checks real widths)."""
    lines: list[str] = []
    line, line_w = "", 0
    fitted: list[str] = []
    for tok in tokens:  # a phrase wider than the line is split into characters
        fitted.extend(_char_tokens(tok) if len(tok) > 1 and _width(font, tok.rstrip()) > w_px else [tok])
    for tok in fitted:
        tok_w = _width(font, tok)
        trail = _width(font, tok.rstrip()) if tok != tok.rstrip() else tok_w
        if line and line_w + trail > w_px:
            lines.append(line.rstrip())
            tok = tok.lstrip()
            line, line_w = tok, _width(font, tok)
        else:
            line, line_w = line + tok, line_w + tok_w
    lines.append(line.rstrip())
    return lines


def wrap(font: SizedFont, text: str, w_px: int, *, balance: bool = False,
         phrases: bool = True) -> list[str]:
    """``text`` broken into lines no wider than ``w_px`` (a single too-long token stays whole).

    ``\n`` starts a new line.  With ``balance``, a paragraph that needs
    several lines is wrapped at the narrowest width that keeps its number of
    lines, so no line ends up with a lone 「した。」.  ``phrases=False`` breaks
    Japanese between any two characters (when phrases need too many lines).
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        tokens = _tokens(paragraph) if phrases else _char_tokens(paragraph)
        best = _wrap_paragraph(font, tokens, w_px)
        if balance and len(best) > 1:
            # never narrower than the widest phrase, or balancing would split it into characters
            widest = max((_width(font, t.rstrip()) for t in tokens if _width(font, t.rstrip()) <= w_px), default=0)
            lo, hi = max(w_px // 3, widest - 1), w_px
            while hi - lo > 2:
                mid = (lo + hi) // 2
                if len(_wrap_paragraph(font, tokens, mid)) == len(best):
                    hi = mid
                else:
                    lo = mid
            best = _wrap_paragraph(font, tokens, hi)
        lines.extend(best)
    return lines
