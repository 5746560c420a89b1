from __future__ import annotations

from typing import Annotated

import typer

from jaft.cli.common import Json

COMMAND = "eval"
ORDER = 50


def main(
    model: Annotated[str | None, typer.Option("--model", help="merged model dir, LoRA adapter dir, or a jaft run directory")] = None,
    gguf: Annotated[str | None, typer.Option("--gguf", help="evaluate a GGUF through llama.cpp as Ollama runs it (its Modelfile's TEMPLATE and SYSTEM)")] = None,
    modelfile: Annotated[str | None, typer.Option("--modelfile", help="--gguf: the Modelfile to deploy with (default: Modelfile beside the GGUF)")] = None,
    task: Annotated[str, typer.Option("--task", help="math | generate | perplexity")] = "math",
    adapter: Annotated[str | None, typer.Option("--adapter", help="LoRA adapter to apply on --model")] = None,
    data: Annotated[str | None, typer.Option("--data", help="math: JSONL problems with answers (default: bundled held-out set); perplexity: text file")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="evaluate only the first N items")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="prompts generated together")] = 8,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", help="generation length limit")] = 256,
    out: Annotated[str | None, typer.Option("--out", help="math: predictions JSONL (default: next to the model / run)")] = None,
    system_prompt: Annotated[str | None, typer.Option("--system-prompt", help="math: instruction sent with each problem (default: what the run trained with)")] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="input encoding (default: detected like `jaft data prepare`: BOM, UTF-8, else cp932/euc_jp); e.g. cp932", show_default=False)] = None,
    json_: Json = False,
) -> None:
    """Evaluate a trained model: math accuracy, generation test, or perplexity.

    `math` generates for each problem (batched, progress with running accuracy), extracts the answer with
    the reward's Japanese normalizer and reports accuracy, format rate and language consistency, writing
    every prediction to a JSONL file. `generate` runs the seed's prompts (こんにちは、私は / 日本語について /
    機械学習とは). `perplexity` measures a text file. Works on a merged model, a model + adapter, and a run dir.
    `--gguf FILE` runs math / generate through llama.cpp with the deployed prompt (what Ollama will run).
    """
    import json
    from pathlib import Path

    from rich.console import Console

    from jaft.errors import JaftError
    from jaft.eval.run import run_eval

    if task not in ("math", "generate", "perplexity"):
        raise JaftError(f"--task {task}: use math, generate or perplexity")
    if (model is None) == (gguf is None):
        raise JaftError("give --model (a run, model or adapter directory) or --gguf FILE")
    console = Console(stderr=True)
    if gguf is not None:
        from jaft.export.gguf_chat import evaluate_gguf
        from jaft.export.native import run_native

        # llama.cpp runs in a child process: a native crash (AMX repacking) is one error line, not a
        # silent death of the command.
        result = run_native("eval gguf", evaluate_gguf, gguf, task, modelfile=modelfile, data=data, limit=limit,
                            batch_size=batch_size, max_new_tokens=max_new_tokens, out=out,
                            system_prompt=system_prompt, console=None, encoding=encoding)
    else:
        assert model is not None
        result = run_eval(Path(model), task, adapter=adapter, data=data, limit=limit, batch_size=batch_size,
                          max_new_tokens=max_new_tokens, out=out, system_prompt=system_prompt, console=console,
                          encoding=encoding)
    if json_:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    if task == "generate":
        for g in result["generations"]:
            console.print(f"{g['prompt']} → {g['output']}", markup=False)
        return
    for k, v in result.items():
        console.print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}", markup=False)
