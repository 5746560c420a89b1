"""``jaft data prepare``: read → validate → normalize → dedup → filter → augment → split.

Records stream through one at a time (memory does not grow with the corpus apart from the dedup
indexes), and every input record ends in exactly one place, so the report always balances::

    input_records = kept + rejected + duplicates_removed + filtered
    train + validation = kept + augmented

``rejected`` counts bad input (invalid JSON, missing fields, bytes that are not UTF-8, unreadable
files …); duplicates and filtered records are counted separately, and all three are written to
``rejects.jsonl`` with their source ``path:line`` and reason. Exact dedup and the quality filters
run before near-duplicate detection, so a record the filters drop never shadows a good one and
the MinHash index holds kept records only.

``report.json`` also states, per source file, the encoding it was read in and how that was decided
(``encodings``; see :mod:`jaft.data.reader`), and which rule gave each gold answer (``answer_rules``:
answer field, ``<answer>`` tag, GSM8K ``#### N``, MATH ``\\boxed{}``).

Output directory: ``train.jsonl``, ``validation.jsonl`` (one :class:`Record` per line),
``rejects.jsonl``, ``report.json`` and ``jaft_run.yaml``. Files are written under temporary names
and renamed only when the run succeeds: with ``--strict`` (and in production mode) the first bad
record stops the run with ``path:line: reason`` and nothing appears under the final names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import (
    FORMATS,
    BadRecord,
    EncodingChoice,
    Item,
    Reject,
    iter_items,
    record_texts,
    row_texts,
    texts_into_row,
    to_record,
    with_texts,
)
from jaft.data.manifest import source_counts
from jaft.data.quality import NearDedup, QualityFilter
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.japanese.normalize import normalize_key, normalize_text

TRAIN, VALIDATION, REJECTS, REPORT = "train.jsonl", "validation.jsonl", "rejects.jsonl", "report.json"
BATCH = 128  # records admitted before near-dedup runs on them (MinHash signatures are batched)


def is_prepared(path: str | Path) -> bool:
    """Whether ``path`` is a directory written by :func:`prepare` or the parallel pipeline."""
    from jaft.data.manifest import is_sharded

    p = Path(path)
    return ((p / TRAIN).is_file() and (p / REPORT).is_file()) or is_sharded(p)


def _read_records(path: Path) -> list[Record]:
    if not path.is_file():
        return []
    out: list[Record] = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Record.model_validate_json(line))
            except ValueError as e:
                first = str(e).splitlines()[0]
                raise JaftError(f"{path}:{number}: not a prepared record ({first}); re-run `jaft data prepare`") from None
    return out


def read_prepared(path: str | Path) -> tuple[list[Record], list[Record]]:
    """``(train, validation)`` records of a prepared directory."""
    p = Path(path)
    if not p.is_dir():
        raise JaftError(f"{p}: not a directory of prepared data; run `jaft data prepare INPUT... --out {p}` first")
    if not is_prepared(p):
        raise JaftError(
            f"{p}: not prepared data (no {TRAIN} and {REPORT}); run `jaft data prepare INPUT... --out {p}` "
            "or pass the raw files to prepare first"
        )
    if not (p / TRAIN).is_file():  # sharded (jsonl.gz / parquet): the manifest lists the files
        from jaft.data.manifest import read_sharded

        return read_sharded(p)
    return _read_records(p / TRAIN), _read_records(p / VALIDATION)


def strict_error(source: str, message: str) -> JaftError:
    """The one line for a bad record in strict mode (both pipelines)."""
    return JaftError(f"{source}: {message} (strict mode, --strict or --mode production, stops at the first bad "
                     "record; without it, bad records go to rejects.jsonl)")


def _content_key(record: Record) -> str:
    return normalize_key("\x1f".join(record_texts(record)))


def _varied_fields(row: dict[str, Any]) -> list[bool]:
    """Which of a row's texts (:func:`~jaft.data.formats.row_texts`) get linguistic variants: never
    system prompts, and never the solution of a problem with a gold answer (its reasoning must keep
    matching the answer)."""
    if row["kind"] == "text":
        return [True]
    if row["kind"] == "chat":
        return [m["role"] != "system" for m in row.get("messages") or []]
    mask = [False] if row.get("system") is not None else []
    return [*mask, True, row.get("answer") is None]


def variant_rows(base: dict[str, Any], config: JapaneseDataConfig) -> list[dict[str, Any]]:
    """Up to ``config.augment`` labelled linguistic variants of a record, given and returned as plain
    JSON rows in the Record schema (``base``: ``Record.model_dump(mode="json", exclude_defaults=True)``;
    no pydantic object per record or variant: the parallel write stage reads rows, and validating
    one back into a Record cost a tenth of its variant work). ``id`` ``<id>#<kind>``, ``variant`` the
    kind, ``meta.variant_of`` the original. Seeded by ``config.seed`` and the text, so a record gets
    the same variants in either pipeline and on any worker."""
    from jaft.japanese.augment import variants_of_fields

    texts = row_texts(base)
    mask = _varied_fields(base)
    varied = [t for t, m in zip(texts, mask, strict=True) if m]
    out = []
    base_id = base.get("id") or base.get("source")
    meta = base.get("meta") or {}
    for v in variants_of_fields(varied, config.augment, seed=config.seed, kinds=config.augment_kinds):
        it = iter(v.texts)
        row = texts_into_row(base, [next(it) if m else t for t, m in zip(texts, mask, strict=True)])
        row["id"] = f"{base_id}#{v.kind}"
        row["variant"] = v.kind
        row["meta"] = {**meta, "variant_of": base_id, **({"variant_detail": v.detail} if v.detail else {})}
        out.append(row)
    return out


@dataclass
class _Candidate:
    """A record that passed validation, exact dedup and the filters, waiting for near-dedup."""

    record: Record
    key: str
    src: Counter[str]
    validation: bool


class _Run:
    """State of one prepare run: counters, indexes, open output files."""

    def __init__(self, config: JapaneseDataConfig, fmt: str, strict: bool, files: dict[str, TextIO],
                 has_validation_files: bool = False) -> None:
        self.c = config
        self.has_validation_files = has_validation_files  # then nothing else is split off
        self.fmt = fmt
        self.strict = strict
        self.files = files
        self.filter = QualityFilter(config)
        self.exact: dict[bytes, str] = {}
        self.near = NearDedup(config.near_dup_threshold, config.near_dup_ngram, config.near_dup_num_perm)
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.variants: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.per_source: dict[str, Counter[str]] = {}
        self.encodings: dict[str, dict[str, Any]] = {}  # per source: encoding used and how it was decided
        self.answer_rules: Counter[str] = Counter()  # which rule gave each gold answer (formats.ANSWER_RULES)
        self.augment_limit = config.augment_sample_limit()
        self.pending: tuple[list[str], bool] | None = None  # the last kept group, written one step late

    # -- outcomes -------------------------------------------------------------------------------
    def _reject(self, src: Counter[str], source: str, reason: str, message: str, stage: str,
                *, record: Record | None = None, raw: str | None = None, duplicate_of: str | None = None) -> None:
        bucket = {"read": "rejected", "validate": "rejected", "dedup": "duplicates_removed", "filter": "filtered"}[stage]
        self.counts[bucket] += 1
        src[bucket] += 1
        self.reasons[reason] += 1
        row: dict[str, Any] = {"source": source, "reason": reason, "message": message, "stage": stage}
        if duplicate_of:
            row["duplicate_of"] = duplicate_of
        if record is not None:
            row["record"] = record.model_dump(mode="json", exclude_defaults=True)
        elif raw is not None:
            row["raw"] = raw
        self.files[REJECTS].write(json.dumps(row, ensure_ascii=False) + "\n")

    def _bad(self, src: Counter[str], source: str, reason: str, message: str, stage: str, raw: str | None) -> None:
        if self.strict:
            raise strict_error(source, message)
        self._reject(src, source, reason, message, stage, raw=raw)

    # -- one input record ------------------------------------------------------------------------
    def admit(self, item: Item | Reject, validation: bool) -> _Candidate | None:
        """Read, validate, normalize, exact-dedup and filter one record; None if it went to rejects."""
        src = self.per_source.setdefault(item.path, Counter())
        self.counts["input_records"] += 1
        src["records"] += 1
        if isinstance(item, Reject):
            self._bad(src, item.source, item.reason, item.message, "read", item.raw)
            return None
        try:
            record = to_record(item.value, self.fmt, source=item.source)
        except BadRecord as e:
            raw = item.value if isinstance(item.value, str) else json.dumps(item.value, ensure_ascii=False, default=str)
            self._bad(src, item.source, e.reason, e.message, "validate", raw[:500])
            return None
        except ValueError as e:  # the Record model's own checks
            self._bad(src, item.source, "invalid_record", str(e).splitlines()[0], "validate", None)
            return None
        if record.answer is not None:
            self.answer_rules[record.meta.get("answer_rule", "answer_field")] += 1
        if self.c.normalize:
            texts = record_texts(record)
            normalized = [normalize_text(t) for t in texts]
            if any(a is not b for a, b in zip(texts, normalized, strict=True)):  # unchanged: no copy
                record = with_texts(record, normalized)
        key = _content_key(record)
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        first = self.exact.get(digest)
        if first is not None:
            self._reject(src, item.source, "duplicate_exact", f"same text as {first}", "dedup",
                         record=record, duplicate_of=first)
            return None
        self.exact[digest] = item.source
        verdict = self.filter.check(key)
        if verdict is not None:
            self._reject(src, item.source, verdict.reason, verdict.detail, "filter", record=record)
            return None
        return _Candidate(record, key, src, validation)

    def flush(self, batch: list[_Candidate]) -> None:
        """Near-dedup, augment, split and write admitted records, in input order."""
        # Problems with a gold answer differ when only their numbers differ: no near-dedup there.
        near_keys = [cand.key if cand.record.answer is None else "" for cand in batch]
        signatures = self.near.signatures(near_keys)
        for cand, signature in zip(batch, signatures, strict=True):
            record, src = cand.record, cand.src
            if signature is not None:
                near = self.near.check_and_add(cand.key, record.source or "", signature)
                if near is not None:
                    self._reject(src, record.source or "", "duplicate_near",
                                 f"near-duplicate of {near} (MinHash Jaccard ≥ {self.c.near_dup_threshold})",
                                 "dedup", record=record, duplicate_of=near)
                    continue
            self.counts["kept"] += 1
            src["kept"] += 1
            self.kinds[record.kind] += 1
            base = record.model_dump(mode="json", exclude_defaults=True)
            group = [base, *self._augment(base)]
            validation = cand.validation
            if not validation and self.c.val_ratio > 0 and not self.has_validation_files:
                validation = self._hashed_validation(cand.key)
            self._emit([json.dumps(row, ensure_ascii=False) for row in group], validation)

    def _hashed_validation(self, key: str) -> bool:
        # Split by content, not position: stable when input files are reordered or grow.
        h = hashlib.blake2b(f"{self.c.seed}\x00{key}".encode(), digest_size=8).digest()
        return int.from_bytes(h, "big") < self.c.val_ratio * 2**64

    def _augment(self, base: dict[str, Any]) -> list[dict[str, Any]]:
        """Variant rows of the record whose JSON row is ``base`` (:func:`variant_rows`)."""
        c = self.c
        if c.augment <= 0 or (self.augment_limit is not None and self.counts["augmented_records"] >= self.augment_limit):
            return []
        self.counts["augmented_records"] += 1
        out = variant_rows(base, c)
        self.variants.update(row["variant"] for row in out)
        self.counts["augmented"] += len(out)
        return out

    def _emit(self, lines: list[str], validation: bool) -> None:
        if self.pending is not None:
            self._write(*self.pending)
        self.pending = (lines, validation)

    def _write(self, lines: list[str], validation: bool) -> None:
        name = VALIDATION if validation else TRAIN
        self.counts["validation" if validation else "train"] += len(lines)
        f = self.files[name]
        for line in lines:
            f.write(line + "\n")

    def finish(self) -> None:
        if self.pending is None:
            return
        lines, validation = self.pending
        # A small dataset can hash no record into validation: then the last kept one goes there.
        if not validation and self.c.val_ratio > 0 and self.counts["validation"] == 0 and self.counts["train"] > 0:
            validation = True
        self._write(lines, validation)
        self.pending = None


def _total_bytes(paths: list[str]) -> int | None:
    total = 0
    for p in paths:
        try:
            total += Path(p).stat().st_size
        except OSError:
            continue
    return total or None


def _decide_encoding(run: _Run, source: str, requested: str, strict: bool) -> EncodingChoice | None:
    """The encoding of one file source (:func:`jaft.data.shards.source_encoding`, as the parallel
    pipeline decides it), recorded in the report."""
    from jaft.data.shards import source_encoding

    choice = source_encoding(source, requested, strict)
    if choice is not None:
        run.encodings[source] = choice.as_report()
    return choice


def resolve_sources(inputs: list[str], config: JapaneseDataConfig, info: dict[str, Any],
                    console: Any) -> list[tuple[str, bool]]:
    """``[(path, is_validation)]`` to read: ``inputs`` (all training data), or with none the mode's files
    (:class:`jaft.data.modes.DatasetManager`). Records into ``info`` (report.json) whether the bundled
    samples were used, which mode files are missing, and the mode's warning (also printed)."""
    from jaft.data.modes import DatasetManager

    info["bundled_samples"] = False
    if inputs:
        return [(s, False) for s in inputs]
    resolved = DatasetManager(config).resolve()
    info["bundled_samples"] = resolved.bundled
    if resolved.missing:
        info["missing_sources"] = resolved.missing
    if resolved.warning:
        info["warning"] = resolved.warning
        console.print(f"[bold yellow]WARNING:[/] {resolved.warning}")
    return [(str(p), False) for p in resolved.train] + [(str(p), True) for p in resolved.validation]


