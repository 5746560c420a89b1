"""LoRA helpers: target modules detected from the model's own linear layers (seed 001)."""

from __future__ import annotations

from typing import Any

# Output heads and embeddings stay frozen under LoRA: adapting them costs memory for little gain,
# and new vocabulary rows are trained through modules_to_save / trainable_token_indices instead.
_EXCLUDE = ("lm_head", "embed_out", "score", "classifier", "wte", "embed_tokens")


def detect_target_modules(model: Any) -> list[str]:
    """Names (last path component) of every linear layer inside the transformer blocks.

    Matches ``nn.Linear`` and its quantized subclasses (bitsandbytes ``Linear4bit``/``Linear8bitLt``),
    so QLoRA gets the same targets as LoRA. Covers Llama/Qwen (q/k/v/o, gate/up/down) and GPT-NeoX
    (query_key_value, dense, dense_h_to_4h, dense_4h_to_h) without a per-architecture table.
    """
    import torch

    names: list[str] = []
    for name, module in model.named_modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in _EXCLUDE or any(part in _EXCLUDE for part in name.split(".")):
            continue
        if leaf not in names:
            names.append(leaf)
    return names
