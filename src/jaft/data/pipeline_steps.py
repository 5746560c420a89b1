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
JaftRejects            writes tagged records to rejects, counts, forwards the rest
JaftDedupSignatures    datatrove exact-dedup and MinHash signatures in one pass
LowestIndexCluster     datatrove MinHash clusters, keeping the first record in input order
JaftDedupVerdicts      tags records that the exact / MinHash stages found to be duplicates
JaftAugment            linguistic variants (style, particles, adverbs, endings, honorifics)
JaftOutput             validation split by content hash; train / validation / rejects shards
=====================  =================================================================
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import struct
from collections import Counter
from collections.abc import Iterator
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.exact_dedup import ExactDedupConfig, ExactDedupSignature
from datatrove.pipeline.dedup.minhash import (
    SENTINEL,
    MinhashConfig,
    MinhashDedupCluster,
    MinhashDedupSignature,
)
from datatrove.utils.binaryio import read_tuples_from_file

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import BadRecord, Item, record_texts, texts_into_row, to_record, with_texts
from jaft.data.quality import QualityFilter
from jaft.data.records import Record
from jaft.data.shards import Shard, iter_shard
from jaft.errors import JaftError

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


def _strict_error(source: str, message: str) -> JaftError:
    return JaftError(f"{source}: {message} (--strict stops at the first bad record; without it, "
                     "bad records go to rejects.jsonl)")


class JaftShardReader(PipelineStep):
    """Reads shard ``rank`` of ``shards`` (one task per shard). Documents: ``id`` = ``path:line``,
    ``text`` = the line for text files, ``metadata["jaft_item"]`` = the parsed object otherwise."""

    name = "📖 jaft shard reader"
    type = "📖 - READER"

    def __init__(self, shards: list[Shard], fmt: str = "auto", max_line_bytes: int = 1_000_000,
                 strict: bool = False) -> None:
        super().__init__()
        self.shards = shards
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

        for i, item in enumerate(iter_shard(shard, self.fmt, max_line_bytes=self.max_line_bytes, progress=advance)):
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
                raise _strict_error(item.source, item.message)
            doc = Document("", item.source, metadata=meta)
            _tag(doc, "read", item.reason, item.message, **({"raw": item.raw} if item.raw is not None else {}))
            yield doc


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
                    raise _strict_error(doc.id, e.message) from None
                raw = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                _tag(doc, "validate", e.reason, e.message, raw=raw[:500])
                self.stat_update("rejected")
            except ValueError as e:  # the Record model's own checks
                if self.strict:
                    raise _strict_error(doc.id, str(e).splitlines()[0]) from None
                _tag(doc, "validate", "invalid_record", str(e).splitlines()[0])
                self.stat_update("rejected")
            yield doc


def content_key(record: Record) -> str:
    """The dedup / filter key: every text field, NFKC-like folded (:func:`normalize_key`)."""
    from jaft.japanese.normalize import normalize_key

    return normalize_key("\x1f".join(record_texts(record)))


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


# --- accounting and plain files ---------------------------------------------------------------------