def prepare(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: JapaneseDataConfig,
    *,
    fmt: str | None = None,
    console=None,
) -> dict[str, Any]:
    """Run the pipeline and write the prepared directory; returns the report (also ``report.json``).

    With no ``inputs`` the execution mode picks the files (see :mod:`jaft.data.modes`).
    """
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from jaft.fsutil import atomic_path

    console = console or Console(stderr=True)
    fmt = fmt or config.format
    if fmt not in FORMATS:
        raise JaftError(f"--format {fmt}: unknown; use one of {', '.join(FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise JaftError(f"{out}: exists and is not a directory; choose another --out")
    strict = config.strict or config.mode == "production"
    started = time.perf_counter()

    info: dict[str, Any] = {"mode": config.mode, "format": fmt, "strict": strict}
    sources = resolve_sources([str(p) for p in inputs], config, info, console)
    train_sources = [s for s, val in sources if not val]
    val_sources = [s for s, val in sources if val]

    with contextlib.ExitStack() as stack:
        # Entered first, renamed last: report.json appearing means everything else is in place.
        tmp = {name: stack.enter_context(atomic_path(out / name)) for name in (REPORT, REJECTS, VALIDATION, TRAIN)}
        files = {name: stack.enter_context(tmp[name].open("w", encoding="utf-8"))
                 for name in (REJECTS, VALIDATION, TRAIN)}
        run = _Run(config, fmt, strict, files, has_validation_files=bool(val_sources))
        progress = Progress(TextColumn("[bold]prepare[/] {task.description}"), BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), console=console, transient=True)
        with progress:
            task = progress.add_task("", total=_total_bytes([s for s, _ in sources]))
            for source, is_val in sources:
                progress.update(task, description=Path(source).name)
                advance = lambda n: progress.advance(task, n)  # noqa: E731
                batch: list[_Candidate] = []
                encoding = _decide_encoding(run, source, config.encoding, strict)
                for item in iter_items(source, fmt, encoding=encoding, max_line_bytes=config.max_line_bytes,
                                       progress=advance):
                    cand = run.admit(item, is_val)
                    if cand is not None:
                        batch.append(cand)
                        if len(batch) >= BATCH:
                            run.flush(batch)
                            batch = []
                run.flush(batch)
            run.finish()
        for f in files.values():
            f.flush()
        report = _report(run, info, train_sources, val_sources, time.perf_counter() - started)
        tmp[REPORT].write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _write_run_file(out, config, fmt, report)
    return report


