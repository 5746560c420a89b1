"""Linguistic variants of Japanese text for data augmentation (seed 001's variant kinds).

Each variant is labelled with its kind:

- ``style``: the polite ↔ plain switch of :mod:`jaft.japanese.style` (whichever direction changes
  the text: polite text becomes plain, plain text becomes polite).
- ``particle_omission``: casual register drops は/が/を where speakers do (``ご飯を食べる`` →
  ``ご飯食べる``, ``時間がない`` → ``時間ない``, ``これは何だ`` → ``これ何だ``); only in plain text,
  because polite speech keeps its particles.
- ``adverb``: an adverb swapped within a curated group of near-synonyms (とても / 大変 / すごく).
- ``sentence_final``: another ending with the same meaning (だ ↔ である, のだ ↔ んだ,
  と思う ↔ と考える, ようだ ↔ みたいだ, なければならない ↔ なくてはならない).
- ``honorific``: beautifying お/ご on a curated list of nouns added (茶 → お茶) or, when the text
  already uses them, dropped (casual form).

Particle *substitutions* (が↔を, に↔で) are never produced: they change grammar or meaning, so they
are noise, not paraphrases. A variant never equals the original or an earlier variant.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import compress, count

from jaft.japanese.analyzer import Morph, Tokens, analyze_tokens, spans_of
from jaft.japanese.style import Edit, Style, apply_edits, predicate_end, sentence_edits

VARIANT_KINDS: tuple[str, ...] = ("style", "particle_omission", "adverb", "sentence_final", "honorific")


@dataclass(frozen=True)
class Variant:
    kind: str
    texts: tuple[str, ...]  # one per input field, same order
    detail: str = ""


class Chooser:
    """Deterministic choices seeded by a string (splitmix64 steps): setting up ``random.Random`` per
    record would cost more than the variants themselves."""

    _MASK = (1 << 64) - 1

    def __init__(self, seed: str) -> None:
        self.state = int.from_bytes(hashlib.blake2b(seed.encode("utf-8"), digest_size=8).digest(), "little")

    def next(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return z ^ (z >> 31)

    def choice(self, seq: Sequence[str]) -> str:
        return seq[self.next() % len(seq)]

    def shuffle(self, items: list[str]) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.next() % (i + 1)
            items[i], items[j] = items[j], items[i]


LineEdits = Callable[[Tokens, list[tuple[int, int]]], list[Edit]]  # (morphemes, sentence spans) → edits


class Analysed:
    """A text split into lines, each with its morphemes and sentence spans (analysed once, shared
    by every kind). ``polite``: whether a polite auxiliary (ます, です) occurs anywhere in the text."""

    __slots__ = ("lines", "polite", "spans", "text", "tokens")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.tokens = [analyze_tokens(line) for line in self.lines]
        self.spans = [spans_of(t.surface, t.pos1) for t in self.tokens]
        self.polite = not all(_POLITE_AUX.isdisjoint(t.cType) for t in self.tokens)

    def rewrite(self, edits_for_line: LineEdits) -> tuple[str, int]:
        """The text with each line's edits applied, and how many edits there were."""
        out: list[str] = []
        n = 0
        for line, t, spans in zip(self.lines, self.tokens, self.spans, strict=True):
            edits = edits_for_line(t, spans)
            if not edits:
                out.append(line)
                continue
            if not t.located:  # leave alone what MeCab could not place in the line
                edits = [e for e in edits if -1 not in t.start[e[0]:e[1]]]
            n += len(edits)
            out.append(apply_edits(line, t.start, t.end, edits))
        return "\n".join(out), n


def _changed(out: list[tuple[str, int]], detail: str = "") -> tuple[list[str], str] | None:
    return ([t for t, _ in out], detail) if any(c for _, c in out) else None


# --- style --------------------------------------------------------------------------------------
_POLITE_AUX = frozenset({"助動詞-マス", "助動詞-デス"})


