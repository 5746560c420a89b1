"""Japanese text normalization that keeps meaning, and the aggressive form used only for keys.

Stored text gets :func:`normalize_text`: the few rewrites that never change what a sentence says
(full-width ASCII letters and digits → half-width, half-width katakana → full-width, kana with a
combining sound mark composed, BOM, NUL and CRLF). Full NFKC is *not* safe for stored text: it turns ``①`` into ``1``,
``㈱`` into ``(株)`` and ``～`` into ``~``, and tools built on it (neologdn) delete ``〜`` so
``10時〜18時`` becomes ``10時18時``.

Dedup and quality filters compare :func:`normalize_key` (NFKC, case-folded, whitespace removed), so
``ＡＢＣ①`` and ``abc1`` collide there while the stored text keeps what the author wrote.
"""

from __future__ import annotations

import re
import unicodedata

# Full-width ASCII letters and digits only: full-width punctuation (！？（）：) is ordinary Japanese.
_FULLWIDTH_ALNUM = {
    **{0xFF10 + i: 0x30 + i for i in range(10)},  # ０-９
    **{0xFF21 + i: 0x41 + i for i in range(26)},  # Ａ-Ｚ
    **{0xFF41 + i: 0x61 + i for i in range(26)},  # ａ-ｚ
}
# BOM / zero-width no-break space inside text is an encoding artefact; so is NUL (a UTF-16 file read
# byte-wise, a C string's terminator copied along), which no tokenizer or viewer treats as text.
_STRIP = {0xFEFF: None, 0x00: None}
_SAFE_TABLE = {**_FULLWIDTH_ALNUM, **_STRIP}

# The half-width katakana block, incl. its punctuation (｡｢｣､･) and sound marks (ﾞﾟ).
_HALFWIDTH_KANA = re.compile("[\uff61-\uff9f]+")
_NEEDS_SAFE = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\uff61-\uff9f\ufeff\r\u3099\u309a\x00]")
# Kana followed by a combining sound mark (か + U+3099) composes to one character (が). Whole-text NFC
# is avoided on purpose: it maps CJK compatibility ideographs (U+F900–U+FAFF, used in names) to
# their unified forms.
_DECOMPOSED_KANA = re.compile("[\u3041-\u309f\u30a0-\u30ff][\u3099\u309a]")
_COMBINING_MARKS = {"\u3099": "\u309b", "\u309a": "\u309c"}  # a lone ﾞ/ﾟ becomes ゛/゜, not a combining mark


def _widen_kana(m: re.Match[str]) -> str:
    # NFKC composes ｶﾞ → ガ and ﾊﾟ → パ; a mark with nothing to attach to keeps a visible form.
    out = unicodedata.normalize("NFKC", m.group(0))
    if out and out[0] in _COMBINING_MARKS:
        out = _COMBINING_MARKS[out[0]] + out[1:]
    return out


def normalize_text(text: str) -> str:
    """The meaning-preserving normal form for stored text (see the module docstring)."""
    if _NEEDS_SAFE.search(text):
        text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_SAFE_TABLE)
        text = _HALFWIDTH_KANA.sub(_widen_kana, text)
        text = _DECOMPOSED_KANA.sub(lambda m: unicodedata.normalize("NFC", m.group(0)), text)
    return text


# Invisible joiners, removed from keys with all whitespace. Whitespace goes by str.split (regex \s is
# str.isspace, the same characters; a test checks every one), the joiners by a regex only where one
# occurs: 3.2 → 1.1 µs a key on the shared corpus, against one regex over [\s\u200b-\u200d\u2060\ufeff].
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff]+")


