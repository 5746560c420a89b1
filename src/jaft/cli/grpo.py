from __future__ import annotations

from typing import Annotated

import typer

from jaft.cli.common import Auto, Config, ModelName, ModelType, Set

COMMAND = "grpo"
ORDER = 45


def main(
    config: Config = None,
    from_run: Annotated[str | None, typer.Option("--from", help="SFT run directory to continue (its adapter keeps training; the SFT model is the KL reference)")] = None,
    model_type: ModelType = None,
    model_name: ModelName = None,
    auto: Auto = False,
    data: Annotated[list[str] | None, typer.Option("--data", help="problems with gold answers: prepared dir or raw files (default: the mode's data / bundled math)")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="run directory (default runs/<model>-grpo-<method>-<time>)")] = None,
    reward: Annotated[list[str] | None, typer.Option("--reward", help="NAME=WEIGHT (repeatable): format, accuracy, language_consistency, tiered, length, repetition, or a dotted path module:function")] = None,
    num_generations: Annotated[int | None, typer.Option("--num-generations", help="completions sampled per prompt (the group)")] = None,
    max_steps: Annotated[int | None, typer.Option("--max-steps", help="stop after N optimizer steps")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="learning rate (default 1e-6)")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="KL coefficient against the reference policy")] = None,
    method: Annotated[str | None, typer.Option("--method", help="lora | qlora | full (default: as the SFT run / planner)")] = None,
    resume: Annotated[str | None, typer.Option("--resume", help="[value optional] restart from the newest checkpoint of --output (or the CHECKPOINT given)")] = None,
    set_: Set = None,
) -> None:
    """Reinforcement learning with GRPO on math problems, rewarded for format, correct answers and Japanese reasoning.

    Seed 004's second stage: `jaft train` (SFT) first, then `jaft grpo --from RUN`. Prompts are rendered
    with the model's chat template and a Japanese instruction asking for <think>…</think><answer>…</answer>.
    Rewards, weights, num_generations, beta and the temperature annealing (grpo.initial_temperature →
    grpo.final_temperature) live in the config's grpo section. Logs reward means per function, reward
    std, completion lengths and sample completions to metrics.jsonl and report.md.
    """
    from jaft.config import load_run_config
    from jaft.errors import JaftError

    overrides = {
        "model.model_type": model_type, "model.model_name": model_name, "model.auto": auto or None,
        "train.output_dir": output, "train.method": method, "train.resume": resume,
        "grpo.num_generations": num_generations, "grpo.max_steps": max_steps, "grpo.learning_rate": lr,
        "grpo.beta": beta,
    }
    if reward:
        weights: dict[str, float] = {}
        for item in reward:
            name, _, w = item.partition("=")
            try:
                weights[name.strip()] = float(w) if w else 1.0
            except ValueError:
                raise JaftError(f"--reward {item}: the weight must be a number, e.g. accuracy=1.0") from None
        overrides["grpo.rewards"] = weights
    cfg = load_run_config(config, overrides=overrides, sets=set_)
    if from_run and (model_type or model_name or auto):
        raise JaftError("--from already names the model (the SFT run's); drop --model-type/--model-name/--auto")
    from jaft.train.grpo import run_grpo

    run_grpo(cfg, from_run=from_run, data=data)
