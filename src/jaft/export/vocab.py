"""A Hugging Face BPE tokenizer as a GGUF vocabulary: tokens, types, merges, specials, pre-tokenizer.

The tokenizer that transformers actually loads is the truth (transformers 5 rebuilds some tokenizer
classes, Qwen2's among them, instead of reading tokenizer.json verbatim), so everything here comes
from ``AutoTokenizer``'s backend. ``tokenizer.ggml.pre`` is chosen by comparing the pre-tokenizer's
regexes with those llama.cpp implements (src/llama-vocab.cpp): a tokenizer that matches none is
refused rather than exported with a pre-tokenizer that splits Japanese text differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

# The Split regexes of Hugging Face tokenizer.json files that llama.cpp reproduces, by GGUF pre name.
QWEN2_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_REGEX = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
KNOWN_PRE = {QWEN2_REGEX: "qwen2", LLAMA3_REGEX: "llama-bpe"}
# A ByteLevel step with its own (GPT-2) regex and nothing else: GPT-2 / GPT-NeoX tokenizers (StableLM 3B
# 4E1T). llama.cpp's "gpt-2" pre-tokenizer applies that regex ("olmo", GPT-NeoX's vocabulary, shares it).
GPT2_BYTE_LEVEL = "<gpt2 ByteLevel regex>"
# Pre names llama.cpp accepts that jaft may write (QWEN2, LLAMA3 or GPT2 pre-tokenizer types).
PRE_NAMES = ("qwen2", "deepseek-r1-qwen", "llama-bpe", "gpt-2")
# Normalizers llama.cpp's BPE path does not apply; NFC only matters for decomposed input (see docs).
_HARMLESS_NORMALIZERS = {None, "NFC"}

# gguf.TokenType values (kept here so this module imports without gguf for inspection)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED = 1, 2, 3, 4, 5


@dataclass
class GgufVocab:
    tokens: list[str]
    types: list[int]
    merges: list[str]
    pre: str
    special_ids: dict[str, int]
    add_bos: bool
    add_eos: bool
    chat_template: str | None
    n_tokenizer: int  # tokens the tokenizer knows; the rest up to the embedding size are padding
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        names = {NORMAL: "normal", CONTROL: "control", USER_DEFINED: "user_defined", UNUSED: "padding"}
        for t in self.types:
            counts[names.get(t, str(t))] = counts.get(names.get(t, str(t)), 0) + 1
        return {
            "pre": self.pre, "n_vocab": len(self.tokens), "n_tokenizer": self.n_tokenizer, "types": counts,
            "merges": len(self.merges), "special_ids": self.special_ids, "add_bos": self.add_bos,
            "add_eos": self.add_eos, "has_chat_template": bool(self.chat_template), "notes": self.notes,
        }


def _split_regexes(pre: dict[str, Any] | None) -> tuple[list[str], bool]:
    """Split regexes of a pre-tokenizer and whether a ByteLevel step (without its own regex) follows."""
    if not pre:
        return [], False
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    regexes, byte_level = [], False
    for step in steps or []:
        kind = step.get("type")
        if kind == "Split":
            pattern = step.get("pattern") or {}
            if "Regex" not in pattern or step.get("behavior", "").lower() != "isolated" or step.get("invert"):
                regexes.append(json.dumps(step, sort_keys=True))
            else:
                regexes.append(pattern["Regex"])
        elif kind == "ByteLevel":
            byte_level = True
            if step.get("use_regex", True):
                regexes.append(GPT2_BYTE_LEVEL)
            if step.get("add_prefix_space"):
                regexes.append("<ByteLevel add_prefix_space>")
        else:
            regexes.append(f"<{kind}>")
    return regexes, byte_level


def choose_pre(backend: dict[str, Any], family: str, arch: str, override: str | None = None) -> str:
    """The GGUF ``tokenizer.ggml.pre`` for this tokenizer; refuses one llama.cpp would split differently."""
    if override:
        if override not in PRE_NAMES:
            raise JaftError(f"--pre {override}: jaft writes one of {', '.join(PRE_NAMES)}")
        return override
    model = backend.get("model") or {}
    if model.get("type") != "BPE":
        raise JaftError(
            f"tokenizer model type {model.get('type')!r}: jaft writes byte-level BPE (gpt2) vocabularies only"
        )
    norm = backend.get("normalizer")
    if (norm or {}).get("type") not in _HARMLESS_NORMALIZERS:
        raise JaftError(
            f"tokenizer normalizer {norm.get('type')!r} has no llama.cpp equivalent; Japanese text would "
            "tokenize differently in GGUF"
        )
    regexes, byte_level = _split_regexes(backend.get("pre_tokenizer"))
    if regexes == [GPT2_BYTE_LEVEL]:
        return "gpt-2"
    if byte_level and len(regexes) == 1 and regexes[0] in KNOWN_PRE:
        name = KNOWN_PRE[regexes[0]]
        if name == "qwen2" and family == "deepseek-r1" and arch == "qwen2":
            return "deepseek-r1-qwen"  # llama.cpp's name for R1-Distill-Qwen (same pre-tokenizer as qwen2)
        return name
    shown = " | ".join(r[:80] for r in regexes) or "none"
    raise JaftError(
        f"pre-tokenizer not recognised (split by: {shown}); llama.cpp would tokenize Japanese differently. "
        f"If you know it matches one, pass --pre ({', '.join(PRE_NAMES)}); verification then checks tokenization"
    )


def _encode_merges(merges: list[Any]) -> list[str]:
    # GGUF stores merges as "a b"; a space inside a piece is written as U+0120 + 256 (gguf-py's convention).
    out = []
    for m in merges:
        if isinstance(m, str):
            out.append(m)
        else:
            a, b = m
            out.append(" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in part) for part in (a, b)))
    return out


def _looks_special(token: str) -> bool:
    return (token.startswith("<|") and token.endswith("|>")) or (token.startswith("<｜") and token.endswith("｜>"))


def load_tokenizer(tokenizer_dir: str | Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(tokenizer_dir))
    except Exception as e:
        raise JaftError(f"{tokenizer_dir}: tokenizer does not load ({type(e).__name__}: {str(e)[:160]})") from None


def build_vocab(
    tokenizer_dir: str | Path, n_vocab: int, *, arch: str, family: str | None = None, pre: str | None = None
) -> GgufVocab:
    """Everything GGUF needs about the tokenizer in ``tokenizer_dir`` for an embedding of ``n_vocab`` rows."""
    from jaft.registry import detect_template_family

    tok = load_tokenizer(tokenizer_dir)
    backend = json.loads(tok.backend_tokenizer.to_str())
    template = tok.chat_template if isinstance(tok.chat_template, str) else None
    fam = family or detect_template_family(template)
    pre_name = choose_pre(backend, fam, arch, pre)
    vocab: dict[str, int] = dict(backend["model"]["vocab"])
    added = {int(t["id"]): t for t in backend.get("added_tokens", [])}
    reverse: dict[int, str] = {i: s for s, i in vocab.items()}
    for i, t in added.items():
        reverse[i] = t["content"]
    top = max(reverse) + 1
    if top > n_vocab:
        raise JaftError(
            f"{tokenizer_dir}: the tokenizer has ids up to {top - 1} but the embedding has {n_vocab} rows; "
            "resize the model's embeddings to the extended tokenizer (model.resize_token_embeddings) and re-save"
        )
    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")  # embedding padding rows: never produced by the tokenizer
            types.append(UNUSED)
        elif i in added:
            text = added[i]["content"]
            tokens.append(text)
            types.append(CONTROL if added[i].get("special") or _looks_special(text) else USER_DEFINED)
        else:
            tokens.append(reverse[i])
            types.append(NORMAL)
    specials: dict[str, int] = {}
    for kind in ("bos", "eos", "unk", "pad"):
        tid = getattr(tok, f"{kind}_token_id", None)
        if isinstance(tid, int) and 0 <= tid < n_vocab:
            specials[kind] = tid
    # What HF's tokenizer adds around plain text decides what llama.cpp must add: measure it.
    probe = "日本語"
    with_special = tok(probe)["input_ids"]
    plain = tok(probe, add_special_tokens=False)["input_ids"]
    add_bos = "bos" in specials and len(with_special) > len(plain) and with_special[0] == specials["bos"]
    add_eos = "eos" in specials and len(with_special) > len(plain) and with_special[-1] == specials["eos"]
    notes = []
    if (backend.get("normalizer") or {}).get("type") == "NFC":
        notes.append("HF applies NFC before tokenizing, llama.cpp does not: identical for NFC (normal) text")
    if n_vocab > top:
        notes.append(f"{n_vocab - top} padding rows written as unused [PADn] tokens")
    return GgufVocab(
        tokens=tokens, types=types, merges=_encode_merges(backend["model"].get("merges") or []), pre=pre_name,
        special_ids=specials, add_bos=add_bos, add_eos=add_eos, chat_template=template, n_tokenizer=top,
        notes=notes,
    )
