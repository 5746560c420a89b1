"""Near and exact dedup at corpus scale through datatrove's stages, decided by global rules.

datatrove's ``ExactDedupSignature`` / ``ExactFindDedups`` and MinHash signature files → buckets →
clusters run unchanged, with three jaft parts: MinHash signatures over character n-grams of the
Japanese key (datatrove's word n-grams would need a segmenter; the numbers come from jaft's own
n-gram hash and permutations, in datatrove's file format), clusters that keep the first record in
input order, and verdicts that tag duplicates instead of dropping them (rejects list every record
with ``path:line``).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import numpy as np
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
from datatrove.utils.typeshelper import StatHints

from jaft.config.data import JapaneseDataConfig
from jaft.data.pipeline_steps import OFFSETS, RECORD, _tag

# Documents whose MinHash signatures are computed together (numpy calls per batch, not per record), and
# the most n-gram × hash numbers a batch holds: 2^19 uint64, 4 MiB per temporary array. Measured on the
# shared corpus's 27,133 keys (µs a key for the signatures): 2^17 9.2, 2^18 4.9, 2^19 4.5, 2^20 4.4,
# 2^21 6.9 (out of cache). Below ~8,000 numbers per row, numpy multiplies the (hashes, 1) × (n-grams,)
# broadcast 2.5× slower per number, so small batches cost more than their call overhead.
SIGNATURE_BATCH, SIGNATURE_NUMBERS = 1024, 1 << 19
# n-gram hash constants: the FNV-1 64-bit prime (polynomial base) and splitmix64's finaliser multipliers.
_POLY, _MIX1, _MIX2 = (np.uint64(v) for v in (0x100000001B3, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB))
# Bits of each permuted hash kept in the signature files, per datatrove precision: its bucket stage reads
# a file only up to the first signature >= 2^61 - 1 (precision 64) or >= 2^32 - 1 (precision 32), so a
# kept value must stay below those bounds or its record would silently take no part in near dedup.
_KEPT_BITS = {64: 60, 32: 31}


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
    """MinHash signatures in datatrove's files (bands, record layout, sort and check) over character
    n-grams of the key (Japanese has no spaces, so datatrove's word n-grams would need a segmenter and
    miss near-duplicates that differ in a word), the n-grams hashed by :meth:`window_hashes`.

    The permutations are multiply-add-shift (Dietzfelbinger et al., "A reliable randomized algorithm
    for the closest-pair problem", 1997; Thorup, "High speed hashing for integers and strings", 2015):
    ``(a·h + b) mod 2^64`` with ``a`` odd, a bijection of 64-bit numbers, of which the signature keeps
    the high bits (:data:`_KEPT_BITS`). datatrove's ``(a·h + b) mod (2^61 - 1)`` needs five more
    passes over the ``n-grams × hashes`` array for the modulus; MinHash needs only that each
    permutation orders a text's n-grams like a random one, which the n-gram hashes (already
    splitmix64-mixed) and a random ``a``, ``b`` give: a test checks estimated against true Jaccard on
    perturbed Japanese text, as closely as datatrove's permutations do. On the shared Japanese corpus
    (27,133 paragraphs, process time per step) :class:`JaftDedupSignatures` fell from 37–43 to 18–19 µs
    a record. The signatures were never comparable with datatrove's word n-gram ones (other
    shingles), so nothing is lost by other numbers.
    """

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
        self._shift = np.uint64(64 - _KEPT_BITS[config.hash_config.precision])

    @property
    def parameters(self):
        """``(a, b)``: one multiply-add-shift permutation per row (``(num_hashes, 1)`` uint64 each, ``a``
        odd), drawn from ``config.seed`` with numpy's legacy ``RandomState`` (its stream is frozen across
        numpy versions, so every worker and every rerun draws the same permutations)."""
        if self._parameters is None:
            gen = np.random.RandomState(self.config.seed)
            a = gen.randint(0, 1 << 64, size=(self.num_hashes, 1), dtype=np.uint64) | np.uint64(1)
            b = gen.randint(0, 1 << 64, size=(self.num_hashes, 1), dtype=np.uint64)
            self._parameters = (a, b)
        return self._parameters

    def get_signature(self, shingles) -> list[list[int]]:
        """The signature of one text's ``(count, 1)`` shingles, cut into bands (what datatrove's own
        per-record loop calls; :meth:`batch_signatures` gives the same numbers for many texts)."""
        return self._minima(shingles.reshape(-1), np.zeros(1, dtype=np.int64))[:, 0].reshape(
            self.config.num_buckets, -1).tolist()

    def window_hashes(self, codepoints):
        """One 64-bit hash per character n-gram window of ``codepoints`` (uint64 array of N code
        points → ``N - n + 1`` hashes; empty when ``N < n``): the code points combined as a polynomial
        (mod 2^64), then splitmix64's finaliser to spread the bits. Whole arrays at a time: hashing each
        n-gram through xxhash from Python cost more than the rest of the admit stage's dedup work.
        Repeated n-grams give repeated hashes, which leave a minimum unchanged (MinHash is over the set)."""
        n = self.config.n_grams
        windows = len(codepoints) - n + 1
        if windows <= 0:
            return np.empty(0, dtype=np.uint64)
        h = codepoints[:windows].copy()
        for k in range(1, n):
            h *= _POLY
            h += codepoints[k : k + windows]
        h ^= h >> np.uint64(30)
        h *= _MIX1
        h ^= h >> np.uint64(27)
        h *= _MIX2
        h ^= h >> np.uint64(31)
        return h

    @staticmethod
    def codepoints(text: str):
        # surrogatepass: a lone surrogate from another reader still hashes (jaft's reader rejects them)
        return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4").astype(np.uint64)

    def get_shingles(self, text: str):
        """The n-gram hashes of ``text`` as datatrove's ``(count, 1)`` shingle array."""
        return self.window_hashes(self.codepoints(text)).reshape((-1, 1))

    def _minima(self, hashes, firsts):
        """``(num_hashes, len(firsts))`` signature numbers: per permutation, the minimum of the permuted
        ``hashes`` over each run ``firsts[k]:firsts[k + 1]``, high bits kept. One multiply and one add
        over the array, in the permutation-major layout: each row's runs are then contiguous, and
        ``minimum.reduceat`` along rows costs a fifth of the same reduction down columns (measured:
        the permutations and minima went from 16 to 3.2 µs a record on the shared corpus). Keeping
        the high bits after the minimum gives the high bits of the minimum (a shift keeps order)."""
        a, b = self.parameters
        x = a * hashes  # (num_hashes, 1) × (count,) → (num_hashes, count), wraps mod 2^64
        x += b
        mins = np.minimum.reduceat(x, firsts, axis=1)
        mins >>= self._shift
        return mins.astype(self.config.hash_config.np_dtype, copy=False)

    def batch_signatures(self, texts: list[str]):
        """Signatures of many texts at once: ``(rows, mins)``, the indexes (into ``texts``) of texts with at
        least one n-gram and their ``(len(rows), num_hashes)`` minima (a transposed view, so each
        permutation's numbers are contiguous where :meth:`run` reads them), the numbers
        :meth:`get_signature` gives one text at a time (a test checks this). The texts are hashed as one
        array of code points; windows that cross from one text into the next are left out."""
        n = self.config.n_grams
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        grams = np.maximum(lengths - n + 1, 0)
        rows = np.flatnonzero(grams)
        if not len(rows):
            return [], np.empty((0, self.num_hashes), dtype=self.config.hash_config.np_dtype)
        hashes = self.window_hashes(self.codepoints("".join(texts)))
        counts = grams[rows]
        firsts = np.cumsum(counts) - counts  # where each text's windows start among the kept ones
        starts = (np.cumsum(lengths) - lengths)[rows]  # where each text starts in the joined text
        windows = np.repeat(starts - firsts, counts) + np.arange(int(counts.sum()))
        return rows.tolist(), self._minima(hashes[windows], firsts).T

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> None:
        """datatrove's signature files (one per band, records ``<hashes…, doc index>``), written a batch
        of documents at a time; then datatrove's own sort and check of those files."""
        cfg = self.config
        r = cfg.hashes_per_bucket
        fmt = f"<{cfg.hash_config.struct_format}"
        dtype = np.dtype([(f"field{i + 1}", fmt) for i in range(r)] + [(f"field{r + 1}", "<I")])
        with self.track_time():
            buckets = [self.output_folder.open(f"bucket_{bi:03d}/{rank:05d}.minhash.sig", mode="wb")
                       for bi in range(cfg.num_buckets)]
            batch: list[str] = []
            first = 0

            def flush() -> None:
                rows, mins = self.batch_signatures(batch)
                for bi, f in enumerate(buckets):
                    out = np.empty(len(rows), dtype=dtype)
                    for i in range(r):
                        out[f"field{i + 1}"] = mins[:, bi * r + i]
                    out[f"field{r + 1}"] = np.asarray(rows, dtype=np.uint32) + first
                    f.write(out.tobytes())

            grams = 0  # at most this many n-grams in the batch: its arrays hold grams × num_hashes numbers
            for doc_idx, doc in enumerate(data):
                self.stat_update(StatHints.total)
                batch.append(doc.text)
                grams += max(0, len(doc.text) - cfg.n_grams + 1)
                if len(batch) >= SIGNATURE_BATCH or grams * self.num_hashes >= SIGNATURE_NUMBERS:
                    flush()
                    first, batch, grams = doc_idx + 1, [], 0
            flush()
            for f in buckets:
                f.close()
        # The files are complete: datatrove's run only sorts and verifies them (an empty shard: it
        # finds no signature to reuse and writes the same empty files).
        self.skip_existing_sigs = True
        super().run(iter(()), rank, world_size)


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
