"""jaft's Japanese data stages as datatrove pipeline steps (https://github.com/huggingface/datatrove).

Usable in any datatrove pipeline: a document's text (or ``metadata["jaft_item"]``, a raw JSON
object) becomes a :class:`~jaft.data.records.Record` in ``metadata["jaft_record"]``; ``doc.text`` is
then the record's dedup key. A step that rejects a record does not drop it: it sets
``metadata["jaft_reject"]`` (reason, message, stage) and later steps pass it through untouched, so
:class:`JaftRejects` / :class:`JaftOutput` can list it with its ``path:line`` (``doc.id``) and every
input record is accounted for.

=====================  =================================================================
step                   does
=====================  =================================================================
JaftShardReader        a shard of :mod:`jaft.data.shards` → documents (``path:line`` ids)
JaftValidate           raw object → Record: formats, R1 ``<think>``/``<answer>`` handling
JaftNormalize          meaning-preserving normalization; ``doc.text`` = the dedup key
JaftQualityFilter      length, Japanese / hiragana ratio, repetition (Swallow / llm-jp)
JaftAugment            linguistic variants (style, particles, adverbs, endings, honorifics)
=====================  =================================================================

Dedup steps (datatrove's exact and MinHash stages) are in :mod:`jaft.data.dedup_steps`; rejects,
outputs and the final report in :mod:`jaft.data.output_steps`; the stages that chain them in
:mod:`jaft.data.parallel`.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import BadRecord, Item, record_texts, to_record, with_texts
from jaft.data.prepare import _content_key as content_key
from jaft.data.prepare import strict_error, variant_rows
from jaft.data.quality import QualityFilter
from jaft.data.reader import EncodingChoice
from jaft.data.records import Record
from jaft.data.shards import Shard, iter_shard

# content_key / variant_rows are the one-process pipeline's own rules: both pipelines key, filter and
# vary records alike.
REJECT, RECORD = "jaft_reject", "jaft_record"
OFFSETS = "offsets.json"
BUCKETS = {"read": "rejected", "validate": "rejected", "dedup": "duplicates_removed", "filter": "filtered"}
# Shared counters (records, bytes per shard) set by the local runner before it forks its workers.
PROGRESS: Any = None
CRASH_ENV = "JAFT_TEST_CRASH_SHARD"  # tests: "3" kills the worker of shard 3 mid-shard (as the OOM killer would)


def _rejected(doc: Document) -> bool:
    return REJECT in doc.metadata


def _tag(doc: Document, stage: str, reason: str, message: str, **extra: Any) -> None:
    doc.metadata[REJECT] = {"stage": stage, "reason": reason, "message": message, **extra}


class JaftShardReader(PipelineStep):
    """Reads shard ``rank`` of ``shards`` (one task per shard). Documents: ``id`` = ``path:line``,
    ``text`` = the line for text files, ``metadata["jaft_item"]`` = the parsed object otherwise."""

    name = "📖 jaft shard reader"
    type = "📖 - READER"

    def __init__(self, shards: list[Shard], fmt: str = "auto", max_line_bytes: int = 1_000_000,
                 strict: bool = False, encodings: dict[str, EncodingChoice] | None = None) -> None:
        super().__init__()
        self.shards = shards
        self.encodings = encodings or {}  # per input path, decided once before sharding (else per shard)
        self.fmt = fmt
        self.max_line_bytes = max_line_bytes
        self.strict = strict

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        shard = self.shards[rank]
        crash_at = 3 if os.environ.get(CRASH_ENV) == str(rank) else -1
        progress = PROGRESS

        def advance(n: int) -> None:
            if progress is not None:
                progress[2 * rank + 1] += n

        items = iter_shard(shard, self.fmt, encoding=self.encodings.get(shard.path),
                           max_line_bytes=self.max_line_bytes, progress=advance)
        i = -1
        for i, item in enumerate(items):
            if i == crash_at:
                os.kill(os.getpid(), signal.SIGKILL)
            if progress is not None and i & 63 == 63:
                progress[2 * rank] += 64
            self.stat_update("documents")
            meta: dict[str, Any] = {"jaft_path": item.path, "jaft_validation": shard.validation, "jaft_shard": rank}
            if isinstance(item, Item):
                if not isinstance(item.value, str):
                    meta["jaft_item"] = item.value
                yield Document(item.value if isinstance(item.value, str) else "", item.source, metadata=meta)
                continue
            if self.strict:
                raise strict_error(item.source, item.message)
            doc = Document("", item.source, metadata=meta)
            _tag(doc, "read", item.reason, item.message, **({"raw": item.raw} if item.raw is not None else {}))
            yield doc
        if progress is not None:  # the records after the last full 64
            progress[2 * rank] += (i + 1) & 63


class JaftValidate(PipelineStep):
    """Raw object (or text) → :class:`Record` (format detection, R1 ``<answer>`` extraction)."""

    name = "✅ jaft validate"
    type = "🔻 - FILTER"

    def __init__(self, fmt: str = "auto", strict: bool = False) -> None:
        super().__init__()
        self.fmt = fmt
        self.strict = strict

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            if _rejected(doc):
                yield doc
                continue
            value = doc.metadata.pop("jaft_item", doc.text)
            try:
                doc.metadata[RECORD] = to_record(value, self.fmt, source=doc.id)
            except BadRecord as e:
                if self.strict:
                    raise strict_error(doc.id, e.message) from None
                raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                _tag(doc, "validate", e.reason, e.message, raw=raw[:500])
                self.stat_update("rejected")
            except ValueError as e:  # the Record model's own checks
                if self.strict:
                    raise strict_error(doc.id, str(e).splitlines()[0]) from None
                _tag(doc, "validate", "invalid_record", str(e).splitlines()[0])
                self.stat_update("rejected")
            yield doc


class JaftNormalize(PipelineStep):
    """Meaning-preserving normalization of the stored texts; ``doc.text`` becomes the dedup key."""

    name = "🈁 jaft normalize"
    type = "✂️ - FORMAT"

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from jaft.japanese.normalize import normalize_text

        for doc in data:
            if not _rejected(doc):
                record: Record = doc.metadata[RECORD]
                if self.normalize:
                    texts = record_texts(record)
                    normalized = [normalize_text(t) for t in texts]
                    if any(a is not b for a, b in zip(texts, normalized, strict=True)):
                        record = doc.metadata[RECORD] = with_texts(record, normalized)
                doc.text = content_key(record)
            yield doc


class JaftQualityFilter(PipelineStep):
    """:class:`jaft.data.quality.QualityFilter` on the key; failures are tagged ``filter``."""

    name = "🇯🇵 jaft quality filter"
    type = "🔻 - FILTER"

    def __init__(self, config: JapaneseDataConfig) -> None:
        super().__init__()
        self.filter = QualityFilter(config)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for doc in data:
            if not _rejected(doc):
                verdict = self.filter.check(doc.text)
                if verdict is not None:
                    _tag(doc, "filter", verdict.reason, verdict.detail)
                    self.stat_update(verdict.reason)
            yield doc


class JaftAugment(PipelineStep):
    """Adds ``metadata["jaft_variants"]``: up to ``augment`` labelled linguistic variants (rows in the
    Record schema), seeded by the record's text, so a record gets the same variants on any worker.
    With a limit (``augment_limit``), the first records in input order get them: ``offsets`` gives the
    number of kept records before each shard."""

    name = "🎭 jaft augment"
    type = "✂️ - FORMAT"

    def __init__(self, config: JapaneseDataConfig, offsets_folder: DataFolderLike = None) -> None:
        super().__init__()
        self.c = config
        self.offsets_folder = get_datafolder(offsets_folder) if offsets_folder is not None else None

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        c = self.c
        limit = c.augment_sample_limit()
        index = 0
        if limit is not None and self.offsets_folder is not None:
            with self.offsets_folder.open(OFFSETS, "r") as f:
                index = json.load(f)[rank]
        progress = PROGRESS
        n = -1
        for n, doc in enumerate(data):
            if progress is not None and n & 15 == 15:
                progress[2 * rank] += 16
            if not _rejected(doc) and c.augment > 0 and (limit is None or index < limit):
                doc.metadata["jaft_variants"] = self._variants(doc.metadata[RECORD])
            if not _rejected(doc):
                index += 1
            yield doc
        if progress is not None:  # the records after the last full 16
            progress[2 * rank] += (n + 1) & 15

    def _variants(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        return variant_rows(row, self.c)
