"""Access to the Japanese sample data shipped inside the package (``data/samples/``)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path


def samples_dir() -> Path:
    return Path(str(resources.files("jaft.data").joinpath("samples")))


def tokenizer_training_texts() -> Iterator[str]:
    """Every bundled Japanese text, for training the tiny models' BPE vocabulary."""
    for path in sorted(samples_dir().glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                yield line
