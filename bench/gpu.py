"""GPU benchmark: QLoRA and LoRA SFT throughput and peak memory, `jaft train` vs plain transformers +
PEFT, on random-weight models of real architecture sizes (Qwen2-1.5B and Llama-8B configs), plus the
planner's estimate of the same peak. Run it whenever a GPU machine is lent:

    python -m bench gpu            # needs CUDA; records date and device in docs/benchmarks.md
    JAFT_BENCH_SMOKE=1 python -m bench.gpu   # CPU smoke run of the same code on a tiny config

Each measurement runs in its own process so `torch.cuda.max_memory_allocated` is its own.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import run_worker

SMOKE = os.environ.get("JAFT_BENCH_SMOKE") == "1"
MODELS = {"qwen-1.5b": "qwen2", "llama-8b": "llama"}
METHODS = ("qlora", "lora")
BATCH, SEQ, STEPS = (2, 128, 3) if SMOKE else (4, 1024, 30)


def build_model(key: str, out: Path) -> Path:
    """Random bf16 weights with the registry's architecture, and Qwen2.5's real tokenizer."""
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
    if SMOKE:
        common |= dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                       num_key_value_heads=2)
    config = Qwen2Config(**common) if MODELS[key] == "qwen2" else LlamaConfig(**common)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)
    del model
    return out


def records_file(out: Path) -> Path:
    """Bundled Japanese records of varied length (the shared corpus does not travel to GPU machines)."""
    import random

    from jaft.data.bundled import tokenizer_training_texts

    texts = list(tokenizer_training_texts())
    rng = random.Random(0)
    rows = []
    for i in range(BATCH * STEPS * 2):
        k = rng.choice([1, 1, 2, 3, 5, 10, 20])
        body = "".join(rng.sample(texts, k))[: SEQ * 2]
        rows.append({"kind": "prompt_completion", "prompt": f"次の文章を書いてください（{i}）。", "completion": body})
    path = out / "records.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def worker(side: str, method: str, model_dir: str, records: str, out: str) -> dict:
    import torch

    from jaft.data.records import Record

    recs = [Record.model_validate_json(x) for x in Path(records).read_text(encoding="utf-8").splitlines()]
    cuda = torch.cuda.is_available()
    if side == "jaft":
        from jaft.config import load_run_config
        from jaft.train.sft import run_sft

        cfg = load_run_config(sets=[
            f"model.model_name={model_dir}", f"train.output_dir={out}", f"train.method={method}",
            f"train.max_steps={STEPS}", f"train.batch_size={BATCH}", "train.gradient_accumulation=1",
            f"train.max_seq_length={SEQ}", "lora.r=16", "lora.alpha=32", "train.logging_steps=1",
            "train.save_steps=100000", "train.gradient_checkpointing=true",
        ])
        run = run_sft(cfg, records=(recs, []), generation_test=False)
        rows = run.read_metrics()
        runtime = next(r["train_runtime"] for r in reversed(rows) if "train_runtime" in r)
        tokens = next(r["num_tokens"] for r in reversed(rows) if "num_tokens" in r)
        applied = run.read_run_file()["applied"]
        return {"tokens_per_s": tokens / runtime, "tokens": tokens, "seconds": runtime,
                "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else None,
                "batching": applied["batching"]["value"]}

    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        Trainer,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(model_dir)
    kw: dict = {"dtype": torch.bfloat16, "attn_implementation": "sdpa"}
    if method == "qlora":
        kw["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                       bnb_4bit_use_double_quant=True,
                                                       bnb_4bit_compute_dtype=torch.bfloat16)
        kw["device_map"] = {"": 0} if cuda else "cpu"
    model = AutoModelForCausalLM.from_pretrained(model_dir, **kw)
    if method == "qlora":
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    else:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    examples, real = [], 0
    for r in recs[: BATCH * STEPS]:
        text = tok.apply_chat_template([{"role": "user", "content": r.prompt},
                                        {"role": "assistant", "content": r.completion}], tokenize=False)
        ids = tok(text, add_special_tokens=False, truncation=True, max_length=SEQ)["input_ids"]
        examples.append({"input_ids": ids, "labels": list(ids)})
        real += len(ids)

    def collate(batch):
        n = max(len(b["input_ids"]) for b in batch)
        return {
            "input_ids": torch.tensor([b["input_ids"] + [tok.pad_token_id] * (n - len(b["input_ids"])) for b in batch]),
            "attention_mask": torch.tensor([[1] * len(b["input_ids"]) + [0] * (n - len(b["input_ids"])) for b in batch]),
            "labels": torch.tensor([b["labels"] + [-100] * (n - len(b["labels"])) for b in batch]),
        }

    args = TrainingArguments(output_dir=out, per_device_train_batch_size=BATCH, max_steps=STEPS, learning_rate=1e-4,
                             bf16=cuda, logging_steps=1, save_strategy="no", report_to="none", use_cpu=not cuda,
                             disable_tqdm=True, gradient_checkpointing=False)
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=collate)
    t = time.perf_counter()
    result = trainer.train()
    seconds = result.metrics.get("train_runtime", time.perf_counter() - t)
    return {"tokens_per_s": real / seconds, "tokens": real, "seconds": seconds,
            "peak_gb": torch.cuda.max_memory_allocated() / 1e9 if cuda else None}


def run() -> str:
    import datetime as dt

    import torch

    if not torch.cuda.is_available() and not SMOKE:
        raise SystemExit("bench gpu needs a CUDA GPU (the section in docs/benchmarks.md keeps its last GPU figures)")
    from jaft.hardware import Hardware, detect
    from jaft.planner import plan_training
    from jaft.registry import load_registry

    hw = detect()
    device = hw.gpus[0].name if hw.gpus else "CPU (smoke)"
    lines = [
        "## GPU: QLoRA and LoRA SFT, jaft train vs transformers + PEFT",
        "",
        f"{dt.date.today().isoformat()}, {device}. Random-weight models with the registry's real architecture "
        f"(Qwen2-1.5B, Llama-8B; Qwen2.5 tokenizer), LoRA r=16 on all linear layers, batch {BATCH}, up to {SEQ} "
        f"tokens, {STEPS} steps, gradient checkpointing, bf16; baseline = transformers Trainer + PEFT with padded "
        "batches. Peak = `torch.cuda.max_memory_allocated`; estimate = `jaft plan` for the same settings.",
        "",
        "| model | method | baseline tokens/s | jaft tokens/s | speed-up | baseline peak GB | jaft peak GB | planner estimate GB | jaft batching |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        records = records_file(work)
        for key in MODELS:
            model_dir = build_model(key, work / key)
            for method in METHODS:
                base = run_worker("bench.gpu", "baseline", method, str(model_dir), str(records), str(work / "b"))
                ours = run_worker("bench.gpu", "jaft", method, str(model_dir), str(records), str(work / f"j-{key}-{method}"))
                plan = plan_training(load_registry().get(key), hw if hw.gpus else Hardware.with_gpus(80), method=method,
                                     batch_size=BATCH, seq_len=SEQ, gradient_checkpointing=True, lora_r=16)

                def gb(v):
                    return f"{v:.1f}" if v is not None else "—"

                lines.append(
                    f"| {key} | {method} | {base['tokens_per_s']:.0f} | {ours['tokens_per_s']:.0f} | "
                    f"{ours['tokens_per_s'] / base['tokens_per_s']:.2f}× | {gb(base['peak_gb'])} | {gb(ours['peak_gb'])} | "
                    f"{plan.estimate.total_gb:.1f} | {ours['batching']} |")
            import shutil

            shutil.rmtree(model_dir, ignore_errors=True)
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(worker(*sys.argv[1:6])))
    else:
        print(run())
