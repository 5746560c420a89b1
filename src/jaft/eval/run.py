"""``jaft eval``: load what training produced and run one task."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run_eval(
    model: Path,
    task: str,
    *,
    adapter: str | None = None,
    data: str | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    out: str | None = None,
    system_prompt: str | None = None,
    console: Any = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    from jaft.config.grpo import DEFAULT_SYSTEM_PROMPT
    from jaft.models.trained import load_trained, resolve_trained
    from jaft.train.common import quiet_libraries

    quiet_libraries()
    source = resolve_trained(model, adapter)
    result: dict[str, Any] = {"model": source.describe(), "task": task}
    if task == "math":
        from jaft.eval.math import evaluate_math, load_problems

        if data is None:
            from jaft.data.samples import math_eval_path

            data = str(math_eval_path())
        problems = load_problems(data, limit, encoding=encoding)  # parse before the model loads: bad data fails fast
        rules: dict[str, int] = {}
        for p in problems:
            rules[p["answer_rule"]] = rules.get(p["answer_rule"], 0) + 1
        result["answer_rules"] = dict(sorted(rules.items()))  # which rule gave the gold answers
        m, tok = load_trained(source)
        preds = out or str((model if model.is_dir() else model.parent) / "eval_math_predictions.jsonl")
        if system_prompt is None:
            # Ask the way the run trained: its instruction, none for an SFT run trained without one,
            # and the default <think>/<answer> instruction for anything else.
            system_prompt = (source.run_system_prompt if source.run_stage else None) or (
                None if source.run_stage == "sft" else DEFAULT_SYSTEM_PROMPT)
        result["system_prompt"] = system_prompt
        from jaft.models.generate import HFBackend

        result |= evaluate_math(HFBackend(m, tok), problems, system_prompt=system_prompt,
                                batch_size=batch_size, max_new_tokens=max_new_tokens, predictions_file=preds,
                                console=console)
    elif task == "generate":
        from jaft.models.generate import generate_texts

        m, tok = load_trained(source)
        # The run's instruction, as training used it and the Modelfile deploys it.
        system = system_prompt if system_prompt is not None else source.run_system_prompt
        result["system_prompt"] = system
        result["generations"] = generate_texts(m, tok, max_new_tokens=min(max_new_tokens, 100), system=system)
    else:
        from jaft.errors import JaftError
        from jaft.eval.perplexity import perplexity

        if data is None:
            raise JaftError("--task perplexity needs --data TEXT_FILE")
        m, tok = load_trained(source)
        result |= perplexity(m, tok, data, limit=limit, console=console, encoding=encoding)
    return result
