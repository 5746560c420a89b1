from __future__ import annotations

import sys
from typing import Annotated

import typer

from jaft.cli.common import Auto, Config, ModelName, ModelType, Set

COMMAND = "train"
ORDER = 40


def main(
    config: Config = None,
    model_type: ModelType = None,
    model_name: ModelName = None,
    auto: Auto = False,
    mode: Annotated[str | None, typer.Option("--mode", help="data execution mode: production | development | trial")] = None,
    method: Annotated[str | None, typer.Option("--method", help="lora | qlora | full (default: the planner's choice; ≥22B → qlora)")] = None,
    data: Annotated[list[str] | None, typer.Option("--data", help="prepared data dir (jaft data prepare) or raw files, prepared on the fly; repeatable")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="run directory (default runs/<model>-sft-<method>-<time>)")] = None,
    epochs: Annotated[float | None, typer.Option("--epochs", help="training epochs")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="stop after N optimizer steps (overrides epochs)")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="learning rate (default: the model's strategy)")] = None,
    continue_from: Annotated[str | None, typer.Option("--continue-from", help="keep training this LoRA adapter; its base model is read from adapter_config.json")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="[value optional] restart a crashed run from its newest checkpoint (or the CHECKPOINT given): optimizer, scheduler, RNG and data position included")] = None,
    num_processes: Annotated[int | None, typer.Option("--num-processes", help="data-parallel processes through accelerate (one per GPU)")] = None,
    accelerate_config: Annotated[str | None, typer.Option("--accelerate-config", help="ddp | fsdp | deepspeed-zero2 | deepspeed-zero3, or an accelerate YAML")] = None,
    trust_remote_code: Annotated[bool, typer.Option("--trust-remote-code", help="allow model code from the Hub (only for models you trust)")] = False,
    no_generation_test: Annotated[bool, typer.Option("--no-generation-test", help="skip the Japanese generation test at the end")] = False,
    set_: Set = None,
) -> None:
    """Supervised fine-tuning (LoRA / QLoRA / full) with the model's strategy applied.

    Examples: `jaft train --mode development --model-type qwen-14b`, `jaft train --model-name PATH_OR_ID`,
    `jaft train --config configs/qwen-14b/lora.yaml`, `jaft train --auto`. Batch, accumulation, learning
    rate and LoRA r/alpha come from the registry unless overridden; the planner picks method, precision
    and sequence length for this hardware. On a terminal without --auto you are asked for epochs,
    learning rate and output name. The run directory holds jaft_run.yaml, adapter/ (or model/),
    checkpoints/, metrics.jsonl and report.md.
    """
    from jaft.config import load_run_config
    from jaft.train.distributed import in_distributed_child

    overrides = {
        "model.model_type": model_type, "model.model_name": model_name, "model.auto": auto or None,
        "model.trust_remote_code": trust_remote_code or None, "data.mode": mode, "train.method": method,
        "train.output_dir": output, "train.epochs": epochs, "train.max_steps": max_steps,
        "train.learning_rate": lr, "train.continue_from": continue_from, "train.resume": resume,
        "train.num_processes": num_processes, "train.generation_test": False if no_generation_test else None,
    }
    cfg = load_run_config(config, overrides=overrides, sets=set_)
    if cfg.train.num_processes > 1 and not in_distributed_child():
        from jaft.train.distributed import launch_ranks

        raise typer.Exit(launch_ranks(cfg, sys.argv[1:], data, accelerate_config))

    from jaft.train.sft import run_sft

    interactive = (sys.stdin.isatty() and sys.stdout.isatty() and not auto and not cfg.train.resume
                   and not in_distributed_child())
    run_sft(cfg, data=data, interactive=interactive)
