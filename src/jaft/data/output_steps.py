"""Accounting and output steps of the parallel pipeline: rejects, the admitted records passed from the
first stage to the last, train / validation shards, finalize."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from jaft.config.data import JapaneseDataConfig
from jaft.data.pipeline_steps import BUCKETS, RECORD, REJECT, _rejected


def json_line(obj: Any) -> bytes:
    """``json.dumps(obj, ensure_ascii=False)`` + newline as UTF-8, byte for byte, in two thirds of the
    time on records (4.7 → 3.2 µs a row of the shared corpus): orjson writes each string (its escapes
    equal ``json``'s with ``ensure_ascii=False`` for every character; a test checks them all) and
    this function the ``", "`` / ``": "`` separators orjson leaves out. Whatever else a row holds
    (numbers, non-string keys) goes through ``json``."""
    try:
        return _json(obj) + b"\n"
    except (orjson.JSONEncodeError, UnicodeEncodeError, RecursionError):
        # A lone surrogate, or nesting deeper than _json's recursion (json allows about twice as deep,
        # and reports a circular list): json's own result or error, for the whole object, as before.
        return json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n"


def _json(obj: Any) -> bytes:
    dumps = orjson.dumps
    t = type(obj)
    if t is str:
        return dumps(obj)
    if t is dict:
        parts = []
        for k, v in obj.items():
            if type(k) is not str:  # json's own key conversions (int, None …)
                return json.dumps(obj, ensure_ascii=False).encode("utf-8")
            # string values inline: most of a row, and a call each through _json cost a fifth more
            parts.append(dumps(k) + b": " + (dumps(v) if type(v) is str else _json(v)))
        return b"{" + b", ".join(parts) + b"}"
    if t is list or t is tuple:
        return b"[" + b", ".join([_json(v) for v in obj]) + b"]"
    if obj is None or obj is True or obj is False:
        return dumps(obj)
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")  # numbers and the rest: json's repr


class Tally:
    """Counters of one task, saved as JSON and summed over tasks by :func:`merge_tallies`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.variants: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.answer_rules: Counter[str] = Counter()  # which rule gave each gold answer (formats.ANSWER_RULES)
        self.per_source: dict[str, Counter[str]] = {}

    def source(self, path: str) -> Counter[str]:
        counter = self.per_source.get(path)  # not setdefault: it would build a Counter per call
        if counter is None:
            counter = self.per_source[path] = Counter()
        return counter

    def reject(self, doc: Document) -> dict[str, Any]:
        info = doc.metadata[REJECT]
        bucket = BUCKETS[info["stage"]]
        self.counts[bucket] += 1
        self.source(doc.metadata["jaft_path"])[bucket] += 1
        self.reasons[info["reason"]] += 1
        row: dict[str, Any] = {"source": doc.id, "reason": info["reason"], "message": info["message"],
                               "stage": info["stage"]}
        record = doc.metadata.get(RECORD)
        if record is not None:
            row["record"] = record if isinstance(record, dict) else record.model_dump(mode="json", exclude_defaults=True)
        elif info.get("raw") is not None:
            row["raw"] = info["raw"]
        return row

    def to_json(self) -> str:
        return json.dumps({"counts": self.counts, "reasons": self.reasons, "variants": self.variants,
                           "kinds": self.kinds, "answer_rules": self.answer_rules,
                           "per_source": self.per_source}, ensure_ascii=False, sort_keys=True)


class _Lines:
    """One task's JSON Lines output: gzip with a fixed header time and no file name in it (byte-identical
    reruns) or plain, written under a temporary name and renamed when the task ends."""

    def __init__(self, folder, name: str, compress: bool) -> None:
        self.folder, self.name = folder, name
        self.tmp = f"{name}.tmp"
        self.raw = folder.open(self.tmp, "wb")
        self.f = (gzip.GzipFile(filename="", fileobj=self.raw, mode="wb", mtime=0, compresslevel=6) if compress
                  else self.raw)
        self.buf = io.BytesIO()
        self.count = 0

    def write(self, line: bytes) -> None:
        """One line, newline included (:func:`json_line`)."""
        self.buf.write(line)
        self.count += 1
        if self.buf.tell() > 1 << 20:
            self.f.write(self.buf.getvalue())
            self.buf = io.BytesIO()

    def close(self) -> None:
        self.f.write(self.buf.getvalue())
        if self.f is not self.raw:
            self.f.close()
        self.raw.close()
        self.folder.mv(self.tmp, self.name)


class JaftRejects(PipelineStep):
    """Writes tagged documents to ``<folder>/<rank>.jsonl`` (one reject row each, with ``path:line``),
    counts every document per source, forwards the rest; the counts go to ``<tally_folder>/<rank>.json``."""

    name = "🗑 jaft rejects"
    type = "💽 - WRITER"

    def __init__(self, output_folder: DataFolderLike, tally_folder: DataFolderLike) -> None:
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.tally_folder = get_datafolder(tally_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tally = Tally()
        out = _Lines(self.output_folder, f"{rank:05d}.jsonl", compress=False)
        for doc in data:
            tally.counts["input_records"] += 1
            tally.source(doc.metadata["jaft_path"])["records"] += 1
            record = doc.metadata.get(RECORD)
            if record is not None and record.answer is not None:  # validated, as the one-process count
                tally.answer_rules[record.meta.get("answer_rule", "answer_field")] += 1
            if _rejected(doc):
                out.write(json_line(tally.reject(doc)))
                continue
            tally.counts["admitted"] += 1
            yield doc
        out.close()
        with self.tally_folder.open(f"{rank:05d}.json", "w") as f:
            f.write(tally.to_json())


def admitted_row(doc: Document) -> dict:
    """What the later stages need of an admitted record."""
    record = doc.metadata[RECORD]
    return {"text": doc.text, "id": doc.id, "metadata": {
        "jaft_path": doc.metadata["jaft_path"], "jaft_validation": doc.metadata["jaft_validation"],
        RECORD: record.model_dump(mode="json", exclude_defaults=True)}}


class JaftAdmittedWriter(PipelineStep):
    """Writes admitted records to ``<folder>/<rank>.jsonl`` (:func:`admitted_row`, one compact orjson
    object a line; the file is written also when empty) for the write stage's :class:`JaftAdmittedReader`,
    and passes them on. An internal file, read once and deleted: datatrove's JsonlWriter wrote the same
    rows in 14–15 µs a record, most of it per-document filename templates and statistics (6–7 µs here,
    on the shared corpus)."""

    name = "💾 jaft admitted writer"
    type = "💽 - WRITER"

    def __init__(self, output_folder: DataFolderLike) -> None:
        super().__init__()
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        with self.output_folder.open(f"{rank:05d}.jsonl", "wb") as f:
            lines: list[bytes] = []
            for doc in data:
                lines.append(orjson.dumps(admitted_row(doc), option=orjson.OPT_APPEND_NEWLINE))
                if len(lines) >= 4096:
                    f.write(b"".join(lines))
                    lines.clear()
                yield doc
            f.write(b"".join(lines))


class JaftAdmittedReader(PipelineStep):
    """Reads ``<folder>/<rank>.jsonl`` written by :class:`JaftAdmittedWriter` in the first stage (one file
    per shard, also when empty, so index ``i`` here is index ``i`` there), with orjson: 6–7 µs a record
    on the shared corpus, against 9–12 with ``json.loads``."""

    name = "📖 jaft admitted reader"
    type = "📖 - READER"

    def __init__(self, folder: DataFolderLike) -> None:
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = f"{rank:05d}.jsonl"
        if not self.folder.isfile(name):
            return
        with self.folder.open(name, "rb") as f:
            for line in f:
                d = orjson.loads(line)
                yield Document(d["text"], d["id"], metadata=d["metadata"])


def hashed_validation(key: str, seed: int, ratio: float) -> bool:
    """Split by content, not position: stable when files are reordered, grow, or are sharded differently."""
    h = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") < ratio * 2**64


class JaftOutput(PipelineStep):
    """Writes kept records and their variants to ``train/`` or ``validation/`` (one file per shard:
    ``<rank>.jsonl``, ``.jsonl.gz`` or ``.parquet``) and tagged records to ``<rejects_folder>/<rank>.jsonl``;
    counts to ``<tally_folder>/<rank>.json``. A record and its variants always land in the same split."""

    name = "💾 jaft output"
    type = "💽 - WRITER"

    def __init__(self, output_folder: DataFolderLike, rejects_folder: DataFolderLike, tally_folder: DataFolderLike,
                 config: JapaneseDataConfig, has_validation_files: bool = False) -> None:
        super().__init__()
        self.output_folder = get_datafolder(output_folder)
        self.rejects_folder = get_datafolder(rejects_folder)
        self.tally_folder = get_datafolder(tally_folder)
        self.c = config
        self.has_validation_files = has_validation_files

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        c = self.c
        fmt = c.output_format
        tally = Tally()
        writers = {name: _writer(self.output_folder, name, rank, fmt) for name in ("train", "validation")}
        writers["rejects"] = _JsonlWriter(self.rejects_folder, f"{rank:05d}.jsonl", compress=False)
        for doc in data:
            src = tally.source(doc.metadata["jaft_path"])
            if _rejected(doc):
                writers["rejects"].write_row(tally.reject(doc))
                continue
            row = doc.metadata[RECORD]
            variants = doc.metadata.get("jaft_variants") or []
            tally.counts["kept"] += 1
            src["kept"] += 1
            tally.kinds[row["kind"]] += 1
            if "jaft_variants" in doc.metadata:  # given variants (within the limit), as the one-process count
                tally.counts["augmented_records"] += 1
                tally.counts["augmented"] += len(variants)
                tally.variants.update(v["variant"] for v in variants)
            validation = doc.metadata["jaft_validation"] or (
                c.val_ratio > 0 and not self.has_validation_files and hashed_validation(doc.text, c.seed, c.val_ratio))
            split = "validation" if validation else "train"
            tally.counts[split] += 1 + len(variants)
            for r in (row, *variants):
                writers[split].write_row(r)
        for w in writers.values():
            w.close()
        with self.tally_folder.open(f"{rank:05d}.json", "w") as f:
            f.write(tally.to_json())


class _JsonlWriter:
    def __init__(self, folder, name: str, compress: bool) -> None:
        self.lines = _Lines(folder, name, compress)

    def write_row(self, row: dict[str, Any]) -> None:
        self.lines.write(json_line(row))

    def close(self) -> None:
        self.lines.close()


class _ParquetWriter:
    """Records as Parquet with a fixed schema (nullable columns; ``meta`` as a JSON string), so every
    shard has the same columns whatever kinds of record it holds."""

    def __init__(self, folder, name: str) -> None:
        self.folder, self.name, self.rows = folder, name, []
        self.writer = None
        self.tmp = f"{name}.tmp"
        self.raw = folder.open(self.tmp, "wb")

    def write_row(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if len(self.rows) >= 4096:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = parquet_schema()
        cols = {f.name: [] for f in schema}
        for r in self.rows:
            for k in cols:
                v = r.get(k)
                cols[k].append(json.dumps(v or {}, ensure_ascii=False, sort_keys=True) if k == "meta" else v)
        table = pa.table(cols, schema=schema)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.raw, schema)
        self.writer.write_table(table)
        self.rows = []

    def close(self) -> None:
        if self.rows or self.writer is None:
            self._flush()
        self.writer.close()
        self.raw.close()
        self.folder.mv(self.tmp, self.name)


def parquet_schema():
    import pyarrow as pa

    s = pa.string()
    return pa.schema([("kind", s), ("text", s), ("messages", pa.list_(pa.struct([("role", s), ("content", s)]))),
                      ("prompt", s), ("completion", s), ("system", s), ("answer", s), ("id", s), ("source", s),
                      ("variant", s), ("meta", s)])


def _writer(folder, split: str, rank: int, fmt: str):
    if fmt == "parquet":
        return _ParquetWriter(folder, f"{split}/{rank:05d}.parquet")
    return _JsonlWriter(folder, f"{split}/{rank:05d}.jsonl{'.gz' if fmt == 'jsonl.gz' else ''}", fmt == "jsonl.gz")


class JaftFinalize(PipelineStep):
    """The last stage (one task): :func:`finalize` (so on Slurm / Ray the report is written there too)."""

    name = "📋 jaft finalize"
    type = "💽 - WRITER"

    def __init__(self, out: str, work: str, tasks: int, config: JapaneseDataConfig, info: dict[str, Any]) -> None:
        super().__init__()
        self.out, self.work, self.tasks, self.config, self.info = out, work, tasks, config, info

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        info = dict(self.info)
        if "started" in info:
            info["seconds"] = time.time() - info.pop("started")
        from jaft.data.manifest import finalize

        finalize(Path(self.out), Path(self.work), self.tasks, self.config, info)
