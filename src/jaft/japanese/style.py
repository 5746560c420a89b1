"""Polite (敬体, です・ます) ↔ plain (常体, だ・である) conversion of sentence-final predicates.

Only the predicate that ends each sentence changes; subordinate clauses, quoted speech (「…」) and
everything else stay byte-for-byte as written. A sentence already in the target style, or one whose
ending is not a predicate this module knows (a noun, a request, a rough particle such as な or わ),
comes back unchanged. The decision uses UniDic's conjugation data for each morpheme (``cType``,
``cForm``, ``lemma``, ``orthBase``), and :mod:`jaft.japanese.conjugate` builds the new forms.

    plain                polite
    行く / 行った         行きます / 行きました
    行かない / 行かなかった  行きません / 行きませんでした
    行こう               行きましょう
    食べている           食べています
    学生だ / 学生だった   学生です / 学生でした
    雨だろう             雨でしょう
    高い / 高かった       高いです / 高かったです
    時間がない           時間がありません
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

from jaft.japanese.analyzer import Morph, analyze_tokens, sentence_spans, spans_of
from jaft.japanese.conjugate import Forms, forms

Style = Literal["polite", "plain"]

_POLITE_AUX = frozenset({"助動詞-マス", "助動詞-デス"})
_ADJ_AUX = frozenset({"助動詞-タイ", "助動詞-ラシイ"})  # conjugate like i-adjectives: + です
# Final particles that keep their meaning across styles. Others (な: prohibition or exclamation,
# わ, ぞ, ぜ, さ, の, かな, っけ) belong to a casual register: such sentences are left alone.
_KEPT_PARTICLES = frozenset({"よ", "ね", "か"})
_PUNCT = frozenset({"補助記号", "記号", "空白"})

_COPULA_GOZARU = {"dict": "だ", "ta": "だった", "vol": "だろう", "naiない": "ではない", "naiなかった": "ではなかった"}

# A replacement: morphs [first, stop) of the line become ``text``.
Edit = tuple[int, int, str]


def _verbal(m: Morph | None) -> Forms | None:
    """Forms of a verb or verb-like auxiliary (られる, せる, てる, ちゃう), else None."""
    if m is None or m.pos1 not in ("動詞", "助動詞"):
        return None
    if m.pos1 == "助動詞" and not (m.cType.startswith(("五段", "上一段", "下一段")) or m.cType == "助動詞-レル"):
        return None
    return forms(m.cType, m.orthBase)


def _is_copula(m: Morph | None) -> bool:
    return m is not None and m.pos1 == "助動詞" and m.lemma == "だ"


def _is_adjectival(m: Morph | None) -> bool:
    # 形容詞, the i-adjective-like auxiliaries (たい, らしい) and suffixes (飼い-やすい, 子供-っぽい)
    return m is not None and (m.pos1 == "形容詞" or m.cType in _ADJ_AUX or m.cType == "形容詞")


def _is_nai_adjective(m: Morph | None) -> bool:
    return m is not None and m.pos1 == "形容詞" and m.lemma == "無い"


def predicate_end(ms: Sequence[Morph], first: int, stop: int) -> tuple[int, list[Morph]] | None:
    """End of the predicate (exclusive index) and the final particles after it, or None to skip."""
    j = stop
    while j > first and ms[j - 1].pos1 in _PUNCT:
        if ms[j - 1].pos2 in ("括弧閉", "括弧開"):
            return None  # ends in a quotation or parenthesis: not this sentence's predicate
        j -= 1
    particles: list[Morph] = []
    while j > first and ms[j - 1].pos2 == "終助詞":
        if ms[j - 1].surface not in _KEPT_PARTICLES:
            return None
        particles.insert(0, ms[j - 1])
        j -= 1
    return (j, particles) if j > first else None


def _already_polite(ms: Sequence[Morph], first: int, j: int) -> bool:
    k = j - 1
    while k >= first and ms[k].pos1 == "助動詞":
        if ms[k].cType in _POLITE_AUX:
            return True
        k -= 1
    return False


def _polite_edit(ms: Sequence[Morph], first: int, j: int, particles: Sequence[Morph] = ()) -> Edit | None:
    """Plain → polite for the predicate ending at ``j`` (exclusive)."""
    if _already_polite(ms, first, j):
        return None
    at = lambda i: ms[i] if i >= first else None  # noqa: E731
    last, p, pp = ms[j - 1], at(j - 2), at(j - 3)
    if particles and particles[0].surface == "か" and (
        last.pos1 in ("名詞", "代名詞", "形状詞", "副詞") or (last.pos1 == "接尾辞" and last.pos2 == "名詞的")
    ):
        return (j - 1, j, last.surface + "です")  # これは何か → これは何ですか
    if last.lemma == "た" and last.cType == "助動詞-タ":
        return _polite_past(j, p, pp)
    if last.cForm.startswith(("終止形", "連体形")):
        if last.lemma == "有る" and _is_copula(p) and p is not None and p.surface == "で":
            return (j - 2, j, "です")  # である
        f = _verbal(last)
        if f is not None:
            return (j - 1, j, f.masu + "ます")
        if last.cType == "助動詞-ナイ" and last.surface == "ない":
            fp = _verbal(p)
            if fp is not None and p is not None and p.cForm.startswith("未然形"):
                return (j - 2, j, fp.masu + "ません")
            return None
        if _is_nai_adjective(last):
            return (j - 1, j, "ありません")
        if _is_adjectival(last):
            return (j - 1, j, last.surface + "です")
        if _is_copula(last) and last.surface == "だ":
            return (j - 1, j, "です")
        return None
    if last.cForm == "意志推量形":
        if _is_copula(last):
            return (j - 1, j, "でしょう")  # だろう
        if last.lemma == "有る" and _is_copula(p) and p is not None and p.surface == "で":
            return (j - 2, j, "でしょう")  # であろう
        f = _verbal(last)
        return (j - 1, j, f.masu + "ましょう") if f is not None else None
    return None


def _polite_past(j: int, p: Morph | None, pp: Morph | None) -> Edit | None:
    """Plain past (…た / …だ) ending at ``j`` → polite; ``p``, ``pp`` are the morphs before た."""
    if p is None:
        return None
    if p.lemma == "有る" and _is_copula(pp) and pp is not None and pp.surface == "で":
        return (j - 3, j, "でした")  # であった
    fp = _verbal(p)
    if fp is not None:
        return (j - 2, j, fp.masu + "ました")
    if _is_copula(p):
        return (j - 2, j, "でした")  # だった
    if p.cType == "助動詞-ナイ":  # 行かなかった
        fpp = _verbal(pp)
        if fpp is not None and pp is not None and pp.cForm.startswith("未然形"):
            return (j - 3, j, fpp.masu + "ませんでした")
        return None
    if _is_nai_adjective(p):
        return (j - 2, j, "ありませんでした")
    if _is_adjectival(p):
        return (j - 1, j, "たです")  # 高かった → 高かったです
    return None


def _plain_verb(v: Morph, form: str) -> str | None:
    """Plain ``form`` (dict, nai, ta, vol) of the verb before ます; ある negates to ない."""
    if v.lemma == "御座る":
        return None  # ありがとうございます, おはようございます: set phrases, not a predicate to change
    if v.lemma == "有る" and form == "nai":
        return ""
    f = _verbal(v)
    return getattr(f, form) if f is not None else None


def _plain_edit(ms: Sequence[Morph], first: int, j: int, particles: list[Morph]) -> Edit | None:
    """Polite → plain for the predicate ending at ``j`` (exclusive)."""
    at = lambda i: ms[i] if i >= first else None  # noqa: E731
    last, p, pp, ppp = ms[j - 1], at(j - 2), at(j - 3), at(j - 4)

    def verb_edit(v_index: int, form: str, suffix: str) -> Edit | None:
        v = at(v_index)
        if v is None:
            return None
        # でございます / でございません: the copula's polite form, so plain is だ / ではない.
        if v.lemma == "御座る" and _is_copula(at(v_index - 1)):
            return (v_index - 1, j, _COPULA_GOZARU[form + suffix])
        word = _plain_verb(v, form)
        return None if word is None else (v_index, j, word + suffix)

    if last.cType == "助動詞-マス":
        if last.surface == "ます":
            return verb_edit(j - 2, "dict", "")
        if last.cForm == "意志推量形":
            return verb_edit(j - 2, "vol", "")
        return None
    if last.cType == "助動詞-ヌ" and p is not None and p.cType == "助動詞-マス":
        return verb_edit(j - 3, "nai", "ない")  # ません
    if last.lemma == "た" and last.cType == "助動詞-タ" and p is not None:
        if p.cType == "助動詞-マス":
            return verb_edit(j - 3, "ta", "")  # ました
        if p.cType == "助動詞-デス":
            if pp is not None and pp.cType == "助動詞-ヌ" and ppp is not None and ppp.cType == "助動詞-マス":
                return verb_edit(j - 5, "nai", "なかった")  # ませんでした
            return (j - 2, j, "だった")  # でした
        return None
    if last.cType == "助動詞-デス":
        if last.cForm == "意志推量形":
            return (j - 1, j, "だろう")  # でしょう
        if last.surface != "です":
            return None
        if p is not None and (_is_adjectival(p) or p.cType in ("助動詞-ナイ", "助動詞-タ")):
            return (j - 1, j, "")  # 高いです → 高い, 行かないです → 行かない
        if particles and particles[0].surface == "か":
            return (j - 1, j, "")  # 学生ですか → 学生か (だか is not Japanese)
        return (j - 1, j, "だ")
    return None


def sentence_edits(
    morphs: Sequence[Morph], target: Style, spans: Sequence[tuple[int, int]] | None = None
) -> list[Edit]:
    """The edits that bring each sentence of an analysed line to ``target`` style."""
    edits: list[Edit] = []
    for first, stop in spans if spans is not None else sentence_spans(morphs):
        end = predicate_end(morphs, first, stop)
        if end is None:
            continue
        j, particles = end
        edit = (_polite_edit(morphs, first, j, particles) if target == "polite"
                else _plain_edit(morphs, first, j, particles))
        if edit is not None and all(morphs[i].start >= 0 for i in range(edit[0], edit[1])):
            edits.append(edit)
    return edits


def apply_edits(line: str, start: Sequence[int], end: Sequence[int], edits: Sequence[Edit]) -> str:
    """``line`` with morphemes ``[first, stop)`` of each edit replaced by its text; ``start[i]`` /
    ``end[i]``: morpheme ``i``'s character offsets in ``line`` (:class:`~jaft.japanese.analyzer.Tokens`'
    columns). Text between the ranges is kept as written."""
    out: list[str] = []
    pos = 0
    for first, stop, text in sorted(edits):
        out.append(line[pos:start[first]])
        out.append(text)
        pos = end[stop - 1]
    out.append(line[pos:])
    return "".join(out)


def composed_view(line: str) -> tuple[str, list[int]] | None:
    """``line`` with each base character + combining marks composed (NFC per cluster: NFD text from
    macOS, ``て`` + U+3099 → ``で``), and for each offset of the composed text (plus its end) the
    offset in ``line``; None when nothing composes. Lone UTF-16 surrogates (invalid text that
    MeCab cannot take) become U+FFFD in the view, one for one."""
    if line.isascii() or (unicodedata.is_normalized("NFC", line) and not _SURROGATE.search(line)):
        return None
    out: list[str] = []
    offsets: list[int] = []
    i, n = 0, len(line)
    while i < n:
        j = i + 1
        while j < n and (unicodedata.combining(line[j]) or line[j] in "\u3099\u309a"):
            j += 1
        cluster = line[i:j]
        piece = unicodedata.normalize("NFC", cluster) if j - i > 1 else _SURROGATE.sub("\ufffd", cluster)
        out.append(piece)
        offsets.extend([i] * len(piece))
        i = j
    offsets.append(n)
    return "".join(out), offsets


_SURROGATE = re.compile("[\ud800-\udfff]")


def convert_line(line: str, target: Style) -> str:
    """``line`` with each sentence's final predicate in ``target`` style; everything else as written.

    Analysis sees composed kana (:func:`composed_view`), so NFD input converts like NFC input; the
    untouched parts of the line keep their original code points.
    """
    view = composed_view(line)
    t = analyze_tokens(line if view is None else view[0])
    edits = sentence_edits(t.morphs, target, spans_of(t.surface, t.pos1))
    if not edits:
        return line
    if view is None:
        return apply_edits(line, t.start, t.end, edits)
    offsets = view[1]  # the composed view's offsets → the line's (edits never touch an unplaced morpheme)
    return apply_edits(line, [offsets[i] if i >= 0 else -1 for i in t.start],
                       [offsets[i] if i >= 0 else -1 for i in t.end], edits)


def convert(text: str, target: Style) -> str:
    """Every line of ``text`` converted to ``target`` style (line breaks kept)."""
    if target not in ("polite", "plain"):
        raise ValueError(f"style must be 'polite' or 'plain', not {target!r}")
    return "\n".join(convert_line(line, target) for line in text.split("\n"))


def to_polite(text: str) -> str:
    """Sentence-final predicates to 敬体 (です・ます): 行く → 行きます, 学生だ → 学生です."""
    return convert(text, "polite")


def to_plain(text: str) -> str:
    """Sentence-final predicates to 常体 (だ・である): 行きます → 行く, 学生です → 学生だ."""
    return convert(text, "plain")
