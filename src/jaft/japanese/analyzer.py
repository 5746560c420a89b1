"""Morphological analysis with fugashi + unidic-lite: one tagger per process, created on first use.

:func:`analyze` returns :class:`Morph` tuples carrying UniDic's conjugation data (``cType`` such as
``五段-カ行``, ``cForm`` such as ``連用形-促音便``, ``lemma`` and ``orthBase``), the same fields as
fugashi's ``UnidicNode.feature``. They are read through a MeCab output format that prints only
these fields: one C call and two string splits per line, about twice as fast as building
``UnidicNode`` objects and splitting every feature string in Python, which matters when the data
pipeline analyses every record of a corpus.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from typing import NamedTuple

from jaft.errors import JaftError

# %f[N] indices in unidic-lite's dicrc: 0 pos1, 1 pos2, 4 cType, 5 cForm, 7 lemma, 10 orthBase.
# MeCab prints "*" fields as empty. Unknown words have no lemma: use the surface.
_ARGS = (
    r'-O "" -F "%m\t%f[0]\t%f[1]\t%f[4]\t%f[5]\t%f[7]\t%f[10]\n" '
    r'-U "%m\t%f[0]\t%f[1]\t\t\t%m\t%m\n" -E "" -B ""'
)


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


# Morphs are built column-wise (zip of the 7 field columns) through tuple.__new__, skipping the
# per-call argument handling of NamedTuple.__new__: half the Python cost of a row-by-row loop.
_make_morph = functools.partial(tuple.__new__, Morph)


def analyze(line: str) -> list[Morph]:
    """Morphemes of one line of text (no newlines: split text into lines first)."""
    if not line:
        return []
    out = tagger().parse(line)
    fields = out.replace("\n", "\t").split("\t")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 7:
        return _analyze_rows(line, out)  # a row MeCab could not print cleanly: go row by row
    surfaces = fields[0::7]
    starts = []
    find = line.find
    pos = 0
    for surface in surfaces:
        start = find(surface, pos)
        if start >= 0:
            pos = start + len(surface)
        starts.append(start)
    columns = (fields[k::7] for k in range(1, 7))
    return list(map(_make_morph, zip(surfaces, *columns, starts, strict=True)))


def _analyze_rows(line: str, out: str) -> list[Morph]:
    morphs: list[Morph] = []
    pos = 0
    for row in out.split("\n"):
        if not row:
            continue
        f = row.split("\t")
        if len(f) != 7:  # keep the surface, unlocated, so callers leave that sentence alone
            morphs.append(Morph(f[0], "", "", "", "", f[0], f[0], -1))
            continue
        start = line.find(f[0], pos)
        if start >= 0:
            pos = start + len(f[0])
        morphs.append(Morph(*f, start))
    return morphs


_OPEN = frozenset("「『（(【〈《〔［[｛{“‘")
_CLOSE = frozenset("」』）)】〉》〕］]｝}”’")
_TERMINAL = frozenset("。！？!?．｡")
_PUNCT_POS = frozenset({"補助記号", "記号", ""})  # "" = unknown words that MeCab could not classify


def sentence_spans(morphs: Sequence[Morph]) -> list[tuple[int, int]]:
    """``(first, stop)`` morph index ranges of the sentences of a line.

    A sentence ends after 。！？ (and any closing punctuation right after them) outside brackets,
    so a quoted 「行こう。帰ろう。」 stays inside the sentence that quotes it.
    """
    spans: list[tuple[int, int]] = []
    depth = 0
    first = 0
    i = 0
    n = len(morphs)
    while i < n:
        m = morphs[i]
        if m.pos1 not in _PUNCT_POS:  # most morphemes: one test and on
            i += 1
            continue
        s = m.surface
        if s in _OPEN:
            depth += 1
        elif s in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0 and s[-1] in _TERMINAL:
            while i + 1 < n and (morphs[i + 1].surface[-1] in _TERMINAL or morphs[i + 1].surface in "…‥"):
                i += 1
            spans.append((first, i + 1))
            first = i + 1
        i += 1
    if first < n:
        spans.append((first, n))
    return spans
