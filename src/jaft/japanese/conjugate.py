"""Verb forms generated from UniDic's conjugation type and base form.

UniDic analyses (``行っ`` is 行く, 五段-カ行, 連用形-促音便) but has no generator, so the forms the
style converter needs are built here from the conjugation class, in the spelling of ``orthBase``
(来る stays kanji, くる stays kana):

- ``dict``: 終止形 (行く, 食べる, 来る, する)
- ``masu``: 連用形 before ます (行き, 食べ, 来, し)
- ``nai``: 未然形 before ない (行か, 食べ, 来, し)
- ``ta``: past (行った, 読んだ, 食べた, 来た, した)
- ``vol``: volitional (行こう, 食べよう, 来よう, しよう)
"""

from __future__ import annotations

from typing import NamedTuple

# Godan rows: the a/i/u/e/o kana of each 五段-X行 class, and how the past attaches (音便).
_GODAN = {
    "カ行": ("かきくけこ", "いた"),
    "ガ行": ("がぎぐげご", "いだ"),
    "サ行": ("さしすせそ", "した"),
    "タ行": ("たちつてと", "った"),
    "ナ行": ("なにぬねの", "んだ"),
    "バ行": ("ばびぶべぼ", "んだ"),
    "マ行": ("まみむめも", "んだ"),
    "ラ行": ("らりるれろ", "った"),
    "ワア行": ("わいうえお", "った"),
}
# 行く/逝く take った, not いた. These honorific ラ行 verbs take い before ます (いらっしゃいます).
_IKU = frozenset({"行く", "いく", "逝く", "ゆく"})
_IRU_HONORIFIC = frozenset({"いらっしゃる", "おっしゃる", "くださる", "下さる", "なさる", "為さる", "ござる", "御座る"})


class Forms(NamedTuple):
    dict: str
    masu: str
    nai: str
    ta: str
    vol: str


def forms(ctype: str, base: str) -> Forms | None:
    """The forms of a verb (or verb-like auxiliary such as られる, せる) or None if not modern."""
    if not base:
        return None
    if ctype.startswith("五段-"):
        row = _GODAN.get(ctype[3:])
        if row is None or base[-1] != row[0][2]:
            return None
        kana, past = row
        stem = base[:-1]
        if base in _IKU or base.endswith(("行く", "いく")):
            past = "った"
        masu = stem + ("い" if base in _IRU_HONORIFIC else kana[1])
        return Forms(base, masu, stem + kana[0], stem + past, stem + kana[4] + "う")
    if ctype.startswith(("上一段-", "下一段-")) or ctype == "助動詞-レル":
        if not base.endswith("る"):
            return None
        stem = base[:-1]
        return Forms(base, stem, stem, stem + "た", stem + "よう")
    if ctype == "カ行変格":
        if base.endswith("来る"):
            p = base[:-2]
            return Forms(base, p + "来", p + "来", p + "来た", p + "来よう")
        if base.endswith("くる"):
            p = base[:-2]
            return Forms(base, p + "き", p + "こ", p + "きた", p + "こよう")
        return None
    if ctype == "サ行変格":
        if base.endswith("する"):
            p = base[:-2]
            return Forms(base, p + "し", p + "し", p + "した", p + "しよう")
        if base.endswith("ずる"):  # 信ずる → 信じます
            p = base[:-2]
            return Forms(base, p + "じ", p + "じ", p + "じた", p + "じよう")
        return None
    return None
