"""Which script a character belongs to, as tokenizer figures need it (kanji, kana, Latin, digits).

Kept small and table-driven rather than going through ``unicodedata`` names: the tokenizer figures
are computed per character over whole corpora, and the ranges below are the ones Japanese text uses.
"""

from __future__ import annotations

import functools

SCRIPTS = ("kanji", "hiragana", "katakana", "latin", "digit", "other")

# (first, last, script). Checked in order; anything unlisted is "other" (punctuation, spaces, symbols).
_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0030, 0x0039, "digit"),
    (0x0041, 0x005A, "latin"),
    (0x0061, 0x007A, "latin"),
    (0x00C0, 0x024F, "latin"),  # accented Latin (é, ü …), minus × and ÷ below
    (0x3005, 0x3007, "kanji"),  # 々 〆 〇
    (0x303B, 0x303B, "kanji"),  # 〻
    (0x3040, 0x309F, "hiragana"),  # the whole block: voicing marks, ゝゞゟ
    (0x30A0, 0x30FF, "katakana"),  # incl. ー and ・
    (0x31F0, 0x31FF, "katakana"),  # small katakana for Ainu
    (0x3400, 0x4DBF, "kanji"),
    (0x4E00, 0x9FFF, "kanji"),
    (0xF900, 0xFAFF, "kanji"),
    (0xFF10, 0xFF19, "digit"),  # full-width ０-９
    (0xFF21, 0xFF3A, "latin"),  # full-width Ａ-Ｚ
    (0xFF41, 0xFF5A, "latin"),
    (0xFF66, 0xFF9F, "katakana"),  # half-width ｶﾀｶﾅ
    (0x20000, 0x3134F, "kanji"),  # extensions B-G
)
_NOT_LATIN = {0x00D7, 0x00F7}

JAPANESE_SCRIPTS = frozenset({"kanji", "hiragana", "katakana"})


@functools.lru_cache(maxsize=65536)
def script_of(ch: str) -> str:
    """``"kanji"``, ``"hiragana"``, ``"katakana"``, ``"latin"``, ``"digit"`` or ``"other"``."""
    cp = ord(ch)
    if cp < 0x80:  # fast path: most non-Japanese text is ASCII
        if 0x30 <= cp <= 0x39:
            return "digit"
        if 0x41 <= cp <= 0x5A or 0x61 <= cp <= 0x7A:
            return "latin"
        return "other"
    if cp in _NOT_LATIN:
        return "other"
    for lo, hi, name in _RANGES:
        if cp < lo:
            return "other"  # ranges are sorted, so nothing later can match
        if cp <= hi:
            return name
    return "other"


# Called per character over whole corpora: a set lookup (the rare extension-B+ kanji aside).
_JAPANESE = frozenset(
    chr(cp) for lo, hi, name in _RANGES if name in JAPANESE_SCRIPTS and hi < 0x20000 for cp in range(lo, hi + 1)
)


def is_japanese_char(ch: str) -> bool:
    """Kanji (incl. 々〆〇), hiragana or katakana (full- and half-width)."""
    return ch in _JAPANESE or (ch >= "\U00020000" and script_of(ch) == "kanji")


def has_japanese(text: str) -> bool:
    return any(is_japanese_char(ch) for ch in text)