def _report(run: _Run, info: dict[str, Any], train: list[str], val: list[str], seconds: float) -> dict[str, Any]:
    c = run.counts
    report: dict[str, Any] = {
        "input_records": c["input_records"],
        "kept": c["kept"],
        "rejected": c["rejected"],
        "duplicates_removed": c["duplicates_removed"],
        "filtered": c["filtered"],
        "augmented": c["augmented"],
        "augmented_records": c["augmented_records"],
        "train": c["train"],
        "validation": c["validation"],
        "reasons": dict(sorted(run.reasons.items())),
        "variants": dict(sorted(run.variants.items())),
        "kinds": dict(sorted(run.kinds.items())),
        "per_source": {k: source_counts(v) for k, v in run.per_source.items()},
        "encodings": run.encodings,
        "answer_rules": dict(sorted(run.answer_rules.items())),
        "sources": train,
        "validation_sources": val,
        **info,
        "augment": run.c.augment,
        "augment_limit": run.augment_limit,
        "val_ratio": run.c.val_ratio,
        "seed": run.c.seed,
        "seconds": round(seconds, 3),
        "records_per_second": round(c["input_records"] / seconds, 1) if seconds > 0 else None,
    }
    assert report["input_records"] == report["kept"] + report["rejected"] + report["duplicates_removed"] + report["filtered"]
    assert report["train"] + report["validation"] == report["kept"] + report["augmented"]
    return report


def _write_run_file(out: Path, config: JapaneseDataConfig, fmt: str, report: dict[str, Any]) -> None:
    from jaft.config import RunConfig
    from jaft.rundir import RunDir

    resolved = config.model_copy(update={"format": fmt, "path": str(out)})
    RunDir(out).write_run_file(
        stage="data",
        config=RunConfig(data=resolved),
        applied={"strict": report["strict"], "bundled_samples": report["bundled_samples"],
                 "augment_limit": report["augment_limit"]},
        extra={"data_report": {k: report[k] for k in ("input_records", "kept", "train", "validation")}},
    )
