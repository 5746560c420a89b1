"""GPU benchmark: SFT tokens/s, MFU and peak memory, `jaft train` vs plain transformers + PEFT, at equal work.

Both sides train on the SAME pre-tokenized batches, in the same order: a token file made once from the
Japanese corpus by `prepare` (rows tokenized by jaft's own renderer, prompt masked from the loss):

* ``full1024``: 4 rows × 1,024 tokens, every row full (no padding anywhere);
* ``mix2048`` / ``mix4096``: 8 rows whose lengths are log-uniform from 64 tokens up to the cap, consecutive
  corpus paragraphs, as real instruction data spreads.

The baseline is what a user writes with transformers alone: ``Trainer`` + PEFT LoRA (r=16, all linear
layers), SDPA, bf16, batches padded to their longest row, with and without gradient checkpointing. jaft
is ``run_sft`` (the path of ``jaft train``) given the same examples in the same order, with whatever its
strategy applies. Tokens are the batches' non-pad tokens, identical on both sides by construction (each
side also counts what its collator really produced, and fingerprints every batch). MFU = 6·N·tokens/s
over the bf16 matmul peak measured in the same run (N = all parameters, as in issue 14). Peak =
``torch.cuda.max_memory_allocated`` from the first training step on; the planner's estimate is for the
same configuration and the case's largest batch.

    python -m bench.gpu prepare --corpus ../shared/corpus/ja-debian-docs.txt --out .bench-gpu
    python -m bench.gpu device --tokens .bench-gpu/tokens.json --out results.jsonl [--phase core]
    python -m bench gpu --report results.jsonl        # writes the section of docs/benchmarks.md
    bench/gpu_run.sh                                   # on a lent GPU: all of the above in one command
    python -m bench.gpu device --smoke ...            # CPU smoke: tiny models, same code

``device`` writes one JSON line per result as it arrives and stops starting runs before its time budget.
Each measurement runs in its own process so its peak memory is its own.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "次の文書の続きを書いてください。"
LORA_R, LORA_ALPHA = 16, 32
# name: (rows per batch, token cap, every row full)
CASES = {"full1024": (4, 1024, True), "mix2048": (8, 2048, False), "mix4096": (8, 4096, False)}
SMOKE_CASES = {"full1024": (2, 48, True), "mix2048": (4, 64, False)}
MAX_STEPS = 12  # batches per case in the token file (warm-up + measured)
MODELS = {"llama-8b": "llama", "qwen-1.5b": "qwen2"}
# jaft's levers, each flipped alone against jaft's defaults (``--set`` strings).
LEVERS = {
    "liger off": ["train.use_liger=false"],
    "token metrics on": ["train.token_metrics=true"],
    "unfused AdamW": ["train.optimizer=adamw_torch"],
    "checkpointing on": ["train.gradient_checkpointing=true"],
    "padding-free (SDPA)": ["train.packing=true"],
}
# Levers whose compilation may take minutes: measured last, after QLoRA.
SLOW_LEVERS = {
    "torch.compile": ["train.torch_compile=true"],
    "padding-free (flex)": ["train.packing=true", "model.attn_implementation=flex_attention"],
}


# ---- token file -------------------------------------------------------------------------------------------


def make_examples(paragraphs: list[str], tokenizer: Any, rows: int, cap: int, full: bool,
                  rng: random.Random) -> list[dict[str, list[int]]]:
    """``rows`` examples (input_ids, completion_mask) from consecutive paragraphs, tokenized by jaft's renderer.

    ``full``: every row exactly ``cap`` tokens. Otherwise a target length log-uniform in [cap/32, cap] per row
    (64 … 2,048 at cap 2,048), reached by adding whole paragraphs, so rows end where a paragraph ends unless
    the cap cuts them.
    """
    from jaft.data.records import Record
    from jaft.models.chat import render_turns, tokenize_rendered

    out = []
    n_tokens: dict[int, int] = {}

    def count(i: int) -> int:
        if i not in n_tokens:
            n_tokens[i] = len(tokenizer(paragraphs[i] + "\n", add_special_tokens=False)["input_ids"])
        return n_tokens[i]

    while len(out) < rows:
        target = cap if full else int(math.exp(rng.uniform(math.log(max(8, cap // 32)), math.log(cap))))
        start = rng.randrange(len(paragraphs))
        body, i, have = "", start, 0
        while have < target + (32 if full else 0) and i < start + 400:
            body += paragraphs[i % len(paragraphs)] + "\n"
            have += count(i % len(paragraphs))
            i += 1
        rec = Record(kind="prompt_completion", prompt=PROMPT, completion=body.strip())
        ex = tokenize_rendered(render_turns(rec, tokenizer)[0], tokenizer, cap)
        if ex is None or (full and len(ex["input_ids"]) < cap):
            continue
        out.append({"input_ids": ex["input_ids"], "completion_mask": ex["completion_mask"]})
    return out


def prepare_tokens(paragraphs: list[str], tokenizer: Any, cases: dict[str, tuple[int, int, bool]],
                   steps: int = MAX_STEPS, seed: int = 0) -> dict[str, Any]:
    """The token file: for each case, ``steps`` batches of tokenized examples."""
    rng = random.Random(seed)
    out: dict[str, Any] = {"tokenizer": getattr(tokenizer, "name_or_path", ""), "cases": {}}
    for name, (rows, cap, full) in cases.items():
        batches = [make_examples(paragraphs, tokenizer, rows, cap, full, rng) for _ in range(steps)]
        out["cases"][name] = {"rows": rows, "cap": cap, "full": full, "batches": batches}
    return out


def read_paragraphs(path: Path, limit: int = 8000) -> list[str]:
    lines = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                lines.append(line.strip())
                if len(lines) >= limit:
                    break
    return lines


def case_tokens(case: dict[str, Any], first: int, last: int) -> int:
    """Non-pad tokens of batches ``first`` .. ``last - 1``."""
    return sum(len(ex["input_ids"]) for b in case["batches"][first:last] for ex in b)


def batch_rows(batch: dict[str, Any]) -> list[list[int]]:
    """The examples of a collated batch, pad removed: padded (attention_mask) or padding-free (position_ids)."""
    ids = batch["input_ids"]
    if "attention_mask" in batch:
        return [row[mask.bool()].tolist() for row, mask in zip(ids, batch["attention_mask"], strict=True)]
    flat, pos = ids[0].tolist(), batch["position_ids"][0].tolist()
    starts = [i for i, p in enumerate(pos) if p == 0] + [len(flat)]
    return [flat[a:b] for a, b in itertools.pairwise(starts)]


def fingerprint(rows: list[list[int]]) -> str:
    return hashlib.sha1(json.dumps(rows).encode()).hexdigest()[:12]


# ---- one measurement (its own process) --------------------------------------------------------------------


class _Probe:
    """What both sides record the same way: batches from the collator, step times, peak memory."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.batches: list[tuple[int, str]] = []  # (non-pad tokens, fingerprint) per collated batch
        self.t0: float | None = None
        self.t1: float | None = None

    def see(self, batch: dict[str, Any]) -> None:
        rows = batch_rows(batch)
        self.batches.append((sum(len(r) for r in rows), fingerprint(rows)))

    def callback(self):
        import torch
        from transformers import TrainerCallback

        probe = self

        class StepTimer(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                if torch.cuda.is_available():
                    torch.cuda.reset_peak_memory_stats()

            def on_step_end(self, args, state, control, **kw):
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                if state.global_step == probe.warmup:
                    probe.t0 = time.perf_counter()
                if state.global_step == state.max_steps:
                    probe.t1 = time.perf_counter()

        return StepTimer()

    def result(self, steps: int) -> dict[str, Any]:
        import torch

        measured = self.batches[self.warmup:steps]
        seconds = (self.t1 or 0.0) - (self.t0 or 0.0)
        tokens = sum(t for t, _ in measured)
        return {"seconds": seconds, "tokens_seen": tokens, "tokens_per_s": tokens / seconds if seconds > 0 else None,
                "fingerprints": [f for _, f in self.batches[:steps]],
                "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if torch.cuda.is_available() else None}


def _examples(case: dict[str, Any], steps: int) -> list[dict[str, list[int]]]:
    return [ex for b in case["batches"][:steps] for ex in b]


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """One training measurement: ``spec`` names side, model dir, method, case, steps, warm-up and options."""
    import torch

    torch.manual_seed(0)
    if spec["side"] == "grpo":
        return {**_public(spec), **_run_grpo(spec)}
    data = json.loads(Path(spec["tokens"]).read_text(encoding="utf-8"))
    case = data["cases"][spec["case"]]
    steps, warmup = spec["steps"], spec["warmup"]
    probe = _Probe(warmup)
    t_start = time.perf_counter()
    try:
        extra = (_run_jaft if spec["side"] == "jaft" else _run_baseline)(spec, case, probe)
    except Exception as e:  # an OOM is a result, not a failure of the benchmark
        text = f"{type(e).__name__}: {e}"
        if "out of memory" not in text.lower():
            raise
        return {**_public(spec), "oom": True, "error": text[:300]}
    out = {**_public(spec), **probe.result(steps), **extra,
           "tokens_expected": case_tokens(case, warmup, steps), "wall_s": time.perf_counter() - t_start}
    return out


def _public(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k not in ("tokens", "model_dir", "out")}


def _arch(model_dir: str):
    from jaft.registry import arch_from_config

    return arch_from_config(json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8")))


def _worst_batch(case: dict[str, Any], steps: int, padded: bool) -> tuple[int, int]:
    """(batch, seq_len) of the case's largest batch: padded to its longest row, or flattened padding-free."""
    batches = case["batches"][:steps]
    if padded:
        return case["rows"], max(len(ex["input_ids"]) for b in batches for ex in b)
    return 1, max(sum(len(ex["input_ids"]) for ex in b) for b in batches)


def _run_jaft(spec: dict[str, Any], case: dict[str, Any], probe: _Probe) -> dict[str, Any]:
    import trl.trainer.sft_trainer as sft_trainer

    import jaft.train.sft as jsft
    import jaft.train.strategy as strategy
    from jaft.config import load_run_config
    from jaft.planner import estimate_training

    collator = sft_trainer.DataCollatorForLanguageModeling
    saved = (collator.__call__, jsft._make_trainer, strategy.resolve_training)
    original_call, make, resolve = saved
    resolved: dict[str, Any] = {}

    def call(self, examples):
        batch = original_call(self, examples)
        probe.see(batch)
        return batch

    def make_trainer(*a, **k):
        trainer = make(*a, **k)
        trainer.add_callback(probe.callback())
        return trainer

    def capture(*a, **k):
        resolved["res"] = resolve(*a, **k)
        return resolved["res"]

    cfg = load_run_config(sets=[
        f"model.model_name={spec['model_dir']}", f"train.output_dir={spec['out']}", f"train.method={spec['method']}",
        f"train.max_steps={spec['steps']}", f"train.batch_size={case['rows']}", "train.gradient_accumulation=1",
        f"train.max_seq_length={case['cap']}", f"lora.r={LORA_R}", f"lora.alpha={LORA_ALPHA}",
        "train.logging_steps=1", "train.save_steps=100000", *spec.get("sets", []),
    ])
    # Probes on the collator, the trainer and the strategy; put back afterwards (tests run both sides in one
    # process).
    collator.__call__, jsft._make_trainer, strategy.resolve_training = call, make_trainer, capture
    after: dict[str, str] = {}
    try:
        jsft.run_sft(cfg, examples=_examples(case, spec["steps"]), generation_test=False)
    except Exception as e:
        if probe.t1 is None or "out of memory" in str(e).lower():
            raise
        # Training finished and was timed; saving or reporting failed (a missing optional package, say).
        after["after_training_error"] = f"{type(e).__name__}: {e}"[:300]
    finally:
        collator.__call__, jsft._make_trainer, strategy.resolve_training = saved
    res = resolved["res"]
    b, s = _worst_batch(case, spec["steps"], padded=res.batching != "packed")
    est = estimate_training(_arch(spec["model_dir"]), res.method, batch_size=b, seq_len=s,
                            gradient_checkpointing=res.gradient_checkpointing, lora_r=LORA_R,
                            precision=res.precision, fused_cross_entropy=True)
    keys = ("gradient_checkpointing", "use_liger", "batching", "optimizer", "torch_compile", "token_metrics")
    return {"estimate_gb": est.allocated_gb, "applied": {k: res.applied[k].value for k in keys if k in res.applied},
            "why": {k: res.applied[k].why for k in keys if k in res.applied}, **after}


def _run_baseline(spec: dict[str, Any], case: dict[str, Any], probe: _Probe) -> dict[str, Any]:
    """transformers Trainer + PEFT as a user writes it: SDPA, bf16, padded batches, the default optimizer."""
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        Trainer,
        TrainingArguments,
    )

    from jaft.planner import estimate_training

    cuda = torch.cuda.is_available()
    gc = bool(spec["gc"])
    tok = AutoTokenizer.from_pretrained(spec["model_dir"])
    kw: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32, "attn_implementation": "sdpa"}
    if spec["method"] == "qlora":
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32)
    if cuda:
        kw["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(spec["model_dir"], **kw)
    model.config.use_cache = False
    if spec["method"] == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc)
    elif gc:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def collate(examples):
        n = max(len(e["input_ids"]) for e in examples)
        batch = {
            "input_ids": torch.tensor([e["input_ids"] + [pad] * (n - len(e["input_ids"])) for e in examples]),
            "attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * (n - len(e["input_ids"]))
                                            for e in examples]),
            "labels": torch.tensor([[t if m else -100 for t, m in zip(e["input_ids"], e["completion_mask"], strict=True)]
                                    + [-100] * (n - len(e["input_ids"])) for e in examples]),
        }
        probe.see(batch)
        return batch

    args = TrainingArguments(
        output_dir=spec["out"], per_device_train_batch_size=case["rows"], max_steps=spec["steps"],
        learning_rate=1e-4, bf16=cuda, logging_steps=1, save_strategy="no", report_to="none", use_cpu=not cuda,
        disable_tqdm=True, train_sampling_strategy="sequential", dataloader_num_workers=0,
        remove_unused_columns=False)
    trainer = Trainer(model=model, args=args, train_dataset=_examples(case, spec["steps"]), data_collator=collate,
                      callbacks=[probe.callback()])
    trainer.train()
    b, s = _worst_batch(case, spec["steps"], padded=True)
    est = estimate_training(_arch(spec["model_dir"]), spec["method"], batch_size=b, seq_len=s, gradient_checkpointing=gc,
                            lora_r=LORA_R, precision="bf16" if cuda else "fp32", fused_cross_entropy=False)
    return {"estimate_gb": est.allocated_gb, "optimizer": getattr(args.optim, "value", str(args.optim))}


