"""Planner estimate vs measured peak memory of real training steps (CPU here; GPU in bench/gpu.py).

Each case runs in its own process: resident memory is measured before the model exists and at the
peak of three optimizer steps, and compared with `jaft.planner.estimate_training` for the same
architecture, method, batch and sequence length.

    python -m bench planner
"""

from __future__ import annotations

import json
import sys

from bench.common import run_worker

# A ~60M-parameter Qwen2-shaped model: big enough that weights, optimizer and activations dominate
# the allocator's noise, small enough for a 2-core CPU.
ARCH = {"hidden_size": 512, "num_hidden_layers": 8, "intermediate_size": 1536, "num_attention_heads": 8,
        "num_key_value_heads": 2, "vocab_size": 32000, "tie_word_embeddings": False, "qkv_bias": True}
CASES = [("full", False), ("lora", False), ("lora", True)]
BATCH, SEQ, R = 4, 512, 16


def worker(method: str, checkpointing: bool) -> dict:
    import psutil
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from bench.common import peak_rss_mb

    torch.manual_seed(0)
    proc = psutil.Process()
    base_mb = proc.memory_info().rss / 2**20
    cfg = Qwen2Config(**{k: v for k, v in ARCH.items() if k != "qkv_bias"}, max_position_embeddings=2048,
                      attn_implementation="sdpa", use_cache=False)
    model = Qwen2ForCausalLM(cfg)
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method == "lora":
        if checkpointing:
            model.enable_input_require_grads()
        model = get_peft_model(model, LoraConfig(r=R, lora_alpha=2 * R, lora_dropout=0.05, target_modules="all-linear"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    x = torch.randint(0, ARCH["vocab_size"], (BATCH, SEQ))
    for _ in range(3):
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {"method": method, "checkpointing": checkpointing, "measured_gb": (peak_rss_mb() - base_mb) * 2**20 / 1e9}


def run() -> str:
    from jaft.planner import estimate_training
    from jaft.registry import ArchSpec

    arch = ArchSpec(**ARCH)
    rows = []
    for method, gc in CASES:
        m = run_worker("bench.planner", method, str(gc))
        e = estimate_training(arch, method, batch_size=BATCH, seq_len=SEQ, gradient_checkpointing=gc, lora_r=R,
                              precision="fp32", on_gpu=False)
        rows.append((method, gc, e, m["measured_gb"]))
    lines = [
        "## Memory planner vs measured peak (CPU, fp32)",
        "",
        f"Qwen2-shaped model, {arch.parameter_count() / 1e6:.0f}M parameters (hidden 512, 8 layers, vocab 32k), "
        f"batch {BATCH} × {SEQ} tokens, AdamW, LoRA r={R} on all linear layers; peak resident memory of three "
        "optimizer steps above the process's memory before the model existed.",
        "",
        "| method | checkpointing | estimate (GB) | weights | grads+optim | activations | logits | measured (GB) | measured / estimate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, gc, e, measured in rows:
        lines.append(
            f"| {method} | {'on' if gc else 'off'} | {e.total_gb:.2f} | {e.weights_gb + e.trainable_weights_gb:.2f} | "
            f"{e.gradients_gb + e.optimizer_gb:.2f} | {e.activations_gb:.2f} | {e.logits_gb:.2f} | {measured:.2f} | "
            f"{measured / e.total_gb:.2f} |")
    lines += ["", "The GPU section (`bench/gpu.py`) makes the same comparison with `torch.cuda.max_memory_allocated` "
              "on real architecture sizes."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], sys.argv[2] == "True")))
