"""Japanese text processing: normalization, analysis, style, augmentation, answers.

Importing this package is cheap: fugashi loads on the first call that needs morphology.
"""

from __future__ import annotations


def to_polite(text: str) -> str:
    """Sentence-final predicates to 敬体 (です・ます): ``行く。`` → ``行きます。``; see :mod:`.style`."""
    from jaft.japanese.style import to_polite as _to_polite

    return _to_polite(text)


def to_plain(text: str) -> str:
    """Sentence-final predicates to 常体 (だ・である): ``行きます。`` → ``行く。``; see :mod:`.style`."""
    from jaft.japanese.style import to_plain as _to_plain

    return _to_plain(text)


__all__ = ["to_plain", "to_polite"]
