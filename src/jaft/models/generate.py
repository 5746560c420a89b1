"""The quick generation test (seed 001 ``simple_test``): a few Japanese prompts through the chat template."""

from __future__ import annotations

from typing import Any

SEED_PROMPTS = ("こんにちは、私は", "日本語について", "機械学習とは")


def generate_batch(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int,
                   temperature: float = 0.0) -> list[str]:
    """Completions of already-rendered prompts, left-padded into one batch (greedy at temperature 0).

    Prompts are tokenized by the one renderer (BOS once, as in training); generation stops at EOS or
    the template's end-of-turn token (Llama-3's ``<|eot_id|>`` is not its EOS).
    """
    import torch

    from jaft.models.chat import encode_prompt, stop_token_ids

    rows = [encode_prompt(tokenizer, p) for p in prompts]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model.generate(
            input_ids=input_ids.to(device), attention_mask=attention.to(device), max_new_tokens=max_new_tokens,
            do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
            top_p=0.95 if temperature > 0 else None, top_k=None, pad_token_id=pad,
            eos_token_id=stop_token_ids(tokenizer) or None,
        )
    new = out[:, width:]
    return tokenizer.batch_decode(new, skip_special_tokens=True)


class HFBackend:
    """Evaluation backend for a transformers model: the one renderer's prompts, batched generation."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.model, self.tokenizer = model, tokenizer

    def prompt(self, user: str, system: str | None) -> str:
        from jaft.models.chat import render_prompt

        # A base model without a chat template continues the raw prompt instead.
        return render_prompt(self.tokenizer, user, system) if self.tokenizer.chat_template else user

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float) -> list[str]:
        was_training = self.model.training
        self.model.eval()
        try:
            return generate_batch(self.model, self.tokenizer, prompts, max_new_tokens, temperature)
        finally:
            self.model.train(was_training)


def generation_test(backend: Any, prompts: list[str] | tuple[str, ...] = SEED_PROMPTS, *, max_new_tokens: int = 50,
                    temperature: float = 0.7, system: str | None = None) -> list[dict[str, str]]:
    """The seed prompts through ``backend`` (HF or GGUF) with the run's instruction; [{"prompt", "output"}]."""
    outs = backend.generate([backend.prompt(p, system) for p in prompts], max_new_tokens, temperature)
    return [{"prompt": p, "output": o} for p, o in zip(prompts, outs, strict=True)]


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: list[str] | tuple[str, ...] = SEED_PROMPTS,
    *,
    max_new_tokens: int = 50,
    temperature: float = 0.7,
    seed: int = 0,
    system: str | None = None,
) -> list[dict[str, str]]:
    """One answer per prompt through the chat template, as one batch; returns [{"prompt", "output"}]."""
    import torch

    torch.manual_seed(seed)
    return generation_test(HFBackend(model, tokenizer), prompts, max_new_tokens=max_new_tokens,
                           temperature=temperature, system=system)
