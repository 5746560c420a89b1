"""Extend a byte-level BPE vocabulary with Japanese tokens, and the model's embeddings with it.

How the new merges are learned (continued BPE training)
-------------------------------------------------------
A BPE tokenizer applies merges lowest rank first, so merges appended *after* every existing merge
fire only once no old merge applies: each pre-token is first tokenized exactly as before, and only
then may new merges join the resulting tokens. So the new merges are learned on that final old
tokenization:

1. Tokenize the corpus with the original tokenizer and cut each pre-token's tokens into Japanese
   runs (tokens made of kanji/kana, plus the one space or punctuation mark the pre-tokenizer glues
   to the front of a word; with ``within_words``, also cut where a fugashi word starts).
2. Characters the vocabulary splits into byte pieces (Qwen2.5: rarer kanji; Llama 3: many more)
   are made whole first, most frequent first: merges that join their pieces.
3. Spell every run with one private character per old token or whole character and let the
   ``tokenizers`` BPE trainer learn merges on those spellings. Mapped back, each learned merge joins
   two existing (or already added) tokens, in the order the trainer learned them.

Why non-Japanese text cannot change: every new token holds a whole kanji or kana character, or
(the intermediate pieces of step 2) begins a character that can only be Japanese. UTF-8 is
self-synchronising, so such bytes occur only in text that contains Japanese: text without it never
meets a new merge and keeps exactly its old ids. No ``added_tokens`` are used: those are matched
before pre-tokenization and would cut English and code apart. Old ids stay; new ids follow every
existing id, added tokens included.

Embeddings: new rows start as the mean of the rows of the old tokens that spelled the new token
(input embeddings, and the LM head when it is not tied); every old row, and so every logit of an
old-token input over the old vocabulary, stays as it was. Local safetensors checkpoints are
edited shard by shard (only the shards holding those matrices are loaded).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.tokenizer.scripts import has_japanese, is_japanese_char
from jaft.tokenizer.vocab import byte_level_token, is_byte_level, token_bytes_table, tokenizer_json

EXTENSION_FILE = "jaft_tokenizer_extension.json"
FORMAT = 1
# Token ids are spelled as characters from here for the trainer (past the surrogates, so every id
# below ~1M is a valid scalar value).
_BASE = 0x10000
_BATCH = 1000
# Non-Japanese text whose ids must not change; checked on every extension as a guard.
PROBE_TEXTS = (
    "The quick brown fox jumps over the lazy dog. It's 3.14 o'clock, isn't it?",
    "def main(argv: list[str]) -> int:\n    return subprocess.run(['ls', '-la']).returncode\n",
    "Ollama serves GGUF models; llama.cpp quantizes them to Q4_K_M.  Tabs\tand\nnewlines\r\n",
    "Привет, мир! Γειά σου Κόσμε. Ünïcödé façade naïve café — “quotes” … 1,234,567.89",
    "<think>reasoning</think> <answer>42</answer> {\"json\": [1, 2, 3], \"ok\": true}",
)


@dataclass
class NewToken:
    id: int
    token: str  # the vocabulary string (byte-level spelling)
    text: str
    pieces: list[int]  # ids of the old tokens that spelled it (for the embedding initialisation)
    count: int = 0  # occurrences in the extension corpus after extension


@dataclass
class ExtensionPlan:
    first_id: int  # the first new id: one past every id the tokenizer had (added tokens included)
    tokens: list[NewToken]
    merges: list[tuple[str, str]]
    stats: dict[str, Any] = field(default_factory=dict)


Progress = Callable[[str, int, int], None]  # (stage, done, total)


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


def check_extendable(backend: Any) -> dict[str, Any]:
    """The tokenizer JSON, after checking it is a byte-level BPE we know how to extend."""
    tj = tokenizer_json(backend)
    model = tj.get("model") or {}
    if model.get("type") != "BPE" or not is_byte_level(tj):
        raise JaftError(
            f"tokenizer extend supports byte-level BPE vocabularies (Qwen, Llama 3, R1-Distill); this one is "
            f"{model.get('type', 'unknown')}{'' if is_byte_level(tj) else ' without byte-level pre-tokenization'}"
        )
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") or model.get("dropout"):
        raise JaftError("tokenizer extend cannot extend a BPE with subword prefixes/suffixes or dropout")
    return tj


def _all_ids(tj: dict[str, Any]) -> list[int]:
    ids = list(tj["model"]["vocab"].values())
    ids += [int(t["id"]) for t in tj.get("added_tokens", [])]
    return ids


Unit = tuple[int, ...]  # old token ids that together spell whole characters


@dataclass
class _Corpus:
    runs: Counter[tuple[Unit, ...]] = field(default_factory=Counter)  # runs of ≥ 2 units new merges may join
    units: Counter[Unit] = field(default_factory=Counter)  # characters the old vocabulary splits into pieces
    stats: dict[str, int] = field(default_factory=lambda: {"texts": 0, "japanese_chars": 0, "tokens": 0})


def _segments(
    backend: Any, texts: Sequence[str], table: dict[int, bytes], word_boundaries: bool, progress: Progress
) -> _Corpus:
    """Tokenize ``texts`` with the old tokenizer and collect the Japanese runs new merges may join."""
    from jaft.tokenizer.words import word_starts

    corpus = _Corpus()
    normalizer = backend.normalizer
    for b in range(0, len(texts), _BATCH):
        batch = [normalizer.normalize_str(t) if normalizer else t for t in texts[b : b + _BATCH]]
        encodings = backend.encode_batch(batch, add_special_tokens=False)
        for text, enc in zip(batch, encodings, strict=True):
            corpus.stats["texts"] += 1
            corpus.stats["tokens"] += len(enc.ids)
            jchars = sum(1 for ch in text if is_japanese_char(ch))
            if not jchars:
                continue
            corpus.stats["japanese_chars"] += jchars
            starts = word_starts(text) if word_boundaries else None
            _text_segments(text, enc, table, starts, corpus)
        progress("segment", min(b + _BATCH, len(texts)), len(texts))
    return corpus


def _text_segments(text: str, enc: Any, table: dict[int, bytes], starts: set[int] | None, corpus: _Corpus) -> None:
    ids, word_ids, offsets = enc.ids, enc.word_ids, enc.offsets
    i, n = 0, len(ids)
    while i < n:
        j = i + 1
        while j < n and word_ids[i] is not None and word_ids[j] == word_ids[i]:
            j += 1
        # ids[i:j] is one pre-token. Its text comes from its bytes: offsets may be trimmed of spaces.
        raw = b"".join(table.get(t, b"\0") for t in ids[i:j])
        try:
            word = raw.decode("utf-8")
        except UnicodeDecodeError:
            word = ""
        if any(is_japanese_char(ch) for ch in word):
            # A Japanese pre-token ends on a Japanese character, whose end offset is exact.
            _word_segments(ids[i:j], word, offsets[j - 1][1] - len(word), table, starts, corpus)
        i = j


def _may_lead(ch: str) -> bool:
    """The one non-Japanese character a new token may start with: the space or punctuation mark
    that Qwen/Llama-style pre-tokenizers glue to the front of a word."""
    return not ch.isalnum() and ch not in "\r\n"


def _word_segments(ids: Sequence[int], word: str, w0: int, table: dict[int, bytes], starts: set[int] | None,
                   corpus: _Corpus) -> None:
    # Which characters new tokens may hold: Japanese ones, plus the one leading space or punctuation
    # mark the pre-tokenizer glues to a word (" システム", "「設定").
    ends: dict[int, int] = {}  # byte offset just past a character → index of the next character
    eligible: list[bool] = []
    pos = 0
    for k, ch in enumerate(word):
        pos += len(ch.encode("utf-8"))
        ends[pos] = k + 1
        eligible.append(is_japanese_char(ch) or (k == 0 and len(word) > 1 and _may_lead(ch)))
    # Group tokens into units that end on a character boundary: a kanji split into byte pieces is
    # one unit of several tokens; most units are one token.
    run: list[Unit] = []
    unit: list[int] = []
    pos = first_char = 0
    for tid in ids:
        pos += len(table[tid]) if tid in table else 1 << 30
        unit.append(tid)
        if pos not in ends:
            continue
        last_char = ends[pos]
        cut = not all(eligible[first_char:last_char])
        if starts is not None and (w0 + first_char) in starts:
            _flush(run, corpus)  # a word starts here: in --within-words mode no token may cross it
            run = []
        if cut:
            _flush(run, corpus)
            run = []
        else:
            run.append(tuple(unit))
            if len(unit) > 1:
                corpus.units[tuple(unit)] += 1
        unit = []
        first_char = last_char
    _flush(run, corpus)


def _flush(run: list[Unit], corpus: _Corpus) -> None:
    if len(run) >= 2:
        corpus.runs[tuple(run)] += 1


def _new_token_ok(raw: bytes) -> str | None:
    """The token's text when it may be added: whole characters, at least one of them Japanese, and
    nothing but Japanese after a possible leading space or punctuation mark."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lead = text[:1]
    body = text[1:] if lead and not is_japanese_char(lead) and _may_lead(lead) else text
    if not body or not all(is_japanese_char(ch) for ch in body):
        return None
    return text


