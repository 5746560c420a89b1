"""Near and exact dedup at corpus scale through datatrove's stages, decided by global rules.

datatrove's ``ExactDedupSignature`` / ``ExactFindDedups`` and MinHash signatures → buckets → clusters
run unchanged, with three jaft parts: MinHash over character n-grams of the Japanese key (datatrove's
word n-grams would need a segmenter), clusters that keep the first record in input order, and
verdicts that tag duplicates instead of dropping them (rejects list every record with ``path:line``).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

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
from jaft.data.pipeline_steps import OFFSETS, RECORD, _tag


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

    def get_signature(self, shingles) -> list[list[int]]:
        """datatrove's signature (same numbers), cut into bands with one reshape instead of ``np.split``."""
        import numpy as np

        a, b = self.parameters
        phv = (shingles * a + b) % np.uint64((1 << 61) - 1)
        if self.config.hash_config.precision == 32:
            phv = np.bitwise_and(phv, self.config.hash_config.max)
        return np.min(phv, axis=0).astype(self.config.hash_config.np_dtype).reshape(self.config.num_buckets, -1).tolist()

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
    """Reads ``<folder>/<rank>.jsonl`` written by datatrove's JsonlWriter in the first stage (one
    file per shard, also when empty, so index ``i`` here is index ``i`` there)."""

    name = "📖 jaft admitted reader"
    type = "📖 - READER"

    def __init__(self, folder: DataFolderLike) -> None:
        super().__init__()
        self.folder = get_datafolder(folder)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        name = f"{rank:05d}.jsonl"
        if not self.folder.isfile(name):
            return
        with self.folder.open(name, "r", encoding="utf-8") as f:
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
