"""The quick generation test (seed 001 ``simple_test``): a few Japanese prompts through the chat template."""

from __future__ import annotations

from typing import Any

SEED_PROMPTS = ("こんにちは、私は", "日本語について", "機械学習とは")


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: list[str] | tuple[str, ...] = SEED_PROMPTS,
    *,
    max_new_tokens: int = 50,
    temperature: float = 0.7,
    seed: int = 0,
    system: str | None = None,
    chat: bool = True,
) -> list[dict[str, str]]:
    """Generate one answer per prompt; returns [{"prompt", "output"}]. Sampling is seeded."""
    import torch

    from jaft.models.chat import render_prompt

    torch.manual_seed(seed)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    results = []
    try:
        for p in prompts:
            text = render_prompt(tokenizer, p, system) if chat and tokenizer.chat_template else p
            enc = tokenizer(text, return_tensors="pt", add_special_tokens=not chat).to(device)
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=temperature > 0,
                    temperature=temperature if temperature > 0 else None,
                    top_p=0.95 if temperature > 0 else None,
                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
                )
            new = out[0, enc["input_ids"].shape[1]:]
            results.append({"prompt": p, "output": tokenizer.decode(new, skip_special_tokens=True)})
    finally:
        model.train(was_training)
    return results
