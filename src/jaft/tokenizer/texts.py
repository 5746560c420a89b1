"""Read the text that tokenizer analysis and extension run on (``--data FILE...``).

``.txt``/``.md``: one text per non-empty line (a paragraph). ``.jsonl``: one JSON object per line,
its ``text``, or the contents of its ``messages``, or its ``prompt`` and ``completion`` (the
shapes of prepared records). A line that holds none of these is an error, never skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jaft.errors import JaftError


def _record_texts(obj: Any) -> list[str] | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("text"), str):
        return [obj["text"]]
    if isinstance(obj.get("messages"), list):
        out = [m.get("content") for m in obj["messages"] if isinstance(m, dict)]
        return [c for c in out if isinstance(c, str)] or None
    parts = [obj.get(k) for k in ("system", "prompt", "completion")]
    parts = [p for p in parts if isinstance(p, str) and p]
    return parts or None


def read_texts(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Every text of every file, in order; raises JaftError naming ``path:line`` on bad input."""
    if not paths:
        raise JaftError("no --data given; pass one or more text (.txt) or JSONL (.jsonl) files")
    texts: list[str] = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise JaftError(f"{path}: no such file; pass text (.txt) or JSONL (.jsonl) files with --data")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as e:
            line = path.read_bytes()[: e.start].count(b"\n") + 1
            raise JaftError(f"{path}:{line}: not UTF-8; convert the file (e.g. iconv -f SHIFT_JIS -t UTF-8)") from None
        jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if not jsonl:
                texts.append(line)
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise JaftError(f"{path}:{n}: invalid JSON ({e.msg}); fix the line or pass a .txt file") from None
            found = _record_texts(obj)
            if found is None:
                raise JaftError(f"{path}:{n}: no text, messages or prompt/completion field; fix or remove the line")
            texts.extend(found)
    if not texts:
        raise JaftError(f"{', '.join(str(p) for p in paths)}: no text found (only empty lines)")
    return texts
