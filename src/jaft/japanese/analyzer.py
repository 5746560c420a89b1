"""Morphological analysis with fugashi + unidic-lite: one tagger per process, created on first use.

:func:`analyze_tokens` returns one line's morphemes column-wise (:class:`Tokens`), :func:`analyze`
the same as :class:`Morph` tuples. Both carry UniDic's conjugation data (``cType`` such as
``五段-カ行``, ``cForm`` such as ``連用形-促音便``, ``lemma`` and ``orthBase``), the same fields as
fugashi's ``UnidicNode.feature``. They are read through a MeCab output format that prints only these
fields and the whitespace MeCab skipped before each morpheme: one C call and one string split per
line, each column one slice of that split, each offset a running sum of lengths. That is about twice
as fast as building ``UnidicNode`` objects and splitting every feature string in Python, which matters
when the data pipeline analyses every record of a corpus.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from itertools import accumulate, compress, count
from operator import add, sub
from typing import NamedTuple

from jaft.errors import JaftError

# %pS is the whitespace MeCab skipped before the morpheme (so offsets come from lengths, not
# searching); %f[N] indices in unidic-lite's dicrc: 0 pos1, 1 pos2, 4 cType, 5 cForm, 7 lemma,
# 10 orthBase. MeCab prints "*" fields as empty. Unknown words have no lemma: use the surface.
_ARGS = (
    r'-O "" -F "%pS\t%m\t%f[0]\t%f[1]\t%f[4]\t%f[5]\t%f[7]\t%f[10]\n" '
    r'-U "%pS\t%m\t%f[0]\t%f[1]\t\t\t%m\t%m\n" -E "" -B ""'
)
_COLUMNS = 8


class Morph(NamedTuple):
    surface: str
    pos1: str  # 動詞, 助動詞, 形容詞, 名詞, 助詞, 補助記号 …
    pos2: str  # 終助詞, 格助詞, 句点, 括弧閉 …
    cType: str  # conjugation type: 五段-カ行, 下一段-バ行, カ行変格, サ行変格, 助動詞-マス …
    cForm: str  # conjugation form: 終止形-一般, 連用形-促音便, 未然形-一般, 意志推量形 …
    lemma: str  # dictionary lemma (有る, 居る, 為る)
    orthBase: str  # base form in the surface's own spelling (ある, いる, する)
    start: int  # character offset in the analysed line, -1 if it could not be located

    @property
    def end(self) -> int:
        return self.start + len(self.surface)


_lock = threading.Lock()
_state: dict[str, object] = {"pid": None, "tagger": None}


def tagger():
    """The process's fugashi tagger (created once: loading the dictionary takes ~0.4 s)."""
    pid = os.getpid()
    if _state["pid"] != pid:  # first use, or a forked child that must not share the parent's
        with _lock:
            if _state["pid"] != pid:
                _state["tagger"] = _make_tagger()
                _state["pid"] = pid
    return _state["tagger"]


def _make_tagger():
    try:
        import fugashi
    except ImportError:
        raise JaftError(
            "fugashi is not installed; Japanese analysis needs it: pip install 'fugashi[unidic-lite]'"
        ) from None
    try:
        return fugashi.Tagger(_ARGS)
    except RuntimeError as e:
        raise JaftError(
            f"fugashi could not load a UniDic dictionary ({str(e).strip().splitlines()[0]}); "
            "pip install unidic-lite"
        ) from None


# Morphs are built column-wise (zip of the field columns) through tuple.__new__, skipping the
# per-call argument handling of NamedTuple.__new__: half the Python cost of a row-by-row loop.
_make_morph = functools.partial(tuple.__new__, Morph)


class Tokens:
    """One analysed line, column-wise: ``surface[i]``, ``pos1[i]`` … ``start[i]`` describe morpheme
    ``i`` (the fields of :class:`Morph`), ``end[i]`` is ``start[i] + len(surface[i])`` (-1 where the
    start is unknown). Rules that scan a whole line (sentence ends, polite
    auxiliaries, particles) test a column with one C-level call (``map``, ``compress``,
    ``isdisjoint``) instead of a Python loop over Morph objects; :attr:`morphs` builds those objects
    on first use, for the rules that look at a few morphemes in detail."""

    __slots__ = ("_morphs", "cForm", "cType", "end", "lemma", "orthBase", "pos1", "pos2", "start", "surface")

    def __init__(self, columns: Sequence[list[str]], start: list[int], end: list[int]) -> None:
        self.surface, self.pos1, self.pos2, self.cType, self.cForm, self.lemma, self.orthBase = columns
        self.start, self.end = start, end
        self._morphs: list[Morph] | None = None

    def __len__(self) -> int:
        return len(self.surface)

    @property
    def morphs(self) -> list[Morph]:
        if self._morphs is None:
            self._morphs = list(map(_make_morph, zip(self.surface, self.pos1, self.pos2, self.cType, self.cForm,
                                                     self.lemma, self.orthBase, self.start, strict=True)))
        return self._morphs

    @property
    def located(self) -> bool:
        """Whether every morpheme's offset is known (False only after MeCab printed a malformed row)."""
        return -1 not in self.start


