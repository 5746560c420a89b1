"""Fidelity of the GGUF files against the Hugging Face model they came from.

The same Japanese token sequences run through transformers and through llama.cpp; per file we
report top-1 agreement of the next-token prediction at every position and the mean KL divergence
KL(HF ‖ GGUF). The F16 file must agree on ≥ 99 % of positions, otherwise the conversion is wrong
(a bad permutation, RoPE or vocabulary shows up here long before a user notices). The tokenizer is
checked separately: a Japanese test string must give identical ids from HF and from the GGUF vocab.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

# Prompts cover kana, kanji, katakana loanwords, full-width and ASCII digits, punctuation and a line
# break: the places where pre-tokenizers differ. NFC text (see vocab.py on normalization).
PROMPTS = (
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "東京都の人口は約１４００万人で、日本の総人口の約11%を占めています。",
    "次の問題を解いてください：りんごが3個とみかんが５個あります。果物は全部で何個ですか？",
    "コンピューターのメモリが足りない場合は、スワップ領域を増やすか、モデルを量子化してください。\n"
    "量子化にはQ4_K_M形式がよく使われます。",
    "「ありがとうございます」と彼女は言った。今日は2024年4月1日（月）です。",
)
TOKENIZATION_TEST = (
    "日本語の文章を正しくトークン化できるか確認します。カタカナ語、漢字、ひらがな、"
    "全角数字１２３と半角数字456、記号「」、。！？ and English words.\n改行も含みます。"
)
Progress = Callable[[int], None]


@dataclass
class FileCheck:
    label: str
    path: str
    top1_agreement: float  # over positions with a definite HF top-1 (see compare_logits)
    top1_agreement_all: float
    ties: int
    mean_kl: float
    max_kl: float
    positions: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "top1_agreement": round(self.top1_agreement, 5),
                "top1_agreement_all": round(self.top1_agreement_all, 5), "ties": self.ties,
                "mean_kl": round(self.mean_kl, 8), "max_kl": round(self.max_kl, 8),
                "positions": self.positions, "seconds": round(self.seconds, 2)}


@dataclass
class VerifyResult:
    files: dict[str, FileCheck]
    tokenization: dict[str, Any]
    threshold: float
    passed: bool
    failures: list[str] = field(default_factory=list)
    extra_bufts: bool = False  # llama.cpp loaded with its CPU extra buffer types (weight repacking)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed, "min_top1_agreement_f16": self.threshold,
            "llama_cpp_extra_buffer_types": self.extra_bufts,
            "files": {k: v.to_dict() for k, v in self.files.items()},
            "tokenization": self.tokenization, "failures": self.failures, "prompts": len(PROMPTS) + 1,
        }


def _require_llama_cpp(check_only: bool = False):
    """llama_cpp (imported), or only a check that it is installed: importing it loads native code, which
    the parent process leaves to the child of :func:`run_native`."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise JaftError("GGUF verification needs llama-cpp-python: pip install 'jaft[gguf]' (or pass --no-verify)")
    if check_only:
        return None
    import llama_cpp

    return llama_cpp


def prompt_ids(tokenizer: Any) -> list[list[int]]:
    """Token ids of the verification prompts: plain text, and one chat turn through the model's template."""
    seqs = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in PROMPTS]
    if getattr(tokenizer, "chat_template", None):
        chat = tokenizer.apply_chat_template(
            [{"role": "user", "content": PROMPTS[2]}], tokenize=False, add_generation_prompt=True
        )
        seqs.append(tokenizer(chat, add_special_tokens=False)["input_ids"])
    return seqs


def hf_logits(model_dir: str | Path, seqs: list[list[int]], *, float32: bool = True) -> list[Any]:
    """Next-token logits (float32 numpy, one row per position) of the Hugging Face model.

    ``float32`` computes in full precision (the reference); big models load in their stored 16-bit
    dtype instead, which is what fits in RAM.
    """
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the export shows its own progress; stderr stays for errors
    dtype = torch.float32 if float32 else "auto"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype, low_cpu_mem_usage=True)
    model.eval()
    out = []
    with torch.inference_mode():
        for ids in seqs:
            out.append(model(torch.tensor([ids])).logits[0].float().numpy())
    del model
    return out


_NULL_LOG: Any = None


def quiet_llama_logs(llama_cpp: Any) -> None:
    """Route llama.cpp's log lines nowhere (it logs every load to stderr; the report carries what matters)."""
    global _NULL_LOG
    if _NULL_LOG is None:
        _NULL_LOG = llama_cpp.llama_log_callback(lambda level, text, user: None)
    llama_cpp.llama_log_set(_NULL_LOG, None)