def _run_grpo(spec: dict[str, Any]) -> dict[str, Any]:
    """A few GRPO steps (``jaft grpo``'s path) on bundled math problems; the time split from metrics.jsonl.

    A random-weight model never samples EOS, so every completion runs to ``max_completion_length``: the
    generated token count is fixed, and tokens/s compares the generation backends directly.
    """
    from jaft.config import load_run_config
    from jaft.data.mathgen import generate
    from jaft.data.records import Record
    from jaft.train.grpo import run_grpo, step_time_split

    recs = [Record(kind="prompt_completion", prompt=r["problem"], completion=r["solution"], answer=r["answer"])
            for r in generate(64, seed=0)]
    n = spec.get("generations", 16)
    cfg = load_run_config(sets=[
        f"model.model_name={spec['model_dir']}", f"train.output_dir={spec['out']}", "train.method=lora",
        f"grpo.max_steps={spec['steps']}", f"grpo.batch_size={n}", f"grpo.num_generations={n}",
        f"grpo.max_completion_length={spec.get('completion_tokens', 128)}", "train.logging_steps=1",
        "train.save_steps=100000", *spec.get("sets", []),
    ])
    run = run_grpo(cfg, records=recs)
    rows = [r for r in run.read_metrics() if "time/generation_s" in r][spec["warmup"]:]
    return {"split": step_time_split(rows), "generation": run.read_run_file()["applied"]["generation"]["value"]}