def _style(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    # Text with polite endings goes plain, other text polite; if that changes nothing (a text that
    # mixes styles), the other direction is tried.
    first: Style = "plain" if any(a.polite for a in fields) else "polite"
    for target in (first, "polite" if first == "plain" else "plain"):
        out = _changed([a.rewrite(lambda t, spans, s=target: sentence_edits(t.morphs, s, spans)) for a in fields],
                       f"to {target}")
        if out is not None:
            return out
    return None


def _is_plain(fields: Sequence[Analysed]) -> bool:
    return not any(a.polite for a in fields)


# --- particle omission --------------------------------------------------------------------------
_GA_PREDICATES = frozenset({"有る", "居る", "無い", "欲しい", "好き", "嫌い", "出来る", "分かる", "要る"})
_WA_TOPICS = frozenset({"これ", "それ", "あれ", "今日", "明日", "昨日", "今", "俺", "僕"})
_NOT_OMITTED_AFTER = frozenset({"こと", "もの", "の", "ところ", "ため", "よう", "方"})


_OMITTED = frozenset({"を", "が", "は"})


def _omission_edits(t: Tokens, spans: list[tuple[int, int]]) -> list[Edit]:
    edits: list[Edit] = []
    s, pos1, pos2 = t.surface, t.pos1, t.pos2
    last = len(s) - 1
    for i in compress(count(), map(_OMITTED.__contains__, s)):  # only は/が/を can be dropped
        if i == 0 or i >= last or pos1[i] != "助詞" or pos1[i - 1] not in ("名詞", "代名詞") \
                or s[i - 1] in _NOT_OMITTED_AFTER:
            continue
        m = s[i]
        if (
            (m == "を" and pos2[i] == "格助詞" and pos1[i + 1] == "動詞")
            or (m == "が" and pos2[i] == "格助詞" and t.lemma[i + 1] in _GA_PREDICATES)
            or (m == "は" and pos2[i] == "係助詞" and s[i - 1] in _WA_TOPICS and pos1[i + 1] not in ("助詞", "補助記号"))
        ):
            edits.append((i, i + 1, ""))
    return edits


def _particle_omission(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    if not _is_plain(fields):
        return None
    return _changed([a.rewrite(_omission_edits) for a in fields])


# --- adverbs ------------------------------------------------------------------------------------
_ADVERB_GROUPS = (
    ("とても", "大変", "すごく"),
    ("少し", "ちょっと"),
    ("たくさん", "いっぱい"),
    ("たぶん", "おそらく"),
    ("やはり", "やっぱり"),
    ("全然", "まったく"),
    ("ついに", "とうとう"),
    ("特に", "とりわけ"),
    ("かなり", "ずいぶん", "相当"),
    ("きちんと", "ちゃんと"),
)
_ADVERBS = {w: g for g in _ADVERB_GROUPS for w in g}
_ADVERB_RE = re.compile("|".join(sorted(_ADVERBS, key=len, reverse=True)))
_ADVERB_AS_ADJECTIVE = frozenset({"すごく"})  # UniDic: 凄い's 連用形, used adverbially


def _adverb(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    if not any(_ADVERB_RE.search(a.text) for a in fields):  # cheap test before walking morphemes
        return None
    swaps: list[str] = []

    def edits(t: Tokens, spans: list[tuple[int, int]]) -> list[Edit]:
        out: list[Edit] = []
        for i in compress(count(), map(_ADVERBS.__contains__, t.surface)):
            word, pos1 = t.surface[i], t.pos1[i]
            if pos1 == "副詞" or (pos1 == "形容詞" and word in _ADVERB_AS_ADJECTIVE):
                new = rng.choice([w for w in _ADVERBS[word] if w != word])
                swaps.append(f"{word}→{new}")
                out.append((i, i + 1, new))
        return out

    out = [a.rewrite(edits) for a in fields]
    return _changed(out, ", ".join(swaps))


# --- sentence-final expressions -----------------------------------------------------------------
# Whole-morph suffixes of a predicate and an equivalent ending (both directions are listed).
_FINAL_PAIRS = (
    ("と思う", "と考える"), ("と思います", "と考えます"), ("と思った", "と考えた"), ("と思いました", "と考えました"),
    ("ようだ", "みたいだ"), ("ようです", "みたいです"),
    ("なければならない", "なくてはならない"), ("なければなりません", "なくてはなりません"),
)
# みたい attaches to nouns directly where よう needs の: 雨のようだ ↔ 雨みたいだ, 行くようだ ↔ 行くみたいだ.
_FINAL = {**dict(_FINAL_PAIRS), **{b: a for a, b in _FINAL_PAIRS}, "のようだ": "みたいだ", "のようです": "みたいです"}
_FINAL_ENDINGS = tuple(sorted(_FINAL, key=len, reverse=True))
_FINAL_MAX_MORPHS = 6


def _final_edit(ms: list[Morph], first: int, stop: int) -> Edit | None:
    end = predicate_end(ms, first, stop)
    if end is None:
        return None
    j, _ = end
    last = ms[j - 1]
    prev = ms[j - 2] if j - 2 >= first else None
    # Longest table ending that ends on this predicate and starts on a morpheme boundary.
    k0 = max(first, j - _FINAL_MAX_MORPHS)
    tail = "".join([m.surface for m in ms[k0:j]])
    for ending in _FINAL_ENDINGS if tail.endswith(_FINAL_ENDINGS) else ():  # one C call rules most out
        if tail.endswith(ending):
            cut, k = len(tail) - len(ending), k0
            while cut > 0 and k < j:
                cut -= len(ms[k].surface)
                k += 1
            if cut == 0:
                alt = _FINAL[ending]
                if ending.startswith("みたい") and k > first and ms[k - 1].pos1 in ("名詞", "代名詞"):
                    alt = "の" + alt
                return (k, j, alt)
    copula = last.pos1 == "助動詞" and last.lemma == "だ" and last.surface == "だ"
    if copula and prev is not None and prev.pos2 == "準体助詞":  # のだ ↔ んだ
        return (j - 2, j, ("ん" if prev.surface == "の" else "の") + "だ")
    if last.cType == "助動詞-デス" and last.surface == "です" and prev is not None and prev.pos2 == "準体助詞":
        return (j - 2, j, ("ん" if prev.surface == "の" else "の") + "です")
    if copula:
        return (j - 1, j, "である")
    if last.lemma == "有る" and last.surface == "ある" and prev is not None and prev.surface == "で" \
            and prev.pos1 == "助動詞":
        return (j - 2, j, "だ")  # である → だ
    return None


def _final_edits(t: Tokens, spans: list[tuple[int, int]]) -> list[Edit]:
    if not spans:
        return []
    ms = t.morphs
    return [e for first, stop in spans if (e := _final_edit(ms, first, stop)) is not None]


def _sentence_final(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    return _changed([a.rewrite(_final_edits) for a in fields])


# --- honorific / casual nouns -------------------------------------------------------------------
# 美化語: nouns whose お/ご form is ordinary polite speech whoever owns the thing. Nouns where the
# prefix shows respect to the listener's own things (お名前, ご家族) are left out: adding it to the
# speaker's own would be wrong.
_BIKAGO_O = (
    "茶", "酒", "水", "米", "菓子", "弁当", "花", "天気", "店", "皿", "箸", "湯", "風呂", "祭り", "寺", "土産",
    "正月", "肉", "野菜", "餅", "礼", "手紙", "庭", "料理", "塩", "砂糖", "醤油", "鍋", "散歩", "買い物", "掃除",
    "洗濯", "花見", "墓", "茶碗", "布団", "部屋",
)
_BIKAGO = {**dict.fromkeys(_BIKAGO_O, "お"), "褒美": "ご", "近所": "ご"}
_BIKAGO_RE = re.compile("|".join(sorted(_BIKAGO, key=len, reverse=True)))


def _honorific(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    if not any(_BIKAGO_RE.search(a.text) for a in fields):
        return None

    def nouns(t: Tokens) -> list[int]:  # indexes of the listed nouns
        return [i for i in compress(count(), map(_BIKAGO.__contains__, t.surface)) if t.pos1[i] == "名詞"]

    def prefixed(t: Tokens, i: int) -> bool:
        return i > 0 and t.pos1[i - 1] == "接頭辞" and t.surface[i - 1] == _BIKAGO[t.surface[i]]

    has_prefixed = any(prefixed(t, i) for a in fields for t in a.tokens for i in nouns(t))

    def drop(t: Tokens, spans: list[tuple[int, int]]) -> list[Edit]:
        return [(i - 1, i, "") for i in nouns(t) if prefixed(t, i)]

    def add(t: Tokens, spans: list[tuple[int, int]]) -> list[Edit]:
        out: list[Edit] = []
        s, pos1 = t.surface, t.pos1
        for i in nouns(t):
            # Only a free-standing noun: 日本茶, 花屋 and 焼き肉 are compounds that take no prefix.
            if i > 0 and pos1[i - 1] in ("名詞", "接頭辞", "動詞", "形容詞") and t.end[i - 1] == t.start[i]:
                continue
            if i + 1 < len(s) and pos1[i + 1] in ("名詞", "接尾辞"):
                continue
            out.append((i, i + 1, _BIKAGO[s[i]] + s[i]))
        return out

    return _changed([a.rewrite(drop if has_prefixed else add) for a in fields],
                    "casual" if has_prefixed else "honorific")


_KINDS: dict[str, Callable[[Sequence[Analysed], Chooser], tuple[list[str], str] | None]] = {
    "style": _style,
    "particle_omission": _particle_omission,
    "adverb": _adverb,
    "sentence_final": _sentence_final,
    "honorific": _honorific,
}


def variants_of_fields(
    fields: Sequence[str], n: int, *, seed: int | str = 0, kinds: Sequence[str] = VARIANT_KINDS
) -> list[Variant]:
    """Up to ``n`` variants of a record whose text lives in ``fields`` (e.g. every chat message).

    Each kind is applied to all fields at once so a variant stays consistent (a whole dialogue
    switches to plain style). Kinds are tried in an order shuffled by ``seed`` and the text, so
    the result is deterministic and different records get different kinds.
    """
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown:
        raise ValueError(f"unknown variant kind(s) {unknown}; choose from {list(VARIANT_KINDS)}")
    if n <= 0 or not any(f.strip() for f in fields):
        return []
    rng = Chooser(f"{seed}\x00" + "\x00".join(fields))
    order = list(kinds)
    rng.shuffle(order)
    analysed = [Analysed(f) for f in fields]
    seen = {tuple(fields)}
    out: list[Variant] = []
    for kind in order:
        result = _KINDS[kind](analysed, rng)
        if result is None:
            continue
        texts, detail = tuple(result[0]), result[1]
        if texts in seen:
            continue
        seen.add(texts)
        out.append(Variant(kind, texts, detail))
        if len(out) >= n:
            break
    return out


def generate_variants(text: str, n: int = 3, *, seed: int | str = 0,
                      kinds: Sequence[str] = VARIANT_KINDS) -> list[tuple[str, str]]:
    """Up to ``n`` ``(kind, variant_text)`` pairs for one text (see :func:`variants_of_fields`)."""
    return [(v.kind, v.texts[0]) for v in variants_of_fields([text], n, seed=seed, kinds=kinds)]