def open_gguf(path: str | Path, *, n_ctx: int = 512, logits_all: bool = False, vocab_only: bool = False,
              extra_bufts: bool | None = None):
    """A ``llama_cpp.Llama`` for ``path``; ``extra_bufts=False`` loads without llama.cpp's CPU extra buffer
    types (no weight repacking, no AMX kernels); None follows jaft.hardware.llama_extra_bufts (off on AMX).

    Call it inside :func:`jaft.export.native.run_native`: a crash while loading takes the process down.
    """
    from jaft.export.native import model_params_override

    llama_cpp = _require_llama_cpp()
    quiet_llama_logs(llama_cpp)
    if extra_bufts is None:
        from jaft.hardware import llama_extra_bufts

        extra_bufts = llama_extra_bufts()[0]
    try:
        with model_params_override(llama_cpp, use_extra_bufts=extra_bufts):
            return llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=logits_all,
                vocab_only=vocab_only, verbose=False, seed=0,
            )
    except Exception as e:
        raise JaftError(f"{path}: llama.cpp cannot load this GGUF ({type(e).__name__}: {str(e)[:160]}); "
                        "re-run `jaft export gguf` / `jaft export quantize` to rewrite it") from None


def gguf_logits(path: str | Path, seqs: list[list[int]], *, extra_bufts: bool = False) -> list[Any]:
    """llama.cpp's logits for every position of each sequence (float32 arrays, positions × vocab)."""
    import numpy as np

    n_ctx = max(len(s) for s in seqs) + 8
    llm = open_gguf(path, n_ctx=n_ctx, logits_all=True, extra_bufts=extra_bufts)
    out = []
    try:
        for ids in seqs:
            llm.reset()
            llm.eval(ids)
            out.append(np.array(llm.scores[: len(ids), :], dtype=np.float32))
    finally:
        llm.close()
    return out


def gguf_tokenize(path: str | Path, texts: list[tuple[str, bool]]) -> list[list[int]]:
    """llama.cpp's token ids for each ``(text, add_bos)`` from the GGUF's vocabulary (special tokens parsed)."""
    llm = open_gguf(path, vocab_only=True)
    try:
        return [llm.tokenize(t.encode("utf-8"), add_bos=bos, special=True) for t, bos in texts]
    finally:
        llm.close()


TIE = 1e-3  # HF's two best logits closer than this fraction of the logit spread: no definite top-1


def compare_logits(ref: list[Any], got: list[Any]) -> dict[str, Any]:
    """Top-1 agreement and KL(HF ‖ GGUF) of ``got`` against ``ref``.

    ``top1_agreement`` counts positions where HF has a definite top-1 token: where its two best logits
    are within ``TIE`` × their standard deviation (random tiny models have such near-ties, a real
    model almost never), either token is right and the F16 rounding picks one at random. Those
    positions are counted in ``ties``; ``top1_agreement_all`` includes them.
    """
    import numpy as np

    agree = agree_all = definite = 0
    kls: list[float] = []
    for r, g in zip(ref, got, strict=True):
        if r.shape != g.shape:
            raise JaftError(f"logit shapes differ (HF {r.shape}, GGUF {g.shape}): vocabulary sizes do not match")
        same = r.argmax(-1) == g.argmax(-1)
        top2 = np.sort(r, -1)[:, -2:]
        sure = (top2[:, 1] - top2[:, 0]) >= TIE * r.std(-1)
        agree_all += int(same.sum())
        agree += int((same & sure).sum())
        definite += int(sure.sum())
        r64, g64 = r.astype(np.float64), g.astype(np.float64)
        lp = r64 - r64.max(-1, keepdims=True)
        lp -= np.log(np.exp(lp).sum(-1, keepdims=True))
        lq = g64 - g64.max(-1, keepdims=True)
        lq -= np.log(np.exp(lq).sum(-1, keepdims=True))
        kls.extend((np.exp(lp) * (lp - lq)).sum(-1).tolist())
    n = len(kls)
    return {"top1_agreement": agree / definite if definite else 1.0, "top1_agreement_all": agree_all / n, "ties": n - definite,
            "mean_kl": float(np.mean(kls)), "max_kl": float(np.max(kls)), "positions": n}