def _empty() -> Tokens:
    return Tokens([[] for _ in range(_COLUMNS - 1)], [], [])


def analyze_tokens(line: str) -> Tokens:
    """Morphemes of one line of text (no newlines: split text into lines first), column-wise."""
    if not line:
        return _empty()
    # A tab or newline would be printed inside the whitespace column and shift every column after it;
    # MeCab skips a space exactly as it skips them (all SPACE in char.def), and the offsets stay the same.
    text = line.replace("\t", " ").replace("\n", " ") if "\t" in line or "\n" in line else line
    out = tagger().parse(text)
    fields = out.replace("\n", "\t").split("\t")
    if not fields[-1]:  # fugashi strips the last newline; this is an empty output
        fields.pop()
    if len(fields) % _COLUMNS:
        return _analyze_rows(line, out)  # a row MeCab could not print cleanly: go row by row
    surface = fields[1::_COLUMNS]
    lengths = list(map(len, surface))
    skipped = fields[0::_COLUMNS]  # whitespace before each morpheme, almost always ""
    ends = list(accumulate(map(add, map(len, skipped), lengths) if any(skipped) else lengths))
    start = list(map(sub, ends, lengths))
    # MeCab's surfaces point into its input, so the lengths place them; a misplaced one would shift
    # the last one too (checked in O(1)). If it does not sit there, locate each one by search.
    if start and not text.startswith(surface[-1], start[-1]):
        return _analyze_rows(line, out)
    return Tokens([surface, *(fields[k::_COLUMNS] for k in range(2, _COLUMNS))], start, ends)


def analyze(line: str) -> list[Morph]:
    """Morphemes of one line of text (no newlines: split text into lines first)."""
    return analyze_tokens(line).morphs


def _analyze_rows(line: str, out: str) -> Tokens:
    rows: list[tuple[str, ...]] = []
    start: list[int] = []
    pos = 0
    for row in out.split("\n"):
        if not row:
            continue
        f = row.split("\t")[1:]
        if len(f) != _COLUMNS - 1:  # keep the surface, unlocated, so callers leave that sentence alone
            surface = f[0] if f and f[0] else row
            rows.append((surface, "", "", "", "", surface, surface))
            start.append(-1)
            continue
        s = line.find(f[0], pos)
        if s >= 0:
            pos = s + len(f[0])
        rows.append(tuple(f))
        start.append(s)
    if not rows:
        return _empty()
    end = [s + len(r[0]) if s >= 0 else -1 for r, s in zip(rows, start, strict=True)]
    return Tokens([list(c) for c in zip(*rows, strict=True)], start, end)


_OPEN = frozenset("「『（(【〈《〔［[｛{“‘")
_CLOSE = frozenset("」』）)】〉》〕］]｝}”’")
_TERMINAL = frozenset("。！？!?．｡")
_PUNCT_POS = frozenset({"補助記号", "記号", ""})  # "" = unknown words that MeCab could not classify


def sentence_spans(morphs: Sequence[Morph]) -> list[tuple[int, int]]:
    """``(first, stop)`` morph index ranges of the sentences of a line (see :func:`spans_of`)."""
    return spans_of([m.surface for m in morphs], [m.pos1 for m in morphs])


def spans_of(surface: Sequence[str], pos1: Sequence[str]) -> list[tuple[int, int]]:
    """``(first, stop)`` morph index ranges of the sentences of a line, from its surface and pos1
    columns (:class:`Tokens`).

    A sentence ends after 。！？ (and any closing punctuation right after them) outside brackets,
    so a quoted 「行こう。帰ろう。」 stays inside the sentence that quotes it.
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    first = 0
    n = len(surface)
    # Only punctuation (or unclassified) morphemes can open, close or end a sentence: visit those.
    for i in compress(count(), map(_PUNCT_POS.__contains__, pos1)):
        if i < first:  # already taken in by the trailing punctuation of the sentence before
            continue
        s = surface[i]
        if s in _OPEN:
            depth += 1
        elif s in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and s[-1] in _TERMINAL:
            while i + 1 < n and (surface[i + 1][-1] in _TERMINAL or surface[i + 1] in "…‥"):
                i += 1
            spans.append((first, i + 1))
            first = i + 1
    if first < n:
        spans.append((first, n))
    return spans