class Tally:
    """Counters of one task, saved as JSON and summed over tasks by :func:`merge_tallies`."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.variants: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.per_source: dict[str, Counter[str]] = {}

    def source(self, path: str) -> Counter[str]:
        return self.per_source.setdefault(path, Counter())

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
                           "kinds": self.kinds, "per_source": self.per_source}, ensure_ascii=False, sort_keys=True)


def merge_tallies(texts: list[str]) -> dict[str, Any]:
    """Sum of :meth:`Tally.to_json` documents (counters added key by key, sources kept in first-seen order)."""
    out: dict[str, Any] = {"counts": Counter(), "reasons": Counter(), "variants": Counter(), "kinds": Counter(),
                           "per_source": {}}
    for text in texts:
        d = json.loads(text)
        for key in ("counts", "reasons", "variants", "kinds"):
            out[key].update(d[key])
        for src, c in d["per_source"].items():
            out["per_source"].setdefault(src, Counter()).update(c)
    return out


class _Lines:
    """One task's JSON Lines output: gzip with a fixed header time (byte-identical reruns) or plain,
    written under a temporary name and renamed when the task ends."""

    def __init__(self, folder, name: str, compress: bool) -> None:
        self.folder, self.name = folder, name
        self.tmp = f"{name}.tmp"
        self.raw = folder.open(self.tmp, "wb")
        self.f = gzip.GzipFile(fileobj=self.raw, mode="wb", mtime=0, compresslevel=6) if compress else self.raw
        self.buf = io.BytesIO()
        self.count = 0

    def write(self, line: str) -> None:
        self.buf.write(line.encode("utf-8") + b"\n")
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
            if _rejected(doc):
                out.write(json.dumps(tally.reject(doc), ensure_ascii=False))
                continue
            tally.counts["admitted"] += 1
            yield doc
        out.close()
        with self.tally_folder.open(f"{rank:05d}.json", "w") as f:
            f.write(tally.to_json())


def admitted_row(self, doc: Document) -> dict:
    """Adapter for datatrove's JsonlWriter: what the later stages need of an admitted record."""
    record = doc.metadata[RECORD]
    return {"text": doc.text, "id": doc.id, "metadata": {
        "jaft_path": doc.metadata["jaft_path"], "jaft_validation": doc.metadata["jaft_validation"],
        RECORD: record.model_dump(mode="json", exclude_defaults=True)}}


# --- dedup through datatrove's stages -----------------------------------------------------------------

def exact_key(doc: Document) -> bytes:
    return doc.text.encode("utf-8")


def shard_priority(doc: Document) -> int:
    # datatrove keeps the highest priority of equal hashes (then the lowest index in the file): the
    # lowest shard wins, so the first record in input order is kept.
    return 65535 - doc.metadata["jaft_shard"]


def exact_config() -> ExactDedupConfig:
    return ExactDedupConfig(content_getter=exact_key, document_priority=shard_priority)


def minhash_config(config: JapaneseDataConfig) -> MinhashConfig:
    """Bands × rows chosen for ``near_dup_threshold`` within ``near_dup_num_perm`` hashes, by
    datasketch's false-positive / false-negative optimisation (what :class:`NearDedup` uses)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(config.near_dup_threshold, config.near_dup_num_perm, 0.5, 0.5)
    return MinhashConfig(n_grams=config.near_dup_ngram, num_buckets=bands, hashes_per_bucket=rows, seed=config.seed)


class JaftMinhashSignature(MinhashDedupSignature):
    """datatrove's MinHash signatures over character n-grams of the key (Japanese has no spaces, so
    datatrove's word n-grams would need a segmenter and miss near-duplicates that differ in a word)."""

    def __init__(self, output_folder: DataFolderLike, config: MinhashConfig) -> None:
        from datatrove.utils.word_tokenizers import WordTokenizer

        class _Unused(WordTokenizer):  # get_shingles below never tokenizes
            def word_tokenize(self, text: str) -> list[str]:
                return list(text)

            def sent_tokenize(self, text: str) -> list[str]:
                return [text]

            def span_tokenize(self, text: str) -> list[tuple[int, int]]:
                return [(0, len(text))]

        super().__init__(output_folder, config, language=_Unused())

    def get_shingles(self, text: str):
        import numpy as np

        # Sliced from the UTF-32 bytes (4 bytes a character): no encode call per n-gram.
        n4 = self.config.n_grams * 4
        b = text.encode("utf-32-le")
        grams = {b[i : i + n4] for i in range(0, len(b) - n4 + 4, 4)}
        return np.fromiter(map(self._hash_func, grams), dtype=np.uint64, count=len(grams)).reshape((-1, 1))


