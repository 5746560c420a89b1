"""How Japanese a text is: the one measure the data filters and the language reward share.

:func:`letter_counts` counts letters after :func:`strip_notation` takes out what is no language at
all: R1 markup (``<think>``, ``<answer>``), mathematics (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``
spans and LaTeX commands such as ``\\frac``), single Latin letters (variables: ``x``, ``n``) and Greek
letters (``π``, ``θ``). Japanese letters are kana and the kanji of cp932 (JIS X 0208 and the usual
vendor extensions): Han characters outside it are Chinese-only forms (这 们 说 对 时) that
R1-Distill-Qwen writes when it drifts into Chinese, so they count against.

``jaft.data.quality`` (``low_japanese_ratio``, ``low_hiragana_ratio``) and
``jaft.rewards.language_consistency_reward`` both read these counts, so a record the filter keeps
scores the same language share as a completion the reward sees.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TAGS = re.compile(r"</?(?:think|answer)>")
_MATH_SPANS = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$|\\\(.*?\\\)|\\\[.*?\\\]", re.DOTALL)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_LATIN = "A-Za-z\u00c0-\u024f\uff21-\uff3a\uff41-\uff5a"
# A Latin letter standing alone (a variable), or Greek letters (mathematics). The letter is matched
# before the look-behind (which then sees it and the character before): same matches as
# ``(?<![L])[L](?![L])``, but the pattern starts with a character class, which the regex engine
# scans for quickly instead of trying the look-behind at every position (a third less time).
_NOTATION_LETTERS = re.compile(f"[{_LATIN}](?<![{_LATIN}][{_LATIN}])(?![{_LATIN}])|[\u0370-\u03ff]+")
# Kana that are letters (no ゛゜ or combining marks), katakana phonetic extensions, half-width katakana.
_KANA = "\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
_NOT_HIRAGANA = re.compile("[^\u3041-\u309f]+")
# The hiragana block's characters that _KANA leaves out (unassigned, sound marks): counted as
# hiragana, like every character of the block.
_HIRAGANA_NOT_JAPANESE = re.compile("[\u3097-\u309c]")


@lru_cache(maxsize=1)
def _japanese_runs() -> re.Pattern[str]:
    """Runs of Japanese letters, as a group (``split`` keeps them at odd indexes): kana, 々〆〇 and
    every Han character cp932 encodes (collected by decoding each cp932 double-byte code once)."""
    han = set()
    for lead in (*range(0x81, 0xA0), *range(0xE0, 0xFD)):
        for trail in range(0x40, 0xFD):
            try:
                ch = bytes((lead, trail)).decode("cp932")
            except UnicodeDecodeError:
                continue
            cp = ord(ch)
            if 0x3400 <= cp <= 0x9FFF or 0xF900 <= cp <= 0xFAFF or cp >= 0x20000:
                han.add(cp)
    ranges: list[str] = []
    run_start = prev = None
    for cp in sorted(han):
        if prev is not None and cp == prev + 1:
            prev = cp
            continue
        if run_start is not None:
            ranges.append(f"{chr(run_start)}-{chr(prev)}" if prev != run_start else chr(run_start))
        run_start = prev = cp
    if run_start is not None:
        ranges.append(f"{chr(run_start)}-{chr(prev)}" if prev != run_start else chr(run_start))
    return re.compile(f"([{_KANA}々〆〇{''.join(ranges)}]+)")


def _strip_markup(text: str) -> str:
    if "<" in text:
        text = _TAGS.sub(" ", text)
    if "$" in text or "\\" in text:
        text = _LATEX_COMMAND.sub(" ", _MATH_SPANS.sub(" ", text))
    return text


def strip_notation(text: str) -> str:
    """``text`` without R1 tags, mathematics, single Latin letters and Greek letters (each replaced
    by a space): what is left is what a language share is measured on."""
    return _NOTATION_LETTERS.sub(" ", _strip_markup(text))


def letter_counts(text: str) -> tuple[int, int, int]:
    """``(letters, japanese, hiragana)`` of ``text`` after :func:`strip_notation`.

    Letters are Unicode letters (``str.isalpha``) plus ``〇``; digits, punctuation and symbols are
    not letters. Japanese: kana and cp932 kanji (see the module docstring). Hiragana: U+3041–U+309F,
    sound marks included.
    """
    # The counts of strip_notation's text in fewer passes: one regex split separates the Japanese
    # letters (all str.isalpha but 〇, which counts as a letter too; a test checks every one) from
    # the rest, and only the rest, a fifth of a Japanese text, is searched for notation letters and
    # counted with str.isalpha. Japanese letters are neither Latin nor Greek, so the rest's runs,
    # joined by spaces, keep their notation letters' neighbours. Measured on the shared corpus's
    # 27,133 paragraphs: 13.8 → 8.9 µs a paragraph, the same counts for each.
    parts = _japanese_runs().split(_strip_markup(text))
    japanese = "".join(parts[1::2])
    rest = _NOTATION_LETTERS.sub(" ", " ".join(parts[::2]))
    letters = len(japanese) + sum(map(str.isalpha, rest))
    if not letters:
        return 0, 0, 0
    hiragana = len(_NOT_HIRAGANA.sub("", japanese)) + len(_HIRAGANA_NOT_JAPANESE.findall(rest))
    return letters, min(len(japanese), letters), min(hiragana, letters)


def japanese_share(text: str) -> float:
    """Share of Japanese among the letters of ``text`` (:func:`letter_counts`), in [0, 1]; 0.0 when
    there are no letters."""
    letters, japanese, _ = letter_counts(text)
    return japanese / letters if letters else 0.0