def _prefix_ok(raw: bytes) -> bool:
    """May ``raw`` — whole characters then the first bytes of one more — be a token? Only if it can
    occur in text that has Japanese in it: it holds a whole Japanese character, or every character
    its trailing bytes can begin is Japanese (e3 81 → U+3040–307F, all hiragana)."""
    k = len(raw) - 1
    while k >= 0 and 0x80 <= raw[k] < 0xC0:
        k -= 1
    if k < 0 or raw[k] < 0xC0:
        return False  # no lead byte, or the last character is ASCII: not a partial character
    head, tail = raw[:k], raw[k:]
    need = 2 if tail[0] < 0xE0 else 3 if tail[0] < 0xF0 else 4
    if len(tail) >= need:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    if text and _new_token_ok(head) is not None:
        return True  # holds a whole Japanese character
    if text and not (len(text) == 1 and _may_lead(text)):
        return False
    value = tail[0] & (0x1F if need == 2 else 0x0F if need == 3 else 0x07)
    for b in tail[1:]:
        value = (value << 6) | (b & 0x3F)
    free = 6 * (need - len(tail))
    lo, hi = value << free, (value << free) | ((1 << free) - 1)
    return all(is_japanese_char(chr(cp)) for cp in range(lo, hi + 1) if not 0xD800 <= cp <= 0xDFFF)