class JaftDedupSignatures(PipelineStep):
    """Exact-dedup hashes (datatrove ``ExactDedupSignature``) and MinHash signatures
    (:class:`JaftMinhashSignature`) of admitted records in one pass. Records with a gold answer take
    part in exact dedup only: math problems that differ only in their numbers are not duplicates."""

    name = "🫂 jaft dedup signatures"
    type = "🫂 - DEDUP"

    def __init__(self, exact_folder: DataFolderLike, minhash_folder: DataFolderLike, config: MinhashConfig) -> None:
        super().__init__()
        self.exact = ExactDedupSignature(exact_folder, exact_config())
        self.near = JaftMinhashSignature(minhash_folder, config)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        hashes: list = []

        def near_docs() -> Iterator[Document]:
            for i, doc in enumerate(data):
                hashes.extend(self.exact.get_hashes(doc, i))
                record = doc.metadata[RECORD]
                yield Document(doc.text if record.answer is None else "", doc.id)

        self.near.run(near_docs(), rank, world_size)
        self.exact.save_hashes(rank, hashes)


class LowestIndexCluster(MinhashDedupCluster):
    """datatrove's MinHash clustering (union-find over the bucket matches, same files in and out)
    with one change: each cluster keeps its lowest ``(shard, index)``, i.e. the first record in input
    order, so the kept records do not depend on how the input was sharded (datatrove keeps the
    root of a union by size)."""

    def run(self, data: DocumentsPipeline = None, _: int = 0, world_size: int = 1) -> None:
        parent: dict[tuple[int, int], tuple[int, int]] = {}

        def find(x: tuple[int, int]) -> tuple[int, int]:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while x != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        with self.track_time():
            for dup_file in self.input_folder.list_files(glob_pattern="*.dups"):
                with self.input_folder.open(dup_file, "rb") as f:
                    for f1, d1, f2, d2 in read_tuples_from_file(f, "4I", lines_to_buffer=self.lines_to_buffer):
                        if f1 == SENTINEL:
                            continue
                        a, b = find((f1, d1)), find((f2, d2))
                        if a != b:
                            lo, hi = min(a, b), max(a, b)
                            parent[hi] = lo
                            parent.setdefault(lo, lo)
            with self.output_folder.get_output_file_manager(mode="wb") as out:
                for node in sorted(parent):
                    if find(node) != node:
                        out.write(f"{node[0]:06d}.remove", struct.pack("<I", node[1]))
                        self.stat_update("to_remove")


class KeptOffsets(PipelineStep):
    """After the dedup stages: how many records each shard keeps, and how many all earlier shards keep
    (``offsets.json``), so "the first N kept records get variants" means the same on any sharding."""

    name = "🔢 jaft kept offsets"
    type = "🫂 - DEDUP"

    def __init__(self, tasks: int, tally_folder: DataFolderLike, exact_folder: DataFolderLike,
                 minhash_folder: DataFolderLike, output_folder: DataFolderLike) -> None:
        super().__init__()
        self.tasks = tasks
        self.tally_folder = get_datafolder(tally_folder)
        self.exact_folder = get_datafolder(exact_folder)
        self.minhash_folder = get_datafolder(minhash_folder)
        self.output_folder = get_datafolder(output_folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> None:
        offsets, total = [], 0
        for r in range(self.tasks):
            offsets.append(total)
            with self.tally_folder.open(f"{r:05d}.json", "r") as f:
                admitted = json.load(f)["counts"].get("admitted", 0)
            exact, near = removed_indexes(self.exact_folder, self.minhash_folder, r)
            total += admitted - len(exact) - len(near)
        with self.output_folder.open(OFFSETS, "w") as f:
            json.dump(offsets, f)


def _read_u32(folder, path: str):
    import numpy as np

    with folder.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype="<u4")


def removed_indexes(exact_folder, minhash_folder, rank: int) -> tuple[set[int], set[int]]:
    """Indexes (in the shard's admitted records) that datatrove's exact stage and the MinHash
    clusters remove: ``(exact, near)``."""
    exact: set[int] = set()
    for name in exact_folder.list_files(glob_pattern=f"*/{rank:05d}.c4_dup"):
        exact.update(_read_u32(exact_folder, name).tolist())
    near = set(_read_u32(minhash_folder, f"{rank:06d}.remove").tolist()) if minhash_folder.isfile(
        f"{rank:06d}.remove") else set()
    return exact, near - exact


