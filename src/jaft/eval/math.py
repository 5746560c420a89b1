"""Math evaluation (seed 004): batched generation, answer extraction with the reward's normalizer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jaft.fsutil import atomic_path


def load_problems(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Problems with gold answers from any format jaft reads (records with ``answer``)."""
    from jaft.data.records import Record
    from jaft.errors import JaftError

    p = Path(path)
    problems: list[dict[str, str]] = []
    if not p.is_file():
        raise JaftError(f"{p}: no such file; --data wants a JSONL of problems with answers")
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise JaftError(f"{p}:{n}: invalid JSON ({e.msg}); one JSON object per line") from None
        if "kind" in row:
            rec = Record.model_validate(row)
            prompt, answer = rec.prompt, rec.answer
        else:
            prompt = row.get("problem") or row.get("prompt") or row.get("question")
            answer = row.get("answer")
            if answer is None and isinstance(row.get("solution"), str):
                from jaft.japanese.answers import extract_answer

                answer = extract_answer(row["solution"])
        if not prompt or answer is None:
            raise JaftError(f"{p}:{n}: needs a problem (problem/prompt/question) and a gold answer (answer, or "
                            f"<answer>…</answer> in solution)")
        problems.append({"problem": str(prompt), "answer": str(answer)})
        if limit and len(problems) >= limit:
            break
    if not problems:
        raise JaftError(f"{p}: no problems in this file")
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