class _Builder:
    """New vocabulary entries and merges, in rank order, within the ``add`` budget."""

    def __init__(self, vocab: dict[str, int], table: dict[int, bytes], first_id: int, add: int) -> None:
        self.vocab, self.table, self.first_id, self.add = vocab, table, first_id, add
        self.tokens: dict[str, NewToken] = {}
        self.merges: list[tuple[str, str]] = []
        self.pairs: set[tuple[str, str]] = set()
        self.skipped: Counter[str] = Counter()
        self.completed: list[Unit] = []

    def full(self) -> bool:
        return len(self.tokens) >= self.add

    def spell(self, ids: Unit) -> str:
        return byte_level_token(b"".join(self.table[t] for t in ids))

    def _new(self, token: str, text: str, pieces: Unit) -> None:
        self.tokens[token] = NewToken(self.first_id + len(self.tokens), token, text, list(pieces))

    def _merge(self, left: str, right: str) -> None:
        if (left, right) not in self.pairs:
            self.pairs.add((left, right))
            self.merges.append((left, right))

    def complete(self, unit: Unit) -> bool:
        """Merges that join the byte pieces of ``unit`` (whole characters) into one token."""
        steps = []
        for k in range(2, len(unit) + 1):
            token = self.spell(unit[:k])
            raw = b"".join(self.table[t] for t in unit[:k])
            if token in self.vocab:
                self.skipped["already_in_vocabulary"] += 1
                return False
            if k == len(unit):
                text = _new_token_ok(raw)
            else:  # an intermediate piece: the first bytes of a character
                text = raw.decode("utf-8", errors="replace") if _prefix_ok(raw) else None
            if text is None:
                self.skipped["partial_or_not_japanese"] += 1
                return False
            steps.append((self.spell(unit[: k - 1]), self.spell(unit[k - 1 : k]), token, text, unit[:k]))
        if len(self.tokens) + sum(1 for s in steps if s[2] not in self.tokens) > self.add:
            return False
        for left, right, token, text, pieces in steps:
            if token not in self.tokens:
                self._new(token, text, pieces)
            self._merge(left, right)
        self.completed.append(unit)
        return True

    def join(self, left: str, right: str, pieces: Unit) -> bool:
        """A learned merge of two whole-character tokens; False when it cannot be added."""
        token = left + right
        if token in self.vocab:
            self.skipped["already_in_vocabulary"] += 1  # a token the old merges never reach: leave it alone
            return False
        if token not in self.tokens:
            text = _new_token_ok(b"".join(self.table[t] for t in pieces))
            if text is None:
                self.skipped["not_japanese"] += 1
                return False
            if self.full():
                return False
            self._new(token, text, pieces)
        self._merge(left, right)
        return True