# ---- the device run --------------------------------------------------------------------------------------


def matmul_peak_tflops(smoke: bool = False) -> float:
    """Dense matmul throughput measured here: bf16 8192³ on CUDA (the MFU denominator), fp32 on CPU."""
    import torch

    cuda = torch.cuda.is_available() and not smoke
    n, dtype, reps = (8192, torch.bfloat16, 30) if cuda else (512, torch.float32, 5)
    dev = "cuda" if cuda else "cpu"
    a, b = torch.randn(n, n, dtype=dtype, device=dev), torch.randn(n, n, dtype=dtype, device=dev)
    for _ in range(3):
        a @ b
    if cuda:
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    if cuda:
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def build_model(key: str, out: Path, smoke: bool = False) -> Path:
    """Random bf16 weights with the registry's architecture and Qwen2.5's real tokenizer (152k vocabulary)."""
    if (out / "config.json").is_file():
        return out
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    from jaft.models.tiny import build_qwen25_tokenizer
    from jaft.registry import load_registry

    arch = load_registry().get(key).arch
    tok = build_qwen25_tokenizer()
    common = dict(
        hidden_size=arch.hidden_size, num_hidden_layers=arch.num_hidden_layers,
        intermediate_size=arch.intermediate_size, num_attention_heads=arch.num_attention_heads,
        num_key_value_heads=arch.num_key_value_heads,
        # Llama-8B's own vocabulary is 128k; Qwen2.5's tokenizer needs 152k rows (+0.2B parameters).
        vocab_size=max(arch.vocab_size, 152064), tie_word_embeddings=arch.tie_word_embeddings,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        max_position_embeddings=32768,
    )
    if smoke:
        common |= dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                       num_key_value_heads=2)
    config = Qwen2Config(**common) if MODELS[key] == "qwen2" else LlamaConfig(**common)
    cuda = torch.cuda.is_available() and not smoke
    with torch.device("cuda" if cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if cuda else torch.float32)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    return out


