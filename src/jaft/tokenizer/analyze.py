"""How efficiently a tokenizer encodes Japanese: per-text, per-script and per-word figures.

Figures (over the given texts, special tokens not added):
- characters / token and UTF-8 bytes / token; tokens / sentence (sentences end at 。！？!? or a line end);
- the share of tokens that are partial UTF-8 pieces (one character split over several tokens);
- the same per script (kanji, hiragana, katakana, Latin, digits, other). A token is shared among the
  scripts of the characters it covers, so the per-script token counts add up to the total;
- the Japanese words (fugashi) that cost the most extra tokens: frequency × (tokens − 1), each word
  tokenized on its own.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from jaft.tokenizer.scripts import SCRIPTS, has_japanese, script_of
from jaft.tokenizer.vocab import is_partial, token_bytes_table

_SENTENCE_END = re.compile(r"[。！？!?]+|\n")
_BATCH = 1000
TOP_WORDS = 50


def count_sentences(text: str) -> int:
    return sum(1 for part in _SENTENCE_END.split(text) if part.strip())


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def analyze_tokenizer(
    tok: Any,
    texts: Sequence[str],
    *,
    name: str = "",
    top: int = TOP_WORDS,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Figures for a transformers fast tokenizer (or a bare ``tokenizers.Tokenizer``) over ``texts``."""
    from jaft.tokenizer.words import morphemes

    backend = getattr(tok, "backend_tokenizer", tok)
    table = token_bytes_table(backend)
    partial_ids = {i for i, raw in table.items() if is_partial(raw)}

    chars = nbytes = tokens = partial = sentences = 0
    s_chars: Counter[str] = Counter()
    s_bytes: Counter[str] = Counter()
    s_tokens: defaultdict[str, float] = defaultdict(float)
    s_partial: defaultdict[str, float] = defaultdict(float)
    words: Counter[str] = Counter()
    for b in range(0, len(texts), _BATCH):
        batch = list(texts[b : b + _BATCH])
        for text, enc in zip(batch, backend.encode_batch(batch, add_special_tokens=False), strict=True):
            chars += len(text)
            nbytes += len(text.encode("utf-8"))
            sentences += count_sentences(text)
            scripts = [script_of(ch) for ch in text]
            for ch, sc in zip(text, scripts, strict=True):
                s_chars[sc] += 1
                s_bytes[sc] += len(ch.encode("utf-8"))
            tokens += len(enc.ids)
            for tid, (s, e) in zip(enc.ids, enc.offsets, strict=True):
                is_p = tid in partial_ids
                partial += is_p
                covered = scripts[s:e] or ["other"]
                share = 1.0 / len(covered)
                for sc in covered:
                    s_tokens[sc] += share
                    if is_p:
                        s_partial[sc] += share
            if has_japanese(text):
                words.update(m.surface for m in morphemes(text) if has_japanese(m.surface))
        if progress:
            progress(f"analyze {name}".strip(), min(b + _BATCH, len(texts)), len(texts))

    per_script = {}
    for sc in SCRIPTS:
        t = s_tokens.get(sc, 0.0)
        per_script[sc] = {
            "chars": s_chars.get(sc, 0),
            "tokens": round(t, 2),
            "chars_per_token": _ratio(s_chars.get(sc, 0), t),
            "bytes_per_token": _ratio(s_bytes.get(sc, 0), t),
            "partial_token_share": _ratio(s_partial.get(sc, 0.0), t),
        }
    return {
        "model": name,
        "vocab_size": backend.get_vocab_size(with_added_tokens=True),
        "texts": len(texts),
        "sentences": sentences,
        "chars": chars,
        "bytes": nbytes,
        "tokens": tokens,
        "chars_per_token": _ratio(chars, tokens),
        "bytes_per_token": _ratio(nbytes, tokens),
        "tokens_per_sentence": _ratio(tokens, sentences),
        "partial_token_share": _ratio(partial, tokens),
        "scripts": per_script,
        "split_words": split_words(backend, words, top),
    }


