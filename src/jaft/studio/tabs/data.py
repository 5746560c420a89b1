"""Data tab: files or bundled samples → ``jaft data prepare`` → report, rejects and variants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.commands import MODES, prepare_command
from jaft.studio.context import Studio, error_line, on_change, poll, progress_html, status_line
from jaft.studio.i18n import t
from jaft.studio.runs import prepare_report

SAMPLES = ("text", "chat", "qa", "summarization", "math_train")


def prepare_progress(out: str | None, lang: str) -> str:
    """The bar of a running prepare: its stage, that stage's finished tasks and the whole run's share done,
    read from the run's work directory by :func:`jaft.data.parallel.progress` (indeterminate until the
    run has recorded its stages)."""
    from jaft.data.parallel import progress

    p = progress(out) if out else {}
    if not p:
        return progress_html(None, t("running", lang))
    label = (f"{p['index']}/{p['count']} {p['stage']}: {p['done']}/{p['tasks']} {t('tasks', lang)} — "
             f"{p['fraction'] * 100:.0f}%")
    return progress_html(p["fraction"], label)


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    with gr.Row():
        with gr.Column(scale=2):
            inputs = gr.Textbox(label=t("inputs", lang), lines=2, elem_id="data-inputs")
            samples = gr.CheckboxGroup(list(SAMPLES), label=t("samples", lang), elem_id="data-samples")
            mode = gr.Radio(list(MODES), value="trial", label=t("mode", lang), elem_id="data-mode")
        with gr.Column(scale=1):
            out = gr.Textbox(value="data/prepared", label=t("data_out", lang), elem_id="data-out")
            augment = gr.Number(value=1, label=t("augment", lang), precision=0, elem_id="data-augment")
            val_ratio = gr.Number(value=0.05, label=t("val_ratio", lang), elem_id="data-val-ratio")
            seed = gr.Number(value=0, label=t("seed", lang), precision=0, elem_id="data-seed")
    run = gr.Button(t("run_prepare", lang), variant="primary", elem_id="data-run")
    command = gr.Code(label=t("command", lang), language="shell", interactive=False, elem_id="data-command")
    message = gr.Markdown(elem_id="data-message")
    status = gr.Markdown(elem_id="data-status")
    progress = gr.HTML(elem_id="data-progress")
    with gr.Row():
        counts = gr.Dataframe(headers=["", "n"], label=t("report", lang), interactive=False, elem_id="data-counts")
        reasons = gr.Dataframe(headers=["reason", "n"], label=t("by_reason", lang), interactive=False)
    rejects = gr.Dataframe(headers=["source", "reason", "stage", "message"], label=t("rejects", lang),
                           interactive=False, wrap=True)
    variants = gr.Dataframe(headers=["variant", "text", "variant_of"], label=t("variants", lang),
                            interactive=False, wrap=True)
    log = gr.Textbox(label=t("log", lang), lines=6, max_lines=12, interactive=False, elem_id="data-log",
                     elem_classes="jaft-log")
    shared["data_out"] = out

    form = [inputs, samples, mode, out, augment, val_ratio, seed]

    def make(inputs_v, samples_v, mode_v, out_v, aug_v, ratio_v, seed_v):
        return prepare_command(studio.jobs, inputs=inputs_v, samples=samples_v, mode=mode_v, out=out_v,
                               augment=aug_v, val_ratio=ratio_v, seed=seed_v, lang=lang)

    def preview(*values):
        try:
            return " ".join(make(*values).argv)
        except JaftError as e:
            return f"# {e.message}"

    def start(*values):
        try:
            cmd = make(*values)
            studio.jobs.start(cmd.kind, cmd.argv, cmd.output)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        return f"{t('started', lang)}: `{cmd.output}`", " ".join(cmd.argv)

    def refresh():
        job = studio.jobs.latest("prepare")
        if job is None:
            return t("no_job", lang), "", [], [], [], [], ""
        state = studio.jobs.status(job)
        rep = prepare_report(Path(job.output)) if state == "finished" and job.output else {}
        bar = prepare_progress(job.output, lang) if state == "running" else (
            progress_html(1.0, t(state, lang)) if state == "finished" else "")
        return (status_line(studio, job, lang), bar, rep.get("counts", []), rep.get("reasons", []),
                rep.get("rejects", []), rep.get("variants", []), studio.jobs.tail(job))

    on_change(shared, form, preview, form, [command])
    run.click(start, inputs=form, outputs=[message, command])
    outputs = [status, progress, counts, reasons, rejects, variants, log]
    poll(1.0, refresh, outputs, shared)
    shared["load"].append((preview, [command], form))