def _train(runs: Counter[tuple[str, ...]], target: int, min_frequency: int) -> list[tuple[str, str]]:
    """BPE merges over runs of symbols (one character per unit), learned by the tokenizers trainer."""
    from tokenizers import Tokenizer, models, trainers

    alphabet = {sym for run in runs for sym in run}
    tok = Tokenizer(models.BPE())
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) + target, min_frequency=min_frequency, show_progress=False,
        special_tokens=[], limit_alphabet=len(alphabet),
    )

    def spellings() -> Iterable[str]:
        for run, c in runs.items():
            s = "".join(run)
            for _ in range(c):
                yield s

    tok.train_from_iterator(spellings(), trainer=trainer, length=sum(runs.values()))
    merges = json.loads(tok.to_str())["model"]["merges"]
    return [tuple(m.split(" ", 1)) if isinstance(m, str) else (m[0], m[1]) for m in merges]


def _resolve(spelling: str, known: dict[str, tuple[str, Unit]], unit_of: Callable[[str], Unit],
             builder: _Builder) -> tuple[str, Unit] | None:
    """Vocabulary string and old pieces of a trainer token; None for a merge result not kept."""
    if len(spelling) == 1:
        ids = unit_of(spelling)
        return builder.spell(ids), ids
    return known.get(spelling)


def learn_extension(
    backend: Any,
    texts: Sequence[str],
    add: int,
    *,
    min_frequency: int = 3,
    word_boundaries: bool = False,
    progress: Progress = _noop,
) -> ExtensionPlan:
    """Learn up to ``add`` Japanese tokens (merges appended after the existing ones) from ``texts``.

    First, characters the vocabulary splits into byte pieces and that occur at least
    ``min_frequency`` times are made whole (most frequent first); then the BPE trainer learns merges
    over whole characters. ``word_boundaries``: new tokens never span two fugashi words (a space
    before a word counts as part of it), so they are whole words or pieces of one.
    """
    import copy

    if add < 1:
        raise JaftError(f"--add {add}: give the number of tokens to add (at least 1)")
    if min_frequency < 2:
        raise JaftError(f"--min-frequency {min_frequency}: use 2 or more (a merge seen once learns nothing)")
    tj = check_extendable(backend)
    vocab: dict[str, int] = tj["model"]["vocab"]
    table = token_bytes_table(backend, tj)
    first_id = max(_all_ids(tj)) + 1

    corpus = _segments(backend, texts, table, word_boundaries, progress)
    if not corpus.stats["japanese_chars"]:
        raise JaftError("the data holds no Japanese text (no kanji or kana); give Japanese text with --data")

    base = _Builder(vocab, table, first_id, add)
    for unit, count in sorted(corpus.units.items(), key=lambda kv: (-kv[1], kv[0])):
        if count < min_frequency or base.full():
            break
        base.complete(unit)
    # Spell runs for the trainer: one private character per old token or completed unit; a split
    # character left incomplete ends a run (no merge can hold it).
    unit_base = first_id + 1
    if _BASE + unit_base + len(base.completed) > 0x10FFFF:
        raise JaftError("the vocabulary is too large for tokenizer extend (over a million ids)")
    symbol = {u: chr(_BASE + unit_base + k) for k, u in enumerate(base.completed)}
    runs: Counter[tuple[str, ...]] = Counter()
    for run, c in corpus.runs.items():
        part: list[str] = []
        for u in [*run, None]:
            sym = None if u is None else symbol.get(u) if len(u) > 1 else chr(_BASE + u[0])
            if sym is None:
                if len(part) >= 2:
                    runs[tuple(part)] += c
                part = []
            else:
                part.append(sym)

    def unit_of(sym: str) -> Unit:
        code = ord(sym) - _BASE
        return (code,) if code < unit_base else base.completed[code - unit_base]

    builder, learned = base, []
    target = int((add - len(base.tokens)) * 1.25) + 64
    while runs and not base.full():
        progress("train", 0, 1)
        learned = _train(runs, target, min_frequency)
        progress("train", 1, 1)
        builder = copy.deepcopy(base)
        known: dict[str, tuple[str, Unit]] = {}

        for a, b in learned:
            left, right = _resolve(a, known, unit_of, builder), _resolve(b, known, unit_of, builder)
            if left is None or right is None:
                builder.skipped["builds_on_dropped"] += 1
                continue
            if builder.join(left[0], right[0], left[1] + right[1]):
                known[a + b] = (left[0] + right[0], left[1] + right[1])
            elif builder.full():
                break
        if builder.full() or len(learned) < target:
            break
        target *= 2  # many learned merges were dropped: learn more and select again

    if not builder.tokens:
        raise JaftError(
            f"--add {add}: no pair of tokens in this Japanese text repeats {min_frequency} times or more beyond "
            "what the vocabulary already merges; give more (or more varied) Japanese text with --data"
        )
    if len(builder.tokens) < add:
        raise JaftError(
            f"--add {add}: this data supports only {len(builder.tokens)} new tokens seen at least "
            f"{min_frequency} times; use --add {len(builder.tokens)} or less, more text, or a lower --min-frequency"
        )
    stats = {
        **corpus.stats, "runs": sum(corpus.runs.values()), "distinct_runs": len(corpus.runs),
        "split_characters_completed": len(builder.completed), "learned_merges": len(learned),
        "skipped_merges": dict(builder.skipped), "min_frequency": min_frequency, "word_boundaries": word_boundaries,
    }
    return ExtensionPlan(first_id, list(builder.tokens.values()), builder.merges, stats)


