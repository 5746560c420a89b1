"""Training data for SFT/GRPO: a prepared directory, raw files prepared on the fly, or the mode's data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaft.config import RunConfig
from jaft.data.records import Record
from jaft.errors import JaftError


def prepare_inputs(cfg: RunConfig, inputs: list[str] | None, work_dir: Path, console: Any = None) -> Path:
    """A prepared data directory for ``inputs``: itself if already prepared, else prepared into work_dir/data.

    No inputs: the execution mode decides (production / development / trial; bundled samples as the
    development fallback).
    """
    from jaft.data.prepare import is_prepared, prepare
    from jaft.data.reader import looks_like_hub_name

    paths = [Path(p) for p in (inputs or ([cfg.data.path] if cfg.data.path else []))]
    if len(paths) == 1 and paths[0].is_dir() and is_prepared(paths[0]):
        return paths[0]
    for p in paths:
        if not p.exists() and not looks_like_hub_name(str(p)):  # gsm8k, qwedsacf/competition_math: the Hub
            raise JaftError(f"{p}: no such file or directory; pass --data a prepared dir or raw data files")
    out = work_dir / "data"
    prepare(paths, out, cfg.data, fmt=None if cfg.data.format == "auto" else cfg.data.format, console=console)
    return out


def load_records(
    cfg: RunConfig, inputs: list[str] | None, work_dir: Path, console: Any = None
) -> tuple[list[Record], list[Record], str]:
    """(train, validation, where-from) for training.

    ``cfg.data.path`` is set to the prepared directory, so the recorded config names the exact data a
    resumed run (or a later stage) must read.
    """
    from jaft.data.prepare import read_prepared

    prepared = prepare_inputs(cfg, inputs, work_dir, console)
    cfg.data.path = str(prepared)
    train, val = read_prepared(prepared)
    if not train:
        raise JaftError(f"{prepared}: no training records after preparation; see its rejects.jsonl and report.json")
    return train, val, f"prepared data {prepared} (mode {cfg.data.mode})"


def build_dataset(records: list[Record], tokenizer: Any, max_length: int | None, system: str | None = None,
                  *, strict: bool = False, console: Any = None):
    """Tokenized ``datasets.Dataset`` (input_ids, completion_mask) and counts of what happened.

    ``system``: instruction for records without their own system prompt (``train.system_prompt``).
    A record the chat template cannot express (last turn not the assistant's, reasoning or a system
    prompt the template drops) is counted in ``rejected`` by reason and named on the console; with
    ``strict`` the first one stops the run (``path:line: reason``).
    """
    from datasets import Dataset

    from jaft.models.chat import RenderError, render_turns, tokenize_rendered

    rows: list[dict[str, Any]] = []
    stats: dict[str, Any] = {"records": len(records), "examples": 0, "truncated": 0, "dropped_no_completion": 0,
                             "tokens": 0, "completion_tokens": 0, "rejected": {}}
    for rec in records:
        try:
            rendered = render_turns(rec, tokenizer, system)
        except RenderError as e:
            where = rec.source or rec.id or "a training record"
            if strict:
                raise JaftError(f"{where}: {e} (data.strict; without it such records are counted and skipped)") from None
            stats["rejected"][e.reason] = stats["rejected"].get(e.reason, 0) + 1
            if console is not None and sum(stats["rejected"].values()) <= 5:
                console.print(f"skipped {where}: {e}", markup=False, highlight=False)
            continue
        for r in rendered:
            ex = tokenize_rendered(r, tokenizer, max_length)
            if ex is None:
                stats["dropped_no_completion"] += 1
                continue
            stats["truncated"] += int(ex.pop("truncated"))
            stats["tokens"] += len(ex["input_ids"])
            stats["completion_tokens"] += sum(ex["completion_mask"])
            rows.append(ex)
    stats["examples"] = len(rows)
    if not rows and stats["rejected"]:
        raise JaftError(f"no trainable example: every record was rejected by the chat template "
                        f"({stats['rejected']}); fix the data or the template (--set model.chat_template=...)")
    if not rows:
        raise JaftError(
            "every example was cut to nothing by the sequence length; raise --set train.max_seq_length"
        )
    return Dataset.from_list(rows), stats