def split_words(backend: Any, words: Counter[str], top: int = TOP_WORDS) -> list[dict[str, Any]]:
    """The ``top`` words costing the most extra tokens (count × (tokens − 1)), most costly first."""
    if not words:
        return []
    distinct = list(words)
    encs = backend.encode_batch(distinct, add_special_tokens=False)
    table = token_bytes_table(backend)
    rows = []
    for word, enc in zip(distinct, encs, strict=True):
        n = len(enc.ids)
        if n < 2:
            continue
        pieces = [show_piece(table.get(i, b"")) for i in enc.ids]
        rows.append({"word": word, "count": words[word], "tokens": n, "extra_tokens": words[word] * (n - 1),
                     "pieces": pieces})
    rows.sort(key=lambda r: (-r["extra_tokens"], -r["count"], r["word"]))
    return rows[:top]


def show_piece(raw: bytes) -> str:
    """A token's text, or its bytes in hex (``<e9a7>``) when it is part of a character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{raw.hex()}>"


def word_tokens(backend: Any, words: Sequence[str]) -> list[int]:
    """How many tokens each word takes on its own."""
    return [len(e.ids) for e in backend.encode_batch(list(words), add_special_tokens=False)] if words else []


# -- presentation --------------------------------------------------------------------------------

_ROWS = (
    ("chars_per_token", "characters / token"),
    ("bytes_per_token", "UTF-8 bytes / token"),
    ("tokens_per_sentence", "tokens / sentence"),
    ("partial_token_share", "partial UTF-8 tokens"),
)


def _fmt(v: Any, key: str) -> str:
    if v is None:
        return "—"
    if key == "partial_token_share":
        return f"{100 * v:.1f}%"
    return f"{v:.2f}" if isinstance(v, float) else f"{v:,}"


def render(results: list[dict[str, Any]], *, top: int = 20, backend_b: Any = None) -> str:
    """A plain-text report; with two results, side by side with the second/first ratio."""
    from rich.console import Console
    from rich.table import Table

    console = Console(record=True, file=io.StringIO(), width=120, highlight=False)
    two = len(results) == 2
    t = Table(title="Tokenizer efficiency", title_justify="left")
    t.add_column("figure")
    for r in results:
        t.add_column(_label(r), justify="right")
    if two:
        t.add_column("ratio", justify="right")
    t.add_row("vocabulary", *[f"{r['vocab_size']:,}" for r in results], *([""] if two else []))
    t.add_row("texts / sentences / chars", *[f"{r['texts']:,} / {r['sentences']:,} / {r['chars']:,}" for r in results],
              *([""] if two else []))
    t.add_row("tokens", *[f"{r['tokens']:,}" for r in results], *([_ratio_str(results, ["tokens"])] if two else []))
    for key, label in _ROWS:
        t.add_row(label, *[_fmt(r[key], key) for r in results], *([_ratio_str(results, [key])] if two else []))
    for sc in SCRIPTS:
        if not results[0]["scripts"][sc]["chars"]:
            continue
        t.add_row(f"{sc}: chars / token (partial)",
                  *[f"{_fmt(r['scripts'][sc]['chars_per_token'], '')} ({_fmt(r['scripts'][sc]['partial_token_share'], 'partial_token_share')})"
                    for r in results],
                  *([_ratio_str(results, ["scripts", sc, "chars_per_token"])] if two else []))
    console.print(t)

    words = results[0]["split_words"][:top]
    if words:
        w = Table(title=f"Japanese words costing the most extra tokens ({_label(results[0])})",
                  title_justify="left")
        for col in ("word", "count", "tokens", "pieces"):
            w.add_column(col, justify="right" if col in ("count", "tokens") else "left")
        if two and backend_b is not None:
            w.add_column(f"tokens ({_label(results[1])})", justify="right")
            other = word_tokens(backend_b, [r["word"] for r in words])
        for i, r in enumerate(words):
            cells = [r["word"], f"{r['count']:,}", str(r["tokens"]), " | ".join(r["pieces"])]
            if two and backend_b is not None:
                cells.append(str(other[i]))
            w.add_row(*cells)
        console.print(w)
    return console.export_text()


def _label(result: dict[str, Any]) -> str:
    """A short column title: the directory name of a model path (Hub ids stay whole)."""
    name = result["model"] or "tokenizer"
    return name.rstrip("/").rsplit("/", 1)[-1] if name.startswith(("/", ".", "~")) else name


def _ratio_str(results: list[dict[str, Any]], path: list[str]) -> str:
    def get(r: dict[str, Any]) -> Any:
        for p in path:
            r = r[p]
        return r

    a, b = get(results[0]), get(results[1])
    return f"{b / a:.2f}×" if a and b is not None else "—"