def plan(phase: str, smoke: bool = False) -> list[dict[str, Any]]:
    """Runs in priority order. ``core``: jaft vs both baselines, LoRA, Llama-8B (full1024, mix2048) then
    Qwen-1.5B (every case); ``more``: Llama-8B mix4096, each lever alone, QLoRA, then the levers that compile.
    A run's steps: warm-up (not timed) + measured; the 8B model's steps take seconds, so fewer of them."""
    runs: list[dict[str, Any]] = []

    def add(model, method, case, side, **kw):
        if smoke:
            steps, warmup = 3, 1
        elif model == "llama-8b":
            steps, warmup = (6, 1) if case == "full1024" else (5, 1)
        else:
            steps, warmup = 10, 2
        runs.append({"model": model, "method": method, "case": case, "side": side, "steps": steps,
                     "warmup": warmup, **kw})

    def compare(model, method, case, no_gc=True):
        add(model, method, case, "jaft")
        add(model, method, case, "baseline", gc=True)
        if no_gc:
            add(model, method, case, "baseline", gc=False)

    cases = list(SMOKE_CASES if smoke else CASES)
    big = "llama-8b"
    if phase in ("core", "all"):
        if not smoke:
            for case in cases[:2]:
                compare(big, "lora", case)
        for case in cases:
            compare("qwen-1.5b", "lora", case)
    if phase in ("more", "all"):
        if not smoke:
            # Without checkpointing, 8 × 4096 tokens on the 8B model need ~300 GB: that baseline is not run.
            compare(big, "lora", "mix4096", no_gc=False)
        lever_case = cases[1]
        for name, sets in LEVERS.items():
            add("qwen-1.5b", "lora", lever_case, "jaft", lever=name, sets=sets)
        for model in ([] if smoke else [big]) + ["qwen-1.5b"]:
            add(model, "qlora", cases[0], "jaft")
            add(model, "qlora", cases[0], "baseline", gc=True)
        if not smoke:
            for name, sets in SLOW_LEVERS.items():
                add("qwen-1.5b", "lora", lever_case, "jaft", lever=name, sets=sets)
    if phase in ("grpo", "all"):
        # GRPO generation, 16 completions × 128 tokens per step (issue 14's measurement: HF generate, ~270 tokens/s).
        steps, warmup = (2, 1) if smoke else (4, 1)
        for backend in ("continuous batching", "generate"):
            on = "true" if backend == "continuous batching" else "false"
            runs.append({"model": "qwen-1.5b", "method": "lora", "case": "grpo", "side": "grpo", "steps": steps,
                         "warmup": warmup, "backend": backend, "generations": 4 if smoke else 16,
                         "completion_tokens": 16 if smoke else 128,
                         "sets": [f"grpo.continuous_batching={on}"]})
    return runs


