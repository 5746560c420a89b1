from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "init-tiny"
ORDER = 25


def main(
    out: Annotated[str, typer.Option("--out", help="directory to write the model into")],
    arch: Annotated[str, typer.Option("--arch", help="qwen2, llama or stablelm")] = "qwen2",
    tokenizer: Annotated[str, typer.Option("--tokenizer", help="bpe (small, trained on bundled Japanese) or qwen2.5 (real vocabulary, offline)")] = "bpe",
    seed: Annotated[int, typer.Option("--seed", help="weight initialisation seed; same seed, same bytes")] = 0,
) -> None:
    """Write a tiny random-weight model (2 layers, a few million parameters) for tests and the quickstart.

    It loads with AutoModelForCausalLM / AutoTokenizer and carries R1-Distill's chat template
    (<｜User｜>/<｜Assistant｜>, generation prompt opening <think>).
    """
    from jaft.errors import JaftError
    from jaft.models.tiny import init_tiny

    if arch not in ("qwen2", "llama", "stablelm"):
        raise JaftError(f"--arch {arch}: use qwen2, llama or stablelm")
    if tokenizer not in ("bpe", "qwen2.5"):
        raise JaftError(f"--tokenizer {tokenizer}: use bpe or qwen2.5")
    path = init_tiny(out, arch, tokenizer, seed)  # type: ignore[arg-type]
    print(f"wrote tiny {arch} model ({tokenizer} tokenizer, seed {seed}) to {path}")