# The same JIS X 0208 character decoded by two conventions (JIS / EUC-JP / macOS vs Microsoft cp932),
# e.g. Shift_JIS 0x8160 is U+301C WAVE DASH in JIS and U+FF5E FULLWIDTH TILDE in cp932. NFKC folds the
# full-width forms (￠￡￢￤ → ¢£¬¦, － → -, ～ → ~) but not their partners, so both sides are folded
# to one key character here, before NFKC. Sources: the Unicode consortium's JIS0208.TXT vs Microsoft's
# CP932.TXT, and WHATWG's Encoding Standard notes on Shift_JIS.
JIS_CP932_PAIRS = {
    "\u301c": "~",  # 〜 WAVE DASH (JIS)            ～ U+FF5E FULLWIDTH TILDE (cp932) → ~ by NFKC
    "\u2212": "-",  # − MINUS SIGN (JIS)            － U+FF0D FULLWIDTH HYPHEN-MINUS (cp932) → - by NFKC
    "\u2225": "\u2016",  # ∥ PARALLEL TO (cp932)      ‖ U+2016 DOUBLE VERTICAL LINE (JIS)
    "\u2015": "\u2014",  # ― HORIZONTAL BAR (cp932)   — U+2014 EM DASH (JIS)
    "\uffe0": "\u00a2",  # ￠ (cp932)                 ¢ CENT SIGN (JIS)
    "\uffe1": "\u00a3",  # ￡ (cp932)                 £ POUND SIGN (JIS)
    "\uffe2": "\u00ac",  # ￢ (cp932)                 ¬ NOT SIGN (JIS)
    "\uffe4": "\u00a6",  # ￤ (cp932)                 ¦ BROKEN BAR (JIS X 0212)
    "\uffe3": "\u203e",  # ￣ FULLWIDTH MACRON (cp932) ‾ OVERLINE (JIS)
    "\uff3c": "\\",  # ＼ FULLWIDTH REVERSE SOLIDUS (cp932)  \ (JIS X 0201 yen/backslash position)
}
_KEY_FOLD = str.maketrans(JIS_CP932_PAIRS)
_NEEDS_FOLD = re.compile(f"[{''.join(JIS_CP932_PAIRS)}]")


def normalize_key(text: str) -> str:
    """Aggressive form for dedup and filter keys only: JIS/cp932 mapping pairs folded
    (:data:`JIS_CP932_PAIRS`: 〜 = ～, − = －, ‖ = ∥, — = ―, ¢£¬ = ￠￡￢), NFKC, case-folded, no
    whitespace. The stored text keeps the character its author's system wrote."""
    if _NEEDS_FOLD.search(text):
        text = text.translate(_KEY_FOLD)
    text = unicodedata.normalize("NFKC", text).casefold()
    if "\u200b" in text or "\u200c" in text or "\u200d" in text or "\u2060" in text or "\ufeff" in text:
        text = _INVISIBLE.sub("", text)
    return "".join(text.split())


# Character classes for the quality filters. "Letters" are what a Japanese-ratio is measured over:
# kana, kanji and Latin letters, not digits, punctuation or spaces (math and lists stay measurable).
# Counting deletes runs of everything else with one regex pass (faster than matching each char).
_JA_CHARS = "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆"
_NOT_JAPANESE = re.compile(f"[^{_JA_CHARS}]+")
_NOT_HIRAGANA = re.compile("[^\u3041-\u309f]+")


def char_ratios(text: str) -> tuple[int, float, float]:
    """``(letters, japanese_ratio, hiragana_ratio)`` of ``text``, both ratios over letters."""
    letters = sum(map(str.isalpha, text))
    if not letters:
        return 0, 0.0, 0.0
    ja = len(_NOT_JAPANESE.sub("", text))
    hira = len(_NOT_HIRAGANA.sub("", text))
    return letters, ja / letters, hira / letters


# repetition_ratio's block shortcut is for texts up to this long: a block's str.find scans the text
# before it, so its time grows with the square of the length, the set of all n-grams' with the length.
# Measured on the shared corpus's keys (µs a key, set → blocks): < 100 characters 5.3 → 2.6, 100–200
# 15 → 9.5, 300–400 41 → 36, 400–600 54 → 63, 1,200+ 306 → 1,048.
_REPETITION_FIND_CHARS = 400


def repetition_ratio(text: str, n: int = 10) -> float:
    """Share of character ``n``-grams that repeat an earlier one (0: none; near 1: a loop)."""
    total = len(text) - n + 1
    if total < n:  # too short for repetition to mean anything
        return 0.0
    if len(text) > _REPETITION_FIND_CHARS or n < 2:  # (n < 2: no block fits the argument below)
        return 1.0 - len({text[i : i + n] for i in range(total)}) / total
    # Exactly the same count, from a few str.find calls instead of a set of every n-gram (measured
    # on the shared corpus's 27,133 keys: 12 → 8 µs a key). Every n-gram window [j, j + n) holds the
    # b-block [s, s + b) that starts at the first multiple s of b at or after j (2b - 1 <= n); if the
    # window repeats an earlier one at distance d, that block occurs at s - d too. So only windows
    # whose block occurs earlier can repeat: each is checked, first against the block's earliest
    # occurrence (a repeated phrase matches there), else by searching the text before it.
    b = (n + 1) // 2
    find = text.find
    repeats = 0
    for s in range(b, total + b - 1, b):
        first = find(text[s : s + b], 0, s + b - 1)
        if first < 0:
            continue
        d = s - first
        for j in range(s - b + 1, min(s, total - 1) + 1):
            window = text[j : j + n]
            if (j >= d and text.startswith(window, j - d)) or find(window, 0, j + n - 1) >= 0:
                repeats += 1
    return 1.0 - (total - repeats) / total