def _emit(out: Path, row: dict[str, Any]) -> None:
    with out.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "fingerprints"}, ensure_ascii=False), flush=True)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "trl", "peft", "liger-kernel", "flash-attn", "bitsandbytes"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def device_run(tokens: Path, out: Path, work: Path, phase: str = "core", budget_s: float = 540,
               smoke: bool = False) -> None:
    """Measure and append JSON lines to ``out``: env, matmul peak, then each run while the budget lasts."""
    import datetime as dt

    import torch

    t_start = time.perf_counter()
    deadline = t_start + budget_s
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and not smoke else "CPU (smoke)"
    _emit(out, {"kind": "env", "date": dt.date.today().isoformat(), "device": device, "phase": phase,
                "smoke": smoke, "versions": _versions()})
    _emit(out, {"kind": "peak", "tflops": matmul_peak_tflops(smoke)})
    work.mkdir(parents=True, exist_ok=True)
    cost: dict[str, list[float]] = {}  # measured wall seconds per model, to predict the next run
    guess = {"llama-8b": 60.0, "qwen-1.5b": 40.0 if phase == "grpo" else 25.0}
    built: dict[str, Path] = {}
    for i, spec in enumerate(plan(phase, smoke)):
        model = spec["model"]
        past = cost.get(model)
        expect = max(past) if past else guess[model]
        left = deadline - time.perf_counter()
        if left < expect + (25 if model not in built else 0):
            _emit(out, {"kind": "skipped", **spec, "why": f"{left:.0f} s left, ~{expect:.0f} s needed"})
            continue
        if model not in built:
            t = time.perf_counter()
            built[model] = build_model(model, work / "models" / model, smoke)
            _emit(out, {"kind": "built", "model": model, "seconds": time.perf_counter() - t,
                        "parameters": _arch(str(built[model])).parameter_count()})
        # A fresh run directory each time: a warm machine keeps the work folder between calls.
        run_dir = work / "runs" / f"{phase}-{i}-{time.time_ns()}"
        full = {**spec, "tokens": str(tokens), "model_dir": str(built[model]), "out": str(run_dir)}
        t = time.perf_counter()
        cmd = [sys.executable, "-m", "bench.gpu", "worker", json.dumps(full)]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                               timeout=max(30.0, deadline - time.perf_counter()))
            if r.returncode == 0:
                row = json.loads(r.stdout.strip().splitlines()[-1])
            else:
                row = {**spec, "error": r.stderr[-1500:]}
        except subprocess.TimeoutExpired:
            row = {**spec, "error": "timed out at the budget"}
        cost.setdefault(model, []).append(time.perf_counter() - t)
        shutil.rmtree(run_dir, ignore_errors=True)
        _emit(out, {"kind": "run", **row})
    _emit(out, {"kind": "done", "phase": phase, "seconds": time.perf_counter() - t_start})