def check_tokenization(tokenizer: Any, gguf_path: str | Path, text: str = TOKENIZATION_TEST) -> dict[str, Any]:
    """HF ids vs llama.cpp ids for ``text`` (plain text, and a chat-rendered turn with special tokens).

    llama.cpp tokenizes in a child process (:func:`run_native`), so a crash there is one error line.
    """
    from jaft.export.native import run_native

    # HF matches added and special tokens inside text; llama.cpp does so with special=True.
    cases: dict[str, tuple[list[int], str, bool]] = {"plain": (tokenizer(text, add_special_tokens=False)["input_ids"], text, False)}
    if getattr(tokenizer, "chat_template", None):
        chat = tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                             add_generation_prompt=True)
        cases["chat"] = (tokenizer(chat, add_special_tokens=False)["input_ids"], chat, False)
    # add_bos: llama.cpp must add exactly what HF adds around plain text.
    cases["full"] = (tokenizer(text)["input_ids"], text, True)
    got = dict(zip(cases, run_native("verify tokenization", gguf_tokenize, gguf_path,
                                     [(t, bos) for _, t, bos in cases.values()]), strict=True))
    hf_plain, gg_plain = cases["plain"][0], got["plain"]
    result: dict[str, Any] = {"text": text, "identical": hf_plain == gg_plain, "n_tokens": len(hf_plain)}
    if hf_plain != gg_plain:
        i = next((k for k, (a, b) in enumerate(zip(hf_plain, gg_plain, strict=False)) if a != b),
                 min(len(hf_plain), len(gg_plain)))
        result["first_difference"] = {"index": i, "hf": hf_plain[i:i + 5], "gguf": gg_plain[i:i + 5]}
    if "chat" in cases:
        result["chat_identical"] = cases["chat"][0] == got["chat"]
        result["identical"] = result["identical"] and result["chat_identical"]
    result["special_tokens_identical"] = cases["full"][0] == got["full"]
    result["identical"] = result["identical"] and result["special_tokens_identical"]
    return result


def verify(
    model_dir: str | Path, tokenizer_dir: str | Path, files: dict[str, str | Path], *,
    min_top1: float = 0.99, progress: Progress | None = None, log: Callable[[str], None] | None = None,
    extra_bufts: bool = False,
) -> VerifyResult:
    """Compare every GGUF in ``files`` (label → path; label ``f16`` gets the threshold) with the HF model.

    Each file is evaluated by llama.cpp in a child process (:func:`jaft.export.native.run_native`).
    ``extra_bufts`` (default off) lets llama.cpp repack weights at load; verification evaluates a few
    hundred positions, where repacking buys nothing and is the code path that crashes on AMX CPUs.
    """
    from jaft.export.gguf import read_metadata
    from jaft.export.native import run_native
    from jaft.export.preflight import VERIFY_FLOAT32_MAX_PARAMS, ModelSize
    from jaft.export.vocab import load_tokenizer

    _require_llama_cpp(check_only=True)
    tok = load_tokenizer(tokenizer_dir)
    seqs = prompt_ids(tok)
    params = ModelSize.from_dir(Path(model_dir)).parameters
    ref = hf_logits(model_dir, seqs, float32=params <= VERIFY_FLOAT32_MAX_PARAMS)
    if progress:
        progress(1)
    checks: dict[str, FileCheck] = {}
    failures: list[str] = []
    for label, path in files.items():
        read_metadata(path)  # a truncated or foreign file: one clear line, before llama.cpp maps it
        t0 = time.perf_counter()
        got = run_native(f"verify {label}", gguf_logits, path, seqs, extra_bufts=extra_bufts)
        c = compare_logits(ref, got)
        top1 = c["top1_agreement"]
        checks[label] = FileCheck(label, str(path), top1, c["top1_agreement_all"],
                                  c["ties"], c["mean_kl"], c["max_kl"], c["positions"], time.perf_counter() - t0)
        if log:
            log(f"verify {label}: top-1 agreement {top1:.2%} ({c['ties']} near-ties set aside), "
                f"mean KL {c['mean_kl']:.2e} over {c['positions']} positions")
        if label == "f16" and top1 < min_top1:
            failures.append(
                f"F16 GGUF agrees with the HF model on {top1:.2%} of top-1 tokens (< {min_top1:.0%}): "
                "the conversion is wrong"
            )
        if progress:
            progress(1)
    first = files.get("f16") or next(iter(files.values()))
    tokenization = check_tokenization(tok, first)
    if not tokenization["identical"]:
        failures.append(
            f"tokenization differs between HF and the GGUF vocabulary ({tokenization.get('first_difference')}): "
            "the pre-tokenizer or added tokens were not carried over"
        )
    return VerifyResult(checks, tokenization, min_top1, not failures, failures, extra_bufts)
