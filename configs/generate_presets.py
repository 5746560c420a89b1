"""Regenerate configs/<model>/<method>.yaml from the registry (run after adding a model).

The presets are committed so users can read and copy them; tests check they still match the registry.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from jaft.registry import load_registry

FULL_LR_SCALE = 0.2  # full fine-tuning wants a smaller step than LoRA (seed 003: 2e-5 vs 1e-4)


def preset(entry, method: str) -> dict:
    train = {
        "method": method,
        "batch_size": entry.recommended_batch_size,
        "gradient_accumulation": entry.recommended_gradient_accumulation,
        "learning_rate": entry.recommended_learning_rate * (FULL_LR_SCALE if method == "full" else 1.0),
        "max_seq_length": entry.recommended_max_seq_length,
        # No gradient_checkpointing: the planner turns it on only when memory needs it (it costs ~1/3 compute).
    }
    data = {"model": {"model_type": entry.key}, "train": train}
    if method != "full":
        data["lora"] = {"r": entry.recommended_lora_r, "alpha": entry.recommended_lora_alpha}
    if method == "qlora":
        data["model"]["load_in"] = "4bit"
    return data


def main() -> None:
    root = Path(__file__).parent
    for entry in load_registry().models:
        for method in ("lora", "qlora", "full"):
            path = root / entry.key / f"{method}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            head = f"# {entry.model_name}: {method} (strategy from jaft's registry; edit freely)\n"
            path.write_text(head + yaml.safe_dump(preset(entry, method), sort_keys=False), encoding="utf-8")


if __name__ == "__main__":
    main()