class JaftAdmittedReader(PipelineStep):
    """Reads ``<folder>/<rank>.jsonl.gz`` written by datatrove's JsonlWriter in the first stage (one
    file per shard, also when empty, so index ``i`` here is index ``i`` there)."""

    name = "📖 jaft admitted reader"
    type = "📖 - READER"

    def __init__(self, folder: DataFolderLike) -> None:
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = f"{rank:05d}.jsonl.gz"
        if not self.folder.isfile(name):
            return
        with self.folder.open(name, "rt", compression="gzip", encoding="utf-8") as f:
            for line in f:
                d = json.loads(line)
                yield Document(d["text"], d["id"], metadata=d["metadata"])


class JaftDedupVerdicts(PipelineStep):
    """Tags the records datatrove's exact stage and MinHash clusters remove (``duplicate_exact`` /
    ``duplicate_near``) instead of dropping them as datatrove's filter steps do: rejects must list them
    with their ``path:line``, and chaining two dropping filters would shift the second one's indexes."""

    name = "🫂 jaft dedup verdicts"
    type = "🫂 - DEDUP"

    def __init__(self, exact_folder: DataFolderLike, minhash_folder: DataFolderLike, threshold: float) -> None:
        super().__init__()
        self.exact_folder = get_datafolder(exact_folder)
        self.minhash_folder = get_datafolder(minhash_folder)
        self.threshold = threshold

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        exact, near = removed_indexes(self.exact_folder, self.minhash_folder, rank)
        for i, doc in enumerate(data):
            if i in exact:
                _tag(doc, "dedup", "duplicate_exact", "same text as an earlier record (exact dedup on the key)")
            elif i in near:
                _tag(doc, "dedup", "duplicate_near",
                     f"near-duplicate of an earlier record (MinHash Jaccard ≈ {self.threshold}, datatrove clusters)")
            yield doc


def varied_fields(record: Record) -> list[bool]:
    """Which of :func:`record_texts` get linguistic variants: never system prompts, and never the
    solution of a problem with a gold answer (its reasoning must keep matching the answer)."""
    if record.kind == "text":
        return [True]
    if record.kind == "chat":
        return [m.role != "system" for m in record.messages or []]
    mask = [False] if record.system is not None else []
    return [*mask, True, record.answer is None]


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
        for n, doc in enumerate(data):
            if progress is not None and n & 15 == 15:
                progress[2 * rank] += 16
            if not _rejected(doc) and c.augment > 0 and (limit is None or index < limit):
                doc.metadata["jaft_variants"] = self._variants(doc.metadata[RECORD])
            if not _rejected(doc):
                index += 1
            yield doc

    def _variants(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        from jaft.japanese.augment import variants_of_fields

        record = Record.model_validate(row)
        texts = record_texts(record)
        mask = varied_fields(record)
        varied = [t for t, m in zip(texts, mask, strict=True) if m]
        out = []
        base_id = record.id or record.source
        for v in variants_of_fields(varied, self.c.augment, seed=self.c.seed, kinds=self.c.augment_kinds):
            it = iter(v.texts)
            variant = texts_into_row(row, [next(it) if m else t for t, m in zip(texts, mask, strict=True)])
            variant["id"] = f"{base_id}#{v.kind}"
            variant["variant"] = v.kind
            variant["meta"] = {**record.meta, "variant_of": base_id, **({"variant_detail": v.detail} if v.detail else {})}
            out.append(variant)
        return out


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
            if variants:
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
        self.lines.write(json.dumps(row, ensure_ascii=False))

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
                cols[k].append(json.dumps(v, ensure_ascii=False, sort_keys=True) if k == "meta" else v)
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
