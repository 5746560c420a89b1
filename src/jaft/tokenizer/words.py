"""Japanese words with fugashi + unidic-lite: one Tagger per process, created on first use.

A deliberately small helper for the tokenizer figures (word surfaces and their character spans);
the general Japanese analyzer lives in ``jaft.japanese``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from jaft.errors import JaftError

_TAGGER: Any = None


class Morpheme(NamedTuple):
    start: int  # character offsets of the surface in the analysed text
    end: int
    surface: str
    pos: str  # unidic's coarse part of speech (名詞, 助詞 …)


def tagger() -> Any:
    global _TAGGER
    if _TAGGER is None:
        try:
            import fugashi
        except ImportError:
            raise JaftError("Japanese word analysis needs fugashi: pip install 'fugashi[unidic-lite]'") from None
        try:
            _TAGGER = fugashi.Tagger()
        except RuntimeError as e:
            raise JaftError(
                f"fugashi found no dictionary ({str(e).splitlines()[0]}); pip install unidic-lite"
            ) from None
    return _TAGGER


def morphemes(text: str) -> list[Morpheme]:
    """Morphemes of ``text`` with their character spans; whitespace between them is left out."""
    out: list[Morpheme] = []
    pos = 0
    for word in tagger()(text):
        surface = word.surface
        if not surface:
            continue
        start = text.find(surface, pos)
        if start < 0:  # the analyser changed the text (it should not): stop rather than misalign
            break
        pos = start + len(surface)
        feature = word.feature
        out.append(Morpheme(start, pos, surface, getattr(feature, "pos1", None) or ""))
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
