"""Access to the Japanese sample data shipped inside the package (``data/samples/``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

_NOT_TEXT_KEYS = frozenset({"role", "from", "id", "answer"})


def samples_dir() -> Path:
    return Path(str(resources.files("jaft.data").joinpath("samples")))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if value.strip():
            yield value
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k not in _NOT_TEXT_KEYS:
                yield from _strings(v)


def tokenizer_training_texts() -> Iterator[str]:
    """Every bundled Japanese text, for training the tiny models' BPE vocabulary.

    Lines of the ``*.txt`` files, then every text field of the ``*.jsonl`` files (chat messages,
    questions and answers, summaries, math problems and their ``<think>``/``<answer>`` solutions).
    """
    base = samples_dir()
    for path in sorted(base.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield line
    for path in sorted(base.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):  # real line ends only (not U+2028)
            if line.strip():
                yield from _strings(json.loads(line))
