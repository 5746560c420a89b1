"""Math evaluation (seed 004): batched generation, answer extraction with the reward's normalizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaft.fsutil import atomic_path


def load_problems(path: str | Path, limit: int | None = None, *, encoding: str | None = None) -> list[dict[str, str]]:
    """Problems with gold answers (``[{"problem", "answer", "answer_rule"}]``), read by the one reader
    (:mod:`jaft.data.reader`: encoding decided or ``encoding``, BOM, real line ends) from JSONL, JSON,
    CSV or Parquet: prepared records, or raw ``problem``/``prompt``/``question`` records whose gold
    answer is an ``answer`` field, ``<answer>…</answer>``, a GSM8K ``#### N`` line or a MATH
    ``\\boxed{…}`` (:func:`jaft.data.formats.problem_answer`). Bad input raises ``JaftError`` with
    ``path:line``."""
    from jaft.data.formats import BadRecord, problem_answer
    from jaft.data.reader import read_items
    from jaft.errors import JaftError

    problems: list[dict[str, str]] = []
    for item in read_items(path, encoding=encoding, what="problems with answers (JSONL)"):
        if not isinstance(item.value, dict):
            raise JaftError(f"{item.source}: not a JSON object; --data wants problems with answers (JSONL)")
        try:
            problem, answer, rule = problem_answer(item.value)
        except BadRecord as e:
            raise JaftError(f"{item.source}: {e.message}") from None
        problems.append({"problem": problem, "answer": answer, "answer_rule": rule})
        if limit and len(problems) >= limit:
            break
    if not problems:
        raise JaftError(f"{path}: no problems in this file")
    return problems


def evaluate_math(
    backend: Any,
    problems: list[dict[str, str]],
    *,
    system_prompt: str | None,
    batch_size: int = 8,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    predictions_file: str | Path | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """Accuracy, format rate and language consistency over ``problems``; every prediction to JSONL.

    ``backend``: ``prompt(user, system) -> str`` and ``generate(prompts, max_new_tokens, temperature)``:
    :class:`jaft.models.generate.HFBackend` (transformers) or ``jaft.export.gguf_chat.GgufBackend``
    (llama.cpp with the deployed template), so both are scored by the same code.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from jaft.japanese.answers import extract_answer
    from jaft.rewards import accuracy_reward, format_reward, language_consistency_reward

    rows: list[dict[str, Any]] = []
    correct = formatted = 0
    lang_total = 0.0
    with Progress(TextColumn("[bold]math eval"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[acc]}"),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task("eval", total=len(problems), acc="")
        for start in range(0, len(problems), batch_size):
            batch = problems[start:start + batch_size]
            prompts = [backend.prompt(p["problem"], system_prompt) for p in batch]
            outs = backend.generate(prompts, max_new_tokens, temperature)
            answers = [p["answer"] for p in batch]
            acc = accuracy_reward(outs, answer=answers, prompts=prompts)
            fmt = format_reward(outs, prompts=prompts)
            lang = language_consistency_reward(outs, prompts=prompts)
            for p, o, a, f, lc in zip(batch, outs, acc, fmt, lang, strict=True):
                rows.append({"problem": p["problem"], "gold": p["answer"], "completion": o,
                             "extracted": extract_answer(o), "correct": bool(a), "format_ok": bool(f),
                             "language_consistency": lc})
            correct += int(sum(acc))
            formatted += int(sum(fmt))
            lang_total += sum(lang)
            done = len(rows)
            progress.update(task, completed=done, acc=f"accuracy {correct / done:.1%}  format {formatted / done:.1%}")
    n = len(rows)
    result = {"n": n, "accuracy": correct / n, "format_rate": formatted / n, "language_consistency": lang_total / n}
    if predictions_file:
        with atomic_path(predictions_file) as tmp:
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        result["predictions"] = str(predictions_file)
    return result