# ---- report ----------------------------------------------------------------------------------------------


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def different_batches(runs: list[dict[str, Any]]) -> list[str]:
    """Cases whose runs did not all see the same batches (each run's fingerprints, up to the shortest run)."""
    out = []
    for key in sorted({(r["model"], r["case"]) for r in runs if r.get("fingerprints")}):
        prints = [r["fingerprints"] for r in runs if (r["model"], r["case"]) == key and r.get("fingerprints")]
        n = min(len(p) for p in prints)
        if len({tuple(p[:n]) for p in prints}) > 1:
            out.append(" ".join(key))
    return out


def report(rows: list[dict[str, Any]]) -> str:
    """The docs/benchmarks.md GPU section from result lines (one or several device calls, appended)."""
    env = next((r for r in rows if r["kind"] == "env"), {})
    peaks = [r["tflops"] for r in rows if r["kind"] == "peak"]
    peak = max(peaks) if peaks else float("nan")
    params = {r["model"]: r["parameters"] for r in rows if r["kind"] == "built"}
    runs = [r for r in rows if r["kind"] == "run" and "error" not in r]
    errors = [r for r in rows if r["kind"] == "run" and "error" in r and not r.get("oom")]
    skipped = [r for r in rows if r["kind"] == "skipped"]
    unit = "TFLOP/s bf16" if not env.get("smoke") else "TFLOP/s fp32 (CPU smoke: figures mean nothing)"

    def mfu(r):
        tps, n = r.get("tokens_per_s"), params.get(r["model"])
        return f"{100 * 6 * n * tps / (peak * 1e12):.1f} %" if tps and n and peak == peak else "—"

    def tps(r):
        if r is None:
            return "not run"
        if r.get("oom"):
            return "OOM"
        return f"{r['tokens_per_s']:,.0f}"

    def gb(v):
        return f"{v:.1f}" if isinstance(v, (int, float)) else "—"

    v = env.get("versions", {})
    lines = [
        "## GPU: SFT at equal work, jaft train vs transformers Trainer + PEFT",
        "",
        f"{env.get('date', '?')}, {env.get('device', '?')}; measured matmul peak **{peak:,.4g} {unit}**. "
        + ", ".join(f"{k} {v[k]}" for k in v) + ".",
        "",
        "Both sides train the same pre-tokenized batches in the same order (`python -m bench.gpu prepare`; "
        "Japanese corpus, jaft's renderer, prompt masked from the loss): `full1024` = 4 rows × 1,024 tokens, all "
        "full; `mix2048` / `mix4096` = 8 rows of log-uniform length 64 … cap. Random-weight models of the "
        "registry's shapes with Qwen2.5's 152k vocabulary, LoRA r=16 on all linear layers, bf16. Tokens/s = "
        "non-pad tokens of the timed steps (after warm-up), identical on both sides (checked per batch); MFU = "
        "6·N·tokens/s over the measured peak; peak = `torch.cuda.max_memory_allocated`; estimate = `jaft plan` "
        "arithmetic for the same settings and the case's largest batch.",
        "",
        "| model | method | case | baseline, checkpointing | baseline, none | jaft | jaft ÷ best baseline "
        "| MFU base / jaft | peak GB base / jaft | jaft estimate GB (÷ measured) | jaft applied |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["model"], r["method"], r["case"]) for r in runs if "lever" not in r and r["side"] != "grpo"},
                  key=lambda k: (list(MODELS).index(k[0]) if k[0] in MODELS else 9, k[1], k[2]))
    for model, method, case in keys:
        same = [r for r in runs if (r["model"], r["method"], r["case"]) == (model, method, case) and "lever" not in r]
        ours = next((r for r in same if r["side"] == "jaft"), None)
        b_gc = next((r for r in same if r["side"] == "baseline" and r.get("gc")), None)
        b_no = next((r for r in same if r["side"] == "baseline" and not r.get("gc")), None)
        bases = [b for b in (b_gc, b_no) if b and b.get("tokens_per_s")]
        best = max(bases, key=lambda b: b["tokens_per_s"]) if bases else None
        ratio = (f"**{ours['tokens_per_s'] / best['tokens_per_s']:.2f}×**"
                 if ours and ours.get("tokens_per_s") and best else "—")
        est = "—"
        if ours and ours.get("estimate_gb") and ours.get("peak_gb"):
            est = f"{ours['estimate_gb']:.1f} ({ours['estimate_gb'] / ours['peak_gb']:.2f})"
        applied = ", ".join(f"{k}={val}" for k, val in (ours or {}).get("applied", {}).items())
        lines.append(
            f"| {model} | {method} | {case} | {tps(b_gc)} | {tps(b_no)} | {tps(ours)} | {ratio} "
            f"| {mfu(best) if best else '—'} / {mfu(ours) if ours and ours.get('tokens_per_s') else '—'} "
            f"| {gb(best and best.get('peak_gb'))} / {gb(ours and ours.get('peak_gb'))} | {est} | {applied} |")
    levers = [r for r in runs if "lever" in r]
    if levers:
        default = next((r for r in runs if r["side"] == "jaft" and "lever" not in r
                        and (r["model"], r["method"], r["case"]) == (levers[0]["model"], "lora", levers[0]["case"])), None)
        lines += ["", f"Each lever flipped alone against jaft's defaults ({levers[0]['model']}, {levers[0]['case']}):", "",
                  "| lever | tokens/s | ÷ jaft default | peak GB |", "|---|---|---|---|"]
        if default:
            lines.append(f"| jaft default | {tps(default)} | 1.00 | {gb(default.get('peak_gb'))} |")
        for r in levers:
            rel = (f"{r['tokens_per_s'] / default['tokens_per_s']:.2f}" if default and r.get("tokens_per_s")
                   and default.get("tokens_per_s") else "—")
            lines.append(f"| {r['lever']} | {tps(r)} | {rel} | {gb(r.get('peak_gb'))} |")
    grpo = [r for r in runs if r["side"] == "grpo"]
    if grpo:
        lines += ["", "GRPO, Qwen-1.5B shape, LoRA, 16 completions × 128 tokens per step (every completion runs to the "
                  "limit: random weights never sample EOS), seconds per step after one warm-up step:", "",
                  "| generation | generated tokens/s | generation s | scoring s | training s |", "|---|---|---|---|---|"]
        for r in grpo:
            sp = r.get("split", {})
            lines.append(f"| {r.get('generation', r.get('backend'))} | {sp.get('generated tokens / s', '—')} "
                         f"| {sp.get('generation s / step', '—')} | {sp.get('scoring s / step', '—')} "
                         f"| {sp.get('training s / step', '—')} |")
    runs = [r for r in runs if r["side"] != "grpo"]
    mismatched = [r for r in runs if r.get("tokens_seen") != r.get("tokens_expected")]
    lines += [] if not runs else ["", "Token counts: " + ("every run trained exactly the token file's tokens." if not mismatched else
              f"{len(mismatched)} run(s) saw other token counts than the file: "
              + ", ".join(f"{r['side']} {r['model']} {r['case']}" for r in mismatched))]
    differing = different_batches(runs)
    lines += [] if not runs else [("Batches: " + ("every side of every case saw byte-identical batches (fingerprints of the "
                                "non-pad rows)." if not differing else "differ in " + ", ".join(differing)))]
    if skipped or errors:
        lines += ["", "Not measured: " + "; ".join(
            [f"{r['side']} {r['model']} {r['method']} {r['case']} {r.get('lever', '')} (budget)" for r in skipped]
            + [f"{r['side']} {r['model']} {r['method']} {r['case']} (error: {r['error'].strip().splitlines()[-1][:120]})"
               for r in errors])]
    return "\n".join(lines)


