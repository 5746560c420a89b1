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

from jaft.japanese.analyzer import Morph, analyze, sentence_spans
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


LineEdits = Callable[[list[Morph], list[tuple[int, int]]], list[Edit]]  # (morphs, sentence spans) → edits


class Analysed:
    """A text split into lines, each with its morphemes and sentence spans (analysed once, shared
    by every kind). ``polite``: whether a polite auxiliary (ます, です) occurs anywhere in the text."""

    __slots__ = ("lines", "morphs", "polite", "spans", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.morphs = [analyze(line) for line in self.lines]
        self.spans = [sentence_spans(ms) for ms in self.morphs]
        self.polite = any(m.cType in _POLITE_AUX for ms in self.morphs for m in ms)

    def rewrite(self, edits_for_line: LineEdits) -> tuple[str, int]:
        """The text with each line's edits applied, and how many edits there were."""
        out: list[str] = []
        count = 0
        for line, ms, spans in zip(self.lines, self.morphs, self.spans, strict=True):
            edits = [e for e in edits_for_line(ms, spans) if all(ms[i].start >= 0 for i in range(e[0], e[1]))]
            count += len(edits)
            out.append(apply_edits(line, ms, edits) if edits else line)
        return "\n".join(out), count


def _changed(out: list[tuple[str, int]], detail: str = "") -> tuple[list[str], str] | None:
    return ([t for t, _ in out], detail) if any(c for _, c in out) else None


# --- style --------------------------------------------------------------------------------------
_POLITE_AUX = frozenset({"助動詞-マス", "助動詞-デス"})


def _style(fields: Sequence[Analysed], rng: Chooser) -> tuple[list[str], str] | None:
    # Text with polite endings goes plain, other text polite; if that changes nothing (a text that
    # mixes styles), the other direction is tried.
    first: Style = "plain" if any(a.polite for a in fields) else "polite"
    for target in (first, "polite" if first == "plain" else "plain"):
        out = _changed([a.rewrite(lambda ms, spans, t=target: sentence_edits(ms, t, spans)) for a in fields],
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


def _omission_edits(ms: list[Morph], spans: list[tuple[int, int]]) -> list[Edit]:
    edits: list[Edit] = []
    for i in range(1, len(ms) - 1):
        m, prev, nxt = ms[i], ms[i - 1], ms[i + 1]
        if m.pos1 != "助詞" or prev.pos1 not in ("名詞", "代名詞") or prev.surface in _NOT_OMITTED_AFTER:
            continue
        if (
            (m.surface == "を" and m.pos2 == "格助詞" and nxt.pos1 == "動詞")
            or (m.surface == "が" and m.pos2 == "格助詞" and nxt.lemma in _GA_PREDICATES)
            or (m.surface == "は" and m.pos2 == "係助詞" and prev.surface in _WA_TOPICS
                and nxt.pos1 not in ("助詞", "補助記号"))
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

    def edits(ms: list[Morph], spans: list[tuple[int, int]]) -> list[Edit]:
        out: list[Edit] = []
        for i, m in enumerate(ms):
            group = _ADVERBS.get(m.surface)
            if group and (m.pos1 == "副詞" or (m.pos1 == "形容詞" and m.surface in _ADVERB_AS_ADJECTIVE)):
                new = rng.choice([w for w in group if w != m.surface])
                swaps.append(f"{m.surface}→{new}")
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
_FINAL_ENDINGS = sorted(_FINAL, key=len, reverse=True)
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
    tail = "".join(m.surface for m in ms[k0:j])
    for ending in _FINAL_ENDINGS:
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


def _final_edits(ms: list[Morph], spans: list[tuple[int, int]]) -> list[Edit]:
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

    def prefixed(ms: list[Morph], i: int) -> bool:
        return (i > 0 and ms[i - 1].pos1 == "接頭辞" and ms[i - 1].surface == _BIKAGO.get(ms[i].surface)
                and ms[i].pos1 == "名詞")

    has_prefixed = any(prefixed(ms, i) for a in fields for ms in a.morphs for i in range(len(ms)))

    def drop(ms: list[Morph], spans: list[tuple[int, int]]) -> list[Edit]:
        return [(i - 1, i, "") for i in range(len(ms)) if prefixed(ms, i)]

    def add(ms: list[Morph], spans: list[tuple[int, int]]) -> list[Edit]:
        out: list[Edit] = []
        for i, m in enumerate(ms):
            prefix = _BIKAGO.get(m.surface)
            if prefix is None or m.pos1 != "名詞":
                continue
            # Only a free-standing noun: 日本茶, 花屋 and 焼き肉 are compounds that take no prefix.
            if i > 0 and ms[i - 1].pos1 in ("名詞", "接頭辞", "動詞", "形容詞") and ms[i - 1].end == m.start:
                continue
            if i + 1 < len(ms) and ms[i + 1].pos1 in ("名詞", "接尾辞"):
                continue
            out.append((i, i + 1, prefix + m.surface))
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
