"""Eval tab: ``jaft eval --task math`` on the model before and after training, side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.commands import eval_command
from jaft.studio.context import Studio, error_line, on_change, poll, status_line
from jaft.studio.i18n import t
from jaft.studio.jobs import Job

METRICS = ("accuracy", "format_rate", "language_consistency", "n")


def _result(studio: Studio, job: Job | None) -> dict[str, Any]:
    """The JSON ``jaft eval --json`` printed (empty until the job has finished)."""
    if job is None or studio.jobs.status(job) != "finished":
        return {}
    try:
        return json.loads(studio.jobs.stdout(job))
    except ValueError:
        return {}


def _predictions(result: dict[str, Any]) -> list[dict[str, Any]]:
    from jaft.studio.runs import sample_jsonl

    path = result.get("predictions")
    return sample_jsonl(Path(path), 50) if path else []


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    with gr.Row():
        before = gr.Textbox(label=t("eval_before", lang), elem_id="eval-before")
        after = gr.Textbox(label=t("eval_after", lang), elem_id="eval-after")
    with gr.Row():
        limit = gr.Number(value=20, label=t("limit", lang), precision=0, elem_id="eval-limit")
        tokens = gr.Number(value=64, label=t("max_new_tokens", lang), precision=0, elem_id="eval-tokens")
    run = gr.Button(t("run_eval", lang), variant="primary", elem_id="eval-run")
    command = gr.Code(label=t("command", lang), language="shell", interactive=False, elem_id="eval-command")
    message = gr.Markdown(elem_id="eval-message")
    status = gr.Markdown(elem_id="eval-status")
    table = gr.Dataframe(headers=["metric", "before", "after"], label=t("eval_table", lang), interactive=False,
                         elem_id="eval-table")
    side = gr.Dataframe(headers=["problem", "gold", "before", "after"], label=t("generations", lang),
                        interactive=False, wrap=True, elem_id="eval-side")
    log = gr.Textbox(label=t("log", lang), lines=6, interactive=False, elem_classes="jaft-log")
    on_change(shared, [shared["model"]], lambda v: v, [shared["model"]], [before])
    on_change(shared, [shared["run_dir"]], studio.rel, [shared["run_dir"]], [after])
    # The two jobs of the latest comparison (ids), kept server-side so a reloaded page finds them.
    current: dict[str, str | None] = {"before": None, "after": None}

    def start(before_v, after_v, limit_v, tokens_v):
        pred_dir = studio.jobs.dir.parent / "eval"
        pred_dir.mkdir(parents=True, exist_ok=True)
        cmds = []
        try:
            for label, model in (("before", before_v), ("after", after_v)):
                if label == "before" and not str(model or "").strip():
                    continue  # "after" alone is a plain evaluation
                out = str(pred_dir / f"{label}-{Path(str(model).rstrip('/')).name}.jsonl")
                cmds.append((label, eval_command(studio.jobs, model=model, limit=limit_v, max_new_tokens=tokens_v,
                                                 out=out, lang=lang)))
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        current["before"] = None
        for label, cmd in cmds:
            current[label] = studio.jobs.start(cmd.kind, cmd.argv).id
        return t("started", lang), "\n".join(" ".join(c.argv) for _, c in cmds)

    def refresh():
        jobs = {k: studio.jobs.get(v) if v else None for k, v in current.items()}
        if not any(jobs.values()):
            return t("no_job", lang), [], [], ""
        res = {k: _result(studio, j) for k, j in jobs.items()}
        rows = [[m, res["before"].get(m), res["after"].get(m)] for m in METRICS]
        preds = {k: _predictions(r) for k, r in res.items()}
        by_problem = {p["problem"]: p for p in preds["before"]}
        side_rows = [[p["problem"], p["gold"], (by_problem.get(p["problem"]) or {}).get("completion", ""),
                      p["completion"]] for p in preds["after"]]
        lines = [f"{k}: {status_line(studio, j, lang)}" for k, j in jobs.items() if j is not None]
        tail = "\n".join(studio.jobs.tail(j, 8) for j in jobs.values() if j is not None)
        return "\n\n".join(lines), rows, side_rows, tail

    run.click(start, [before, after, limit, tokens], [message, command])
    outputs = [status, table, side, log]
    poll(2.0, refresh, outputs, shared)