def run() -> str:
    """`python -m bench gpu` on a CUDA machine: prepare, measure every phase, return the section."""
    import tempfile

    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench gpu needs a CUDA GPU; on a lent machine run bench/gpu_run.sh (see docs/benchmarks.md)")
    from bench.common import CORPUS

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokens = prepare(CORPUS, work)
        out = work / "results.jsonl"
        device_run(tokens, out, work, phase="all", budget_s=3600)
        return report(read_results(out))


def prepare(corpus: Path, out_dir: Path, smoke: bool = False) -> Path:
    from jaft.models.tiny import build_qwen25_tokenizer

    paragraphs = read_paragraphs(corpus)
    if not paragraphs:
        raise SystemExit(f"{corpus}: no paragraphs (pass --corpus PATH to a text file, one paragraph per line)")
    data = prepare_tokens(paragraphs, build_qwen25_tokenizer(), SMOKE_CASES if smoke else CASES)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / ("tokens-smoke.json" if smoke else "tokens.json")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(path)
    return path


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare", help="token file from the corpus (run where the corpus is)")
    pp.add_argument("--corpus", type=Path, required=True)
    pp.add_argument("--out", type=Path, default=ROOT / ".bench-gpu")
    pp.add_argument("--smoke", action="store_true")
    pd = sub.add_parser("device", help="measure, appending JSON lines to --out")
    pd.add_argument("--tokens", type=Path, required=True)
    pd.add_argument("--out", type=Path, required=True)
    pd.add_argument("--work", type=Path, default=ROOT / ".bench-models")
    pd.add_argument("--phase", choices=["core", "more", "grpo", "all"], default="core")
    pd.add_argument("--budget-s", type=float, default=480)
    pd.add_argument("--smoke", action="store_true")
    pw = sub.add_parser("worker")
    pw.add_argument("spec")
    pr = sub.add_parser("report", help="print the docs section for a results file")
    pr.add_argument("results", type=Path)
    a = p.parse_args(argv)
    if a.cmd == "prepare":
        print(prepare(a.corpus, a.out, a.smoke))
    elif a.cmd == "device":
        if a.smoke:
            os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
        device_run(a.tokens, a.out, a.work, a.phase, a.budget_s, a.smoke)
    elif a.cmd == "worker":
        print(json.dumps(worker(json.loads(a.spec))))
    else:
        print(report(read_results(a.results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
