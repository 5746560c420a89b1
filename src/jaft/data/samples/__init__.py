"""The Japanese sample datasets bundled with jaft (see README.md in this folder for the licence)."""

from __future__ import annotations

import shutil
from pathlib import Path

SAMPLE_FILES: dict[str, str] = {
    "text": "text_ja.txt",
    "chat": "chat_ja.jsonl",
    "qa": "qa_ja.jsonl",
    "summarization": "summarization_ja.jsonl",
    "math_train": "math_train.jsonl",
    "math_eval": "math_eval.jsonl",
}
TRAINING_SAMPLES = ("text", "chat", "qa", "summarization", "math_train")  # math_eval is held out


def samples_path() -> Path:
    return Path(__file__).resolve().parent


def sample_file(name: str) -> Path:
    """Path of one bundled dataset by name (text, chat, qa, summarization, math_train, math_eval)."""
    if name not in SAMPLE_FILES:
        from jaft.errors import JaftError

        raise JaftError(f"no bundled sample '{name}'; choose from {', '.join(SAMPLE_FILES)}")
    return samples_path() / SAMPLE_FILES[name]


def math_train_path() -> Path:
    """420 generated math word problems (seed 004 format) for SFT and GRPO."""
    return sample_file("math_train")


def math_eval_path() -> Path:
    """100 held-out math problems, disjoint from :func:`math_train_path`, for ``jaft eval``."""
    return sample_file("math_eval")


def training_files() -> list[Path]:
    """Every bundled training dataset (the fallback inputs of development and trial modes)."""
    return [sample_file(name) for name in TRAINING_SAMPLES]


def write_samples(out_dir: str | Path) -> dict[str, Path]:
    """Copy every bundled dataset and the README (licence) into ``out_dir``; returns name → path."""
    from jaft.fsutil import atomic_path

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from jaft.errors import JaftError

        raise JaftError(f"{out}: exists and is not a directory; choose another --out")
    written: dict[str, Path] = {}
    for name, filename in {**SAMPLE_FILES, "readme": "README.md"}.items():
        target = out / filename
        with atomic_path(target) as tmp:
            shutil.copyfile(samples_path() / filename, tmp)
        written[name] = target
    return written
