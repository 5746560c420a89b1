"""Japanese words for tokenizer analysis and extension.

Word surfaces and character spans for the tokenizer figures, on top of ``jaft.japanese.analyzer``.
"""

from __future__ import annotations

from typing import NamedTuple


class Morpheme(NamedTuple):
    start: int  # character offsets of the surface in the analysed text
    end: int
    surface: str
    pos: str  # unidic's coarse part of speech (名詞, 助詞 …)


def morphemes(text: str) -> list[Morpheme]:
    """Morphemes of ``text`` with their character spans; whitespace between them is left out.

    Uses the project's one fugashi tagger (``jaft.japanese.analyzer``), line by line.
    """
    from jaft.japanese.analyzer import analyze

    out: list[Morpheme] = []
    offset = 0
    for line in text.split("\n"):
        for m in analyze(line):
            if m.start < 0:  # the analyser changed the text (it should not): stop rather than misalign
                break
            out.append(Morpheme(offset + m.start, offset + m.end, m.surface, m.pos1))
        offset += len(line) + 1
    return out


def word_starts(text: str) -> set[int]:
    """Character offsets where a word begins, counting the whitespace before a word as part of it.

    Byte-level tokenizers glue a space to the word after it (``" システム"``), so that is where a
    token may begin or end without cutting a word.
    """
    starts = {0, len(text)}
    for m in morphemes(text):
        starts.add(m.end)
    return starts
