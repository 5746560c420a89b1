"""Read the text that tokenizer analysis and extension run on (``--data FILE...``).

``.txt``/``.md``: one text per non-empty line (a paragraph). ``.jsonl`` (and JSON, CSV, Parquet): each
record's ``text``, or the contents of its ``messages``, or its ``prompt`` and ``completion`` (the
shapes of prepared records). A record that holds none of these is an error, never skipped. Files are
read by the one reader (:mod:`jaft.data.reader`: encoding, BOM, real line ends), as ``jaft data
prepare`` and ``jaft eval`` read them.
"""

from __future__ import annotations

from jaft.data.reader import read_texts, record_texts_of

__all__ = ["read_texts", "record_texts_of"]
