from __future__ import annotations

from typing import Literal

from pydantic import Field

from jaft.config.base import StrictModel

ExecutionMode = Literal["production", "development", "trial"]
DataFormat = Literal["auto", "text", "messages", "prompt_completion", "problem_solution", "alpaca"]

# The seed's source sets per mode (seed 001): production needs all, development at least one.
PRODUCTION_FILES = [
    "wikipedia_ja.jsonl",
    "cc100_ja.jsonl",
    "oscar_ja.jsonl",
    "aozora_bunko.jsonl",
    "news_ja.jsonl",
    "technical_docs_ja.jsonl",
]
DEVELOPMENT_FILES = ["wikipedia_ja.jsonl", "cc100_ja.jsonl", "dialogue_ja.jsonl"]


class JapaneseDataConfig(StrictModel):
    """The seed's ``JapaneseDataConfig``: where data lives, which mode, and how it is prepared."""

    mode: ExecutionMode = "development"
    base_dir: str = "dataset/deepseek-jp"
    train_files: list[str] | None = Field(None, description="default: the mode's source set")
    validation_files: list[str] | None = None
    format: DataFormat = "auto"
    path: str | None = Field(None, description="prepared data directory (train.jsonl) or raw files")
    augment: int = Field(0, ge=0, description="linguistic variants per record")
    val_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    seed: int = 42
    strict: bool = False
    normalize: bool = Field(True, description="safe normalization of stored text (never ①→1)")
    near_dup_threshold: float = Field(0.85, gt=0.0, le=1.0, description="MinHash Jaccard threshold")
    min_chars: int = Field(10, ge=0)
    min_japanese_ratio: float = Field(0.3, ge=0.0, le=1.0)
    min_hiragana_ratio: float = Field(0.05, ge=0.0, le=1.0)
    max_repetition: float = Field(0.3, ge=0.0, le=1.0, description="max share of duplicated 10-gram chars")
    max_line_bytes: int = Field(1_000_000, gt=0)

    def source_files(self) -> list[str]:
        if self.train_files is not None:
            return list(self.train_files)
        return list(PRODUCTION_FILES if self.mode == "production" else DEVELOPMENT_FILES)
