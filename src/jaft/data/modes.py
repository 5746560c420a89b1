"""Execution modes (seed 001's ``ExecutionMode`` / ``DatasetManager``): which files a run reads.

Used when ``jaft data prepare`` is given no input files:

- ``production``: every configured source under ``base_dir`` must exist (Wikipedia, CC-100, OSCAR,
  Aozora Bunko, news, technical documents by default), as named or compressed (``NAME.gz`` /
  ``NAME.zst``); otherwise the run stops, naming each one.
- ``development``: at least one of its sources (Wikipedia, CC-100, dialogue) must exist; if none
  does, the bundled samples are used instead, with a loud warning.
- ``trial``: the bundled samples, always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from jaft.config.data import JapaneseDataConfig
from jaft.errors import JaftError


@dataclass
class Sources:
    train: list[Path]
    validation: list[Path] = field(default_factory=list)
    bundled: bool = False  # the bundled samples stand in for real data
    warning: str | None = None  # shown loudly and stored in report.json
    missing: list[str] = field(default_factory=list)


class DatasetManager:
    """Decides, from the mode and ``base_dir``, which files feed the pipeline."""

    def __init__(self, config: JapaneseDataConfig) -> None:
        self.config = config
        self.base_dir = Path(config.base_dir)

    def _path(self, name: str) -> Path:
        """``base_dir / name``, or its ``.gz`` / ``.zst`` form when only that is there (corpora ship
        compressed: ``wikipedia_ja.jsonl.gz`` stands for ``wikipedia_ja.jsonl``)."""
        p = Path(name)
        p = p if p.is_absolute() else self.base_dir / p
        if not p.is_file():
            for suffix in (".gz", ".zst"):
                packed = p.with_name(p.name + suffix)
                if packed.is_file():
                    return packed
        return p

    def resolve(self) -> Sources:
        from jaft.data.samples import training_files

        c = self.config
        train = [self._path(n) for n in c.source_files()]
        validation = [self._path(n) for n in c.validation_files or []]
        if c.mode == "trial":
            return Sources(training_files(), bundled=True)
        missing = [p for p in train + validation if not p.is_file()]
        if c.mode == "production":
            if missing:
                raise JaftError(
                    f"production mode needs every configured source; missing under {self.base_dir}: "
                    f"{', '.join(str(p.relative_to(self.base_dir)) if p.is_relative_to(self.base_dir) else str(p) for p in missing)}"
                    "; add them, list the files you have in data.train_files, or use --mode development"
                )
            return Sources(train, validation)
        present = [p for p in train if p.is_file()]
        if not present:
            names = ", ".join(p.name for p in train)
            return Sources(
                training_files(), bundled=True, missing=[str(p) for p in train],
                warning=(f"development mode found none of its sources ({names}) under {self.base_dir}; "
                         "using the small bundled samples instead: results will not reflect real data"),
            )
        return Sources(present, [p for p in validation if p.is_file()],
                       missing=[str(p) for p in missing])
