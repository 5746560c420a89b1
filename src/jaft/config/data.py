from __future__ import annotations

import codecs
from typing import Literal

from pydantic import Field, field_validator

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


# Seed 001: how many records get linguistic variants in each mode (None: all of them).
MODE_AUGMENT_LIMIT: dict[str, int | None] = {"trial": 100, "development": 1000, "production": None}
VariantKind = Literal["style", "particle_omission", "adverb", "sentence_final", "honorific"]
Executor = Literal["local", "slurm", "ray"]
OutputFormat = Literal["jsonl", "jsonl.gz", "parquet"]


class ClusterConfig(StrictModel):
    """Where ``jaft data prepare --executor slurm|ray`` runs (datatrove's executors; see docs/guide/data.md).

    ``work_dir`` must be on a filesystem every node sees (datatrove's completion files, signatures and
    shards live there); default: ``<out>/.jaft_work``.
    """

    work_dir: str | None = None
    partition: str = Field("cpu", description="Slurm partition")
    time: str = Field("24:00:00", description="Slurm time limit per job")
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(4.0, gt=0, description="UniDic is mmapped (~250 MB) and shared per node")
    venv_path: str | None = Field(None, description="virtualenv activated in each Slurm job")
    sbatch_args: dict[str, str] = Field(default_factory=dict, description="extra #SBATCH options")


class JapaneseDataConfig(StrictModel):
    """The seed's ``JapaneseDataConfig``: where data lives, which mode, and how it is prepared.

    Modes (used when ``jaft data prepare`` gets no input files): ``production`` needs every file of
    ``train_files`` (default: Wikipedia, CC-100, OSCAR, Aozora Bunko, news, technical documents)
    under ``base_dir``; ``development`` needs at least one of its set (Wikipedia, CC-100, dialogue)
    and otherwise falls back to the bundled samples with a warning; ``trial`` uses the bundled
    samples. Production is also strict: the first bad record stops the run.
    """

    mode: ExecutionMode = "development"
    base_dir: str = "dataset/deepseek-jp"
    train_files: list[str] | None = Field(None, description="default: the mode's source set")
    validation_files: list[str] | None = Field(None, description="files under base_dir used only for validation")
    format: DataFormat = "auto"
    path: str | None = Field(None, description="prepared data directory (train.jsonl) or raw files")
    augment: int = Field(0, ge=0, description="linguistic variants per record")
    augment_limit: int | None = Field(
        None, ge=0, description="records that get variants; default by mode: trial 100, development 1000, production all"
    )
    augment_kinds: list[VariantKind] = Field(
        default_factory=lambda: ["style", "particle_omission", "adverb", "sentence_final", "honorific"]
    )
    val_ratio: float = Field(0.05, ge=0.0, lt=1.0)
    seed: int = 42
    strict: bool = False
    normalize: bool = Field(True, description="safe normalization of stored text (never ①→1)")
    near_dup_threshold: float = Field(0.85, gt=0.0, le=1.0, description="MinHash Jaccard threshold")
    near_dup_ngram: int = Field(5, ge=1, le=32, description="character n-gram size of the MinHash shingles")
    near_dup_num_perm: int = Field(64, ge=16, le=512, description="MinHash permutations (more: sharper, slower)")
    min_chars: int = Field(10, ge=0)
    min_japanese_ratio: float = Field(0.3, ge=0.0, le=1.0, description="share of kana/kanji among letters")
    min_hiragana_ratio: float = Field(0.05, ge=0.0, le=1.0, description="share of hiragana among letters")
    max_repetition: float = Field(0.3, ge=0.0, le=1.0, description="max share of repeated character 10-grams")
    max_line_bytes: int = Field(1_000_000, gt=0)
    encoding: str = Field(
        "auto", description="input encoding: auto (BOM, UTF-8, else cp932/euc_jp detected) or a codec name, e.g. cp932"
    )

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        if value.lower() == "auto":
            return "auto"
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; use auto or a codec name such as utf-8, cp932, euc_jp") from None
        return value
    # Corpus scale (jaft.data.parallel): shards, workers, executor, output layout.
    workers: int | None = Field(None, ge=1, description="processes on this machine; default: the CPU count")
    executor: Executor = "local"
    shard_bytes: int | None = Field(
        None, ge=1, description="input bytes per shard; default: total/32, between 512 KiB and 64 MiB"
    )
    output_format: OutputFormat = Field(
        "jsonl", description="jsonl: train.jsonl etc. (shards joined); jsonl.gz / parquet: one file per shard"
    )
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)

    def source_files(self) -> list[str]:
        if self.train_files is not None:
            return list(self.train_files)
        return list(PRODUCTION_FILES if self.mode == "production" else DEVELOPMENT_FILES)

    def augment_sample_limit(self) -> int | None:
        """How many kept records get variants (None: every record)."""
        return self.augment_limit if self.augment_limit is not None else MODE_AUGMENT_LIMIT[self.mode]