def extended_backend(backend: Any, plan: ExtensionPlan) -> Any:
    """A new ``tokenizers.Tokenizer``: the old one plus the plan's vocabulary entries and merges."""
    from tokenizers import Tokenizer

    tj = check_extendable(backend)
    model = tj["model"]
    # tokenizers numbers added tokens from the model vocabulary's *size* when it loads them, ignoring
    # their ids in the file: with new tokens past them, <think> would move from 151648 to 151648+N.
    # Listing the added tokens in the model vocabulary as well pins their ids (no merge produces
    # them, so BPE never emits them from text).
    for added in tj.get("added_tokens", []):
        model["vocab"].setdefault(added["content"], int(added["id"]))
    for nt in plan.tokens:
        model["vocab"][nt.token] = nt.id
    as_strings = bool(model["merges"]) and isinstance(model["merges"][0], str)
    model["merges"].extend(f"{a} {b}" if as_strings else [a, b] for a, b in plan.merges)
    new = Tokenizer.from_str(json.dumps(tj, ensure_ascii=False))
    old_vocab = backend.get_vocab(with_added_tokens=True)
    new_vocab = new.get_vocab(with_added_tokens=True)
    moved = [t for t, i in old_vocab.items() if new_vocab.get(t) != i]
    if moved:
        raise JaftError(f"internal check failed: extending the vocabulary moved {len(moved)} tokens (e.g. {moved[0]!r})")
    return new


def probe_unchanged(old: Any, new: Any, texts: Iterable[str] = PROBE_TEXTS) -> list[str]:
    """The texts whose ids differ between two tokenizers (empty when all encode identically)."""
    texts = list(texts)
    a = old.encode_batch(texts, add_special_tokens=False)
    b = new.encode_batch(texts, add_special_tokens=False)
    return [t for t, x, y in zip(texts, a, b, strict=True) if x.ids != y.ids]


