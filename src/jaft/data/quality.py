"""Dedup and quality filters for Japanese records (after Swallow / llm-jp corpus practice).

Every decision is made on the aggressive key of :func:`jaft.japanese.normalize.normalize_key`, never
on the stored text. Exact duplicates are found by a 128-bit hash of the key; near duplicates by
MinHash over character n-grams with ``datasketch``'s LSH index. Both indexes hold a few hundred
bytes per kept record, so memory grows slowly with the corpus while records themselves stream.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

from jaft.config.data import JapaneseDataConfig
from jaft.japanese.letters import letter_counts
from jaft.japanese.normalize import repetition_ratio

# Reason codes (report.json "reasons", rejects.jsonl "reason"), grouped by stage.
FILTER_REASONS = ("too_short", "low_japanese_ratio", "low_hiragana_ratio", "repetitive")
DUPLICATE_REASONS = ("duplicate_exact", "duplicate_near")


@dataclass(frozen=True)
class Verdict:
    reason: str
    detail: str


class QualityFilter:
    """Minimum length, Japanese-character ratio, hiragana ratio and repetition, on the key."""

    def __init__(self, config: JapaneseDataConfig) -> None:
        self.c = config

    def check(self, key: str) -> Verdict | None:
        c = self.c
        if len(key) < c.min_chars:
            return Verdict("too_short", f"{len(key)} characters < data.min_chars={c.min_chars}")
        # Counted like the language reward counts (jaft.japanese.letters): R1 tags, LaTeX, variables
        # and Greek letters are no language, so Japanese math records are not "foreign".
        letters, ja_count, hira_count = letter_counts(key)
        ja = ja_count / letters if letters else 0.0
        hira = hira_count / letters if letters else 0.0
        if letters == 0 or ja < c.min_japanese_ratio:
            return Verdict("low_japanese_ratio", f"Japanese share of letters {ja:.2f} < {c.min_japanese_ratio}")
        if hira < c.min_hiragana_ratio:
            return Verdict("low_hiragana_ratio", f"hiragana share of letters {hira:.2f} < {c.min_hiragana_ratio}")
        rep = repetition_ratio(key)
        if rep > c.max_repetition:
            return Verdict("repetitive", f"repeated 10-gram share {rep:.2f} > {c.max_repetition}")
        return None


class ExactDedup:
    def __init__(self) -> None:
        self._seen: dict[bytes, str] = {}

    def check_and_add(self, key: str, source: str) -> str | None:
        """The source of an earlier identical key, or None (then this one is remembered)."""
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()
        first = self._seen.get(digest)
        if first is None:
            self._seen[digest] = source
        return first


def _band_key(band: bytes) -> bytes:
    return hashlib.blake2b(band, digest_size=8).digest()


class NearDedup:
    """MinHash LSH over character n-grams of the key; keys shorter than n are skipped.

    Signatures are datasketch ``MinHash`` values (affine32 scheme, CRC-32 of each shingle) computed
    for a batch of keys at once: the same numbers ``MinHash.update_batch`` gives one key at a time
    (a test checks this), without its fixed per-call cost, which exceeds the hashing itself for
    paragraph-sized keys. The LSH index is datasketch's ``MinHashLSH``.
    """

    def __init__(self, threshold: float, ngram: int = 5, num_perm: int = 64, seed: int = 1) -> None:
        from datasketch import MinHash, MinHashLSH

        self.ngram = ngram
        self.num_perm = num_perm
        # Bucket keys hashed to 8 bytes (datasketch's hashfunc option): r×4-byte band keys would be
        # the largest part of the index after the buckets themselves.
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, hashfunc=_band_key)
        # CRC-32 (a C function) instead of datasketch's default SHA-1 run from Python per shingle.
        self._mh = MinHash(num_perm=num_perm, seed=seed, hashfunc=zlib.crc32, scheme="affine32")

    def shingles(self, key: str) -> set[bytes]:
        # Sliced from the UTF-32 bytes (4 bytes a character): no encode call per shingle.
        n4 = self.ngram * 4
        b = key.encode("utf-32-le")
        return {b[i : i + n4] for i in range(0, len(b) - n4 + 4, 4)}

    def signatures(self, keys: list[str]):
        """MinHash values (``num_perm`` uint32 each) of ``keys``; None for keys shorter than n."""
        import numpy as np

        hashes: list[int] = []
        counts: list[int] = []
        for key in keys:
            if len(key) < self.ngram:
                counts.append(0)
                continue
            sh = self.shingles(key)
            hashes.extend(map(zlib.crc32, sh))
            counts.append(len(sh))
        if not hashes:
            return [None] * len(keys)
        hv = np.array(hashes, dtype=np.uint32).reshape(-1, 1)
        # datasketch's affine32 scheme: MurmurHash3 finaliser, then h·a + b mod 2^32 per permutation.
        hv ^= hv >> np.uint32(16)
        hv *= np.uint32(0x85EBCA6B)
        hv ^= hv >> np.uint32(13)
        hv *= np.uint32(0xC2B2AE35)
        hv ^= hv >> np.uint32(16)
        a, b = self._mh.permutations
        phv = hv * a + b
        starts = np.cumsum([0, *[c for c in counts if c][:-1]])
        mins = iter(np.minimum.reduceat(phv, starts, axis=0))
        return [next(mins) if c else None for c in counts]

    def check_and_add(self, key: str, source: str, signature=None) -> str | None:
        """The source of an earlier near-duplicate, or None (then this one is indexed)."""
        if signature is None:
            signature = self.signatures([key])[0]
            if signature is None:
                return None
        mh = self._mh
        mh.hashvalues = signature  # the LSH reads hashvalues and copies the bands it stores
        hits = self.lsh.query(mh)
        if hits:
            return str(min(hits))  # deterministic when several match
        self.lsh.insert(source, mh, check_duplication=False)
        return None
