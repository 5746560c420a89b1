from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "export"
ORDER = 60

# Options shared by `jaft export` and its stage subcommands (imported by the export_* modules).
Run = Annotated[str | None, typer.Option("--run", help="run directory of `jaft train` / `jaft grpo` (uses its adapter/ or model/)", show_default=False)]
Model = Annotated[str | None, typer.Option("--model", help="Hugging Face model directory (the base, with --adapter)", show_default=False)]
Adapter = Annotated[str | None, typer.Option("--adapter", help="LoRA/QLoRA adapter directory to merge into --model", show_default=False)]
Out = Annotated[str | None, typer.Option("--out", help="export directory (default with --run: RUN_DIR/export)", show_default=False)]
Quant = Annotated[str | None, typer.Option("--quant", help="comma-separated: q4_k_m, q5_k_m, q6_k, q8_0, f16 (default: q4_k_m)", show_default=False)]
OllamaName = Annotated[str | None, typer.Option("--ollama-name", help="register as this Ollama model (runs `ollama create` if installed)", show_default=False)]
NoVerify = Annotated[bool, typer.Option("--no-verify", help="skip the logit and tokenization check against the HF model")]
MergeDtype = Annotated[str | None, typer.Option("--merge-dtype", help="float16 (default) or bfloat16", show_default=False)]
Offload = Annotated[str | None, typer.Option("--offload-folder", help="spill weights here when a PEFT merge runs short of RAM", show_default=False)]
Pre = Annotated[str | None, typer.Option("--pre", help="force tokenizer.ggml.pre (qwen2, deepseek-r1-qwen, llama-bpe); verification checks it", show_default=False)]
Threads = Annotated[int | None, typer.Option("--threads", help="llama.cpp threads for quantization (default: all cores)", show_default=False)]
MinTop1 = Annotated[float | None, typer.Option("--min-top1", help="required F16 vs HF top-1 agreement (default 0.99)", show_default=False)]
Config = Annotated[str | None, typer.Option("--config", "-c", help="YAML run config; its export: section sets defaults", show_default=False)]
Set = Annotated[list[str] | None, typer.Option("--set", "-s", help="override a config key, e.g. export.quant=[q4_k_m,q8_0]", show_default=False)]


def main(
    ctx: typer.Context,
    run: Run = None,
    model: Model = None,
    adapter: Adapter = None,
    out: Out = None,
    quant: Quant = None,
    ollama_name: OllamaName = None,
    no_verify: NoVerify = False,
    merge_dtype: MergeDtype = None,
    offload_folder: Offload = None,
    pre: Pre = None,
    threads: Threads = None,
    min_top1: MinTop1 = None,
    config: Config = None,
    set_: Set = None,
) -> None:
    """Export a fine-tuned model: merge → GGUF F16 → Q4_K_M → verify → Ollama Modelfile.

    `jaft export --run RUN_DIR` or `jaft export --model DIR [--adapter DIR] --out DIR`. Checks disk and
    RAM first; each stage reuses a still-valid output, so re-running after an interruption continues.
    Writes `export_report.json` (timings, sizes, top-1 agreement and KL per GGUF). Stages also run
    alone: `jaft export merge|gguf|quantize|verify|ollama`.
    """
    if ctx.invoked_subcommand is not None:
        return
    if not (run or model):
        print(ctx.get_help())
        raise typer.Exit(0)
    from jaft.export.cli_support import run_cli

    run_cli("all", run=run, model=model, adapter=adapter, out=out, quant=quant, ollama_name=ollama_name,
            verify=False if no_verify else None, merge_dtype=merge_dtype, offload_folder=offload_folder, pre=pre,
            threads=threads, min_top1=min_top1, config=config, sets=set_)