def read_extension(model_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The extension record of a model directory, or None when its vocabulary was not extended.

    Keys: ``original_vocab_size`` (first new id), ``new_token_ids``, ``tokens`` (id, text, pieces),
    ``embedding_rows``, ``tied_embeddings``. Training uses ``new_token_ids`` to make those rows
    trainable under LoRA.
    """
    path = Path(model_dir) / EXTENSION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise JaftError(f"{path}: unreadable extension record ({e}); re-run `jaft tokenizer extend`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "new_token_ids" not in data:
        raise JaftError(f"{path}: not a jaft tokenizer extension record (format {FORMAT}); re-run `jaft tokenizer extend`")
    return data


def trainable_token_indices(model_dir: str | os.PathLike[str]) -> dict[str, list[int]] | None:
    """PEFT ``LoraConfig(trainable_token_indices=...)`` that trains the new rows of an extended model.

    The input embeddings' new rows, and the LM head's when it is not tied (a tied head follows the
    embedding in PEFT). None for a model whose vocabulary jaft did not extend.
    """
    record = read_extension(model_dir)
    if record is None:
        return None
    ids = [int(i) for i in record["new_token_ids"]]
    out = {"embed_tokens": ids}
    if not record.get("tied_embeddings", False):
        out["lm_head"] = ids
    return out


def _pad64(n: int) -> int:
    return (n + 63) // 64 * 64


def _grown(weight: Any, plan: ExtensionPlan, rows: int) -> Any:
    """``weight`` (rows × hidden) grown to ``rows``: new tokens' rows are the mean of their pieces'
    rows, fresh padding rows the mean of all token rows; every old row is kept as it was."""
    import torch

    old_rows = weight.shape[0]
    if old_rows < plan.first_id:
        raise JaftError(
            f"the model has {old_rows} embedding rows but its tokenizer already uses ids up to {plan.first_id - 1}; "
            "it does not match its tokenizer"
        )
    need = plan.first_id + len(plan.tokens)
    with torch.no_grad():
        w = weight.detach()
        out = torch.empty((rows, *w.shape[1:]), dtype=w.dtype, device=w.device)
        out[:old_rows] = w
        for nt in plan.tokens:
            out[nt.id] = w[nt.pieces].float().mean(0).to(w.dtype)
        if rows > max(old_rows, need):
            out[max(old_rows, need) :] = w[: plan.first_id].float().mean(0).to(w.dtype)
    return out


def _rows_for(old_rows: int, plan: ExtensionPlan) -> int:
    # Keep the checkpoint's habit of padding the matrix (to a multiple of 64 here), and reuse padding
    # rows past the tokenizer before growing the matrix.
    return max(old_rows, _pad64(plan.first_id + len(plan.tokens)))


def _init_rows(model: Any, plan: ExtensionPlan) -> dict[str, Any]:
    """Grow a loaded model's embeddings (+ untied LM head) for the plan; returns what was done."""
    import torch

    emb = model.get_input_embeddings()
    head = model.get_output_embeddings()
    tied = head is not None and head.weight.data_ptr() == emb.weight.data_ptr()
    old_rows = emb.weight.shape[0]
    rows = _rows_for(old_rows, plan)
    new_emb = _grown(emb.weight, plan, rows)
    new_head = _grown(head.weight, plan, rows) if head is not None and not tied else None
    if rows > old_rows:
        model.resize_token_embeddings(rows, mean_resizing=False)
        emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    with torch.no_grad():
        emb.weight.copy_(new_emb)
        if new_head is not None:
            head.weight.copy_(new_head)
            bias = getattr(head, "bias", None)
            if bias is not None:
                for nt in plan.tokens:
                    bias[nt.id] = bias[nt.pieces].float().mean().to(bias.dtype)
    return {"original_embedding_rows": old_rows, "embedding_rows": rows, "tied_embeddings": tied,
            "method": "transformers"}


# Files ``save_pretrained`` of the tokenizer writes (or that would describe the old vocabulary).
_TOKENIZER_FILES = {
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "chat_template.jinja", "chat_template.json", "tokenizer.model",
}


@dataclass
class _Checkpoint:
    weight_map: dict[str, str]  # tensor name → shard file
    embed: str
    head: str | None
    config: dict[str, Any]
    index: dict[str, Any] | None


def _checkpoint(src: Path) -> _Checkpoint | None:
    """The safetensors layout of a local model whose embeddings can be grown without loading it."""
    try:
        config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(config.get("vocab_size"), int) or "text_config" in config:
        return None  # nested (multimodal) configs: let transformers do it
    index_path = src / "model.safetensors.index.json"
    index = None
    if index_path.is_file():
        index = json.loads(index_path.read_text(encoding="utf-8"))
        weight_map = dict(index["weight_map"])
    elif (src / "model.safetensors").is_file():
        from safetensors import safe_open

        with safe_open(str(src / "model.safetensors"), "pt") as f:
            weight_map = dict.fromkeys(f.keys(), "model.safetensors")
    else:
        return None
    embeds = [k for k in weight_map if k.endswith("embed_tokens.weight")]
    head = "lm_head.weight" if "lm_head.weight" in weight_map else None
    tied = bool(config.get("tie_word_embeddings", False))
    if len(embeds) != 1 or (head is None and not tied):
        return None
    return _Checkpoint(weight_map, embeds[0], head, config, index)


def _extend_checkpoint(src: Path, dst: Path, plan: ExtensionPlan, ck: _Checkpoint) -> dict[str, Any]:
    """Write ``src``'s checkpoint to ``dst`` with grown embedding / LM-head tensors, touching only
    the shards that hold them (a 32B model needs the memory of one shard, not of the model)."""
    import shutil

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    tied = bool(ck.config.get("tie_word_embeddings", False))
    edit = {ck.weight_map[ck.embed]} | ({ck.weight_map[ck.head]} if ck.head else set())
    rows = old_rows = 0
    grown_bytes = 0
    for shard in sorted(set(ck.weight_map.values())):
        if shard not in edit:
            shutil.copyfile(src / shard, dst / shard)
            continue
        with safe_open(str(src / shard), "pt") as f:
            metadata = f.metadata() or {"format": "pt"}
        tensors = load_file(str(src / shard))
        for key in (ck.embed, ck.head):
            if key is None or ck.weight_map[key] != shard:
                continue
            old_rows = tensors[key].shape[0]
            rows = _rows_for(old_rows, plan)
            before = tensors[key].numel() * tensors[key].element_size()
            tensors[key] = _grown(tensors[key], plan, rows).contiguous()
            grown_bytes += tensors[key].numel() * tensors[key].element_size() - before
        save_file(tensors, str(dst / shard), metadata=metadata)
        del tensors
    if ck.index is not None:
        index = json.loads(json.dumps(ck.index))
        meta = index.setdefault("metadata", {})
        if isinstance(meta.get("total_size"), int):
            meta["total_size"] += grown_bytes
        (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    config = dict(ck.config)
    config["vocab_size"] = rows
    (dst / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    skip = {*ck.weight_map.values(), "model.safetensors.index.json", "config.json", EXTENSION_FILE, *_TOKENIZER_FILES}
    for path in src.iterdir():  # generation_config.json, licences, model cards, custom code …
        if path.is_file() and path.name not in skip and not path.name.startswith("."):
            shutil.copyfile(path, dst / path.name)
    return {"original_embedding_rows": old_rows, "embedding_rows": rows, "tied_embeddings": tied,
            "method": "safetensors"}


def _chars_per_token(backend: Any, texts: Sequence[str]) -> tuple[int, int]:
    chars = tokens = 0
    for b in range(0, len(texts), _BATCH):
        batch = texts[b : b + _BATCH]
        chars += sum(len(t) for t in batch)
        tokens += sum(len(e.ids) for e in backend.encode_batch(batch, add_special_tokens=False))
    return chars, tokens


def _count_new(backend: Any, texts: Sequence[str], plan: ExtensionPlan) -> None:
    counts: Counter[int] = Counter()
    for b in range(0, len(texts), _BATCH):
        for e in backend.encode_batch(texts[b : b + _BATCH], add_special_tokens=False):
            counts.update(i for i in e.ids if i >= plan.first_id)
    for nt in plan.tokens:
        nt.count = counts.get(nt.id, 0)


def extend_model(
    model: str,
    data: Sequence[str | os.PathLike[str]],
    add: int,
    out: str | os.PathLike[str],
    *,
    min_frequency: int = 3,
    within_words: bool = False,
    force: bool = False,
    trust_remote_code: bool = False,
    in_memory: bool = False,
    progress: Progress = _noop,
    encoding: str | None = None,
) -> dict[str, Any]:
    """Extend ``model``'s vocabulary with up to ``add`` Japanese tokens learned from ``data``; write
    a standard Hugging Face model directory to ``out`` and return the extension record."""
    from jaft import __version__
    from jaft.fsutil import atomic_dir, write_json
    from jaft.models.loader import check_model_source
    from jaft.tokenizer.hf import load_fast_tokenizer
    from jaft.tokenizer.texts import read_texts

    # Cheap checks first: loading a 150k-token tokenizer takes seconds.
    if add < 1:
        raise JaftError(f"--add {add}: give the number of tokens to add (at least 1)")
    if min_frequency < 2:
        raise JaftError(f"--min-frequency {min_frequency}: use 2 or more (a merge seen once learns nothing)")
    out = Path(out).expanduser()
    check_model_source(model)
    src = Path(model).expanduser()
    if src.is_dir() and out.resolve() == src.resolve():
        raise JaftError(f"--out {out} is the model directory itself; write the extended model to a new directory")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not force:
        raise JaftError(f"--out {out} already exists and is not empty; choose a new directory or pass --force")
    texts = read_texts(data, encoding=encoding)
    if not any(has_japanese(t) for t in texts):
        raise JaftError(f"{', '.join(str(p) for p in data)}: no Japanese text (no kanji or kana); give Japanese text with --data")
    tok = load_fast_tokenizer(model, trust_remote_code=trust_remote_code)
    old_backend = tok.backend_tokenizer
    check_extendable(old_backend)

    plan = learn_extension(old_backend, texts, add, min_frequency=min_frequency, word_boundaries=within_words,
                           progress=progress)
    new_backend = extended_backend(old_backend, plan)
    changed = probe_unchanged(old_backend, new_backend)
    if changed:  # cannot happen by construction; refuse rather than ship a tokenizer that breaks English
        raise JaftError(f"internal check failed: the extension changed the ids of {changed[0]!r}; please report this")
    progress("measure", 0, 1)
    chars, before = _chars_per_token(old_backend, texts)
    _, after = _chars_per_token(new_backend, texts)
    _count_new(new_backend, texts, plan)
    progress("measure", 1, 1)

    from transformers import AutoTokenizer

    progress("model", 0, 1)
    ck = _checkpoint(src) if src.is_dir() and not in_memory else None
    lm = None
    if ck is None:  # a Hub id, .bin weights or a nested config: transformers grows the loaded model
        from transformers import AutoModelForCausalLM

        try:
            lm = AutoModelForCausalLM.from_pretrained(
                str(src) if src.is_dir() else model, dtype="auto", trust_remote_code=trust_remote_code,
                low_cpu_mem_usage=True,
            )
        except OSError as e:
            raise JaftError(f"could not load the model '{model}': {str(e).splitlines()[0]}") from None
        rows: dict[str, Any] = _init_rows(lm, plan)
    with atomic_dir(out) as tmp:
        if lm is not None:
            lm.save_pretrained(tmp, safe_serialization=True)
        else:
            rows = _extend_checkpoint(src, tmp, plan, ck)
        record: dict[str, Any] = {
            "format": FORMAT,
            "created_by": f"jaft {__version__} tokenizer extend",
            "base_model": str(model),
            "original_vocab_size": plan.first_id,
            "new_vocab_size": plan.first_id + len(plan.tokens),
            **rows,
            "new_token_ids": [t.id for t in plan.tokens],
            "init": "mean of the embeddings (and LM-head rows) of the old tokens that spelled each new token",
            "settings": {"add": add, "min_frequency": min_frequency, "within_words": within_words},
            "data": {"files": [str(p) for p in data], "texts": len(texts), "chars": chars,
                     "japanese_chars": plan.stats.get("japanese_chars", 0)},
            "report": {
                "tokens_before": before, "tokens_after": after,
                "chars_per_token_before": round(chars / max(before, 1), 4),
                "chars_per_token_after": round(chars / max(after, 1), 4),
                "ratio": round(before / max(after, 1), 4),
                "non_japanese_probe_unchanged": True,
                "learned_merges": plan.stats.get("learned_merges"), "merges_added": len(plan.merges),
                "skipped_merges": plan.stats.get("skipped_merges", {}),
            },
            "tokens": [
                {"id": t.id, "text": t.text, "token": t.token, "pieces": t.pieces, "count": t.count} for t in plan.tokens
            ],
        }
        tok.save_pretrained(tmp)
        new_backend.save(str(tmp / "tokenizer.json"))
        for stale in ("vocab.json", "merges.txt"):  # slow-tokenizer files would hold the old vocabulary
            if (tmp / stale).exists():
                (tmp / stale).unlink()
        reloaded = AutoTokenizer.from_pretrained(str(tmp))
        sample = [*texts[:200], *PROBE_TEXTS]
        want = [e.ids for e in new_backend.encode_batch(sample, add_special_tokens=False)]
        got = [reloaded(t, add_special_tokens=False)["input_ids"] for t in sample]
        if want != got:
            raise JaftError(
                f"transformers reloads the extended tokenizer ({type(reloaded).__name__}) with different ids; "
                "this tokenizer class cannot be extended by jaft yet"
            )
        write_json(tmp / EXTENSION_FILE, record)
    progress("model", 1, 1)
    return record
