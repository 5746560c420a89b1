"""Train tab: SFT / GRPO form → ``jaft train`` / ``jaft grpo`` in the background, live curves, stop, resume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.commands import METHODS, grpo_command, resume_command, train_command, train_form_from_argv
from jaft.studio.context import Studio, error_line, progress_html, stamp, status_line
from jaft.studio.i18n import t
from jaft.studio.runs import CURVE_COLORS, curves

KINDS = ("train", "grpo")


def _slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.rstrip("/")).name or "model").strip("-") or "model"


def applied_rows(run_dir: Path) -> list[list[Any]]:
    """``applied`` of a run's jaft_run.yaml: setting, value, source (config / registry / planner), why."""
    from jaft.rundir import RunDir

    try:
        applied = RunDir(run_dir).read_run_file().get("applied") or {}
    except JaftError:
        return []
    return [[k, str(v.get("value")), v.get("source", ""), v.get("why", "")] for k, v in applied.items()
            if isinstance(v, dict)]


def preview_applied(studio: Studio, model: str, method: str) -> list[list[Any]]:
    """What training would apply for this model on this machine, and where each value comes from.

    The same decision ``jaft train`` makes (:func:`jaft.train.strategy.resolve_training`), without
    loading the model.
    """
    from jaft.config import load_run_config
    from jaft.hardware import detect
    from jaft.selection import select_model
    from jaft.train.strategy import resolve_training

    local = studio.jobs.resolve(model)
    name_or_type = {"model.model_name": str(local)} if local.exists() else (
        {"model.model_type": model} if "/" not in model else {"model.model_name": model})
    cfg = load_run_config(None, overrides={**name_or_type, "train.method": None if method == "auto" else method})
    choice = select_model(cfg.model.model_type, cfg.model.model_name, False, interactive=False)
    res = resolve_training(cfg, choice, detect(str(studio.workdir)))
    return [[k, str(a.value), a.source, a.why] for k, a in res.applied.items()]


def _progress(run_dir: Path, points: list[dict[str, Any]], state: str, lang: str) -> str:
    """Fraction done from the last logged step against the run's max_steps (or epochs)."""
    from jaft.rundir import RunDir

    if state != "running":
        return progress_html(1.0, t(state, lang)) if state == "finished" else ""
    try:
        cfg = RunDir(run_dir).read_run_file().get("config") or {}
    except JaftError:
        return progress_html(None, t("running", lang))
    rows = RunDir(run_dir).read_metrics()
    if not rows:
        return progress_html(None, t("running", lang))
    last = rows[-1]
    grpo_steps = ((cfg.get("grpo") or {}).get("max_steps") or -1) if cfg.get("grpo") else -1
    max_steps = (cfg.get("train") or {}).get("max_steps") or -1
    steps = grpo_steps if "reward" in last and grpo_steps > 0 else max_steps
    if steps and steps > 0:
        return progress_html(last.get("step", 0) / steps, f"step {last.get('step', 0)} / {steps}")
    epochs = (cfg.get("train") or {}).get("epochs") or 0
    ep = last.get("epoch", 0) or 0
    return progress_html(ep / epochs if epochs else None, f"epoch {ep:.2f} / {epochs:g}")


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    from jaft.config.grpo import DEFAULT_SYSTEM_PROMPT

    stage = gr.Radio(["SFT", "GRPO"], value="SFT", label=t("stage", lang), elem_id="train-stage")
    with gr.Row():
        with gr.Column():
            model = shared["model"] = gr.Textbox(label=t("model", lang), elem_id="train-model")
            from_run = gr.Textbox(label=t("from_run", lang), elem_id="train-from-run", visible=False)
            data = gr.Textbox(value="data/prepared", label=t("data_dir", lang), elem_id="train-data")
            out = gr.Textbox(label=t("run_out", lang), elem_id="train-out")
            method = gr.Dropdown(list(METHODS), value="auto", label=t("method", lang), elem_id="train-method")
        with gr.Column():
            epochs = gr.Number(value=1, label=t("epochs", lang), elem_id="train-epochs")
            max_steps = gr.Number(value=-1, label=t("max_steps", lang), precision=0, elem_id="train-max-steps")
            lr = gr.Number(value=0, label=t("lr", lang), elem_id="train-lr")
            batch = gr.Number(value=0, label=t("batch", lang), precision=0, elem_id="train-batch")
            logging_steps = gr.Number(value=1, label=t("logging_steps", lang), precision=0,
                                      elem_id="train-logging-steps")
            num_gen = gr.Number(value=4, label=t("num_generations", lang), precision=0, visible=False)
            beta = gr.Number(value=0.04, label=t("beta", lang), visible=False)
    system = gr.Textbox(value=DEFAULT_SYSTEM_PROMPT, label=t("system_prompt", lang), lines=2, elem_id="train-system")
    if "data_out" in shared:
        shared["data_out"].change(lambda v: v, shared["data_out"], data)
    with gr.Row():
        preview_btn = gr.Button(t("preview", lang), elem_id="train-preview")
        start_btn = gr.Button(t("start", lang), variant="primary", elem_id="train-start")
        stop_btn = gr.Button(t("stop", lang), variant="stop", elem_id="train-stop")
        resume_btn = gr.Button(t("resume", lang), elem_id="train-resume")
    command = gr.Code(label=t("command", lang), language="shell", interactive=False, elem_id="train-command")
    message = gr.Markdown(elem_id="train-message")
    preview_table = gr.Dataframe(headers=["setting", "value", "source", "why"], label=t("preview", lang),
                                 interactive=False, wrap=True, visible=False, elem_id="train-preview-table")
    status = gr.Markdown(elem_id="train-status")
    progress = gr.HTML(elem_id="train-progress")
    plot = gr.LinePlot(x="step", y="value", color="series", color_map=CURVE_COLORS, label=t("curves", lang),
                       height=260, elem_id="train-plot")
    applied = gr.Dataframe(headers=["setting", "value", "source", "why"], label=t("applied", lang),
                           interactive=False, wrap=True, elem_id="train-applied")
    log = gr.Textbox(label=t("log", lang), lines=8, max_lines=16, interactive=False, elem_id="train-log",
                     elem_classes="jaft-log")
    run_dir = shared["run_dir"] = gr.Textbox(visible=False, elem_id="train-run-dir")

    form = [stage, model, from_run, data, out, method, epochs, max_steps, lr, batch, logging_steps, num_gen, beta,
            system]

    def make(stage_v, model_v, from_v, data_v, out_v, method_v, epochs_v, steps_v, lr_v, batch_v, every_v, gen_v,
             beta_v, system_v, *, fill_out: bool):
        if fill_out and not str(out_v or "").strip():
            base = _slug(str(from_v or "run")) if stage_v == "GRPO" else _slug(str(model_v or ""))
            out_v = f"runs/{base}-{'grpo' if stage_v == 'GRPO' else 'sft'}-{stamp()}"
        if stage_v == "GRPO":
            return grpo_command(studio.jobs, from_run=from_v, data=data_v, out=out_v, max_steps=steps_v,
                                num_generations=gen_v, lr=lr_v, beta=beta_v, logging_steps=every_v, lang=lang)
        return train_command(studio.jobs, model=model_v, data=data_v, out=out_v, method=method_v, epochs=epochs_v,
                             max_steps=steps_v, lr=lr_v, batch=batch_v, logging_steps=every_v,
                             system_prompt=system_v, lang=lang)

    def preview(*values):
        try:
            return " ".join(make(*values, fill_out=False).argv)
        except JaftError as e:
            return f"# {e.message}"

    def start(*values):
        try:
            cmd = make(*values, fill_out=True)
            studio.jobs.start(cmd.kind, cmd.argv, cmd.output)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        return f"{t('started', lang)}: `{cmd.output}`", " ".join(cmd.argv)

    def stop():
        job = studio.jobs.latest(*KINDS)
        if job is None or not studio.jobs.stop(job):
            return t("no_job", lang) if job is None else status_line(studio, job, lang)
        return f"{t('stopped', lang)}: `{job.id}`"

    def resume(out_v, run_v):
        target = str(out_v or "").strip() or studio.rel(run_v)
        try:
            cmd = resume_command(studio.jobs, target, lang)
            studio.jobs.start(cmd.kind, cmd.argv, cmd.output)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        return f"{t('started', lang)}: `{cmd.output}`", " ".join(cmd.argv)

    def do_preview(model_v, method_v):
        try:
            return gr.update(value=preview_applied(studio, str(model_v or "").strip(), method_v), visible=True), ""
        except JaftError as e:
            return gr.update(visible=False), error_line(e.message, lang)

    def refresh(seen: str):
        """Status, progress, curves, applied settings and log of the latest train/grpo job.

        The plot is sent only when there are new points (``seen`` is this page's last job:count), so a
        chart being looked at is not redrawn every tick.
        """
        job = studio.jobs.latest(*KINDS)
        if job is None or not job.output:
            return t("no_job", lang), "", gr.skip(), gr.skip(), "", "", seen
        path = Path(job.output)
        state = studio.jobs.status(job)
        pts = curves(path)
        key = f"{job.id}:{len(pts)}"
        if key != seen:
            import pandas as pd

            # No points yet: no chart (an empty frame would fix the chart's series to none).
            plot_update = pd.DataFrame(pts) if pts else None
        else:
            plot_update = gr.skip()
        line = f"{status_line(studio, job, lang)}\n\n`{job.command}`"
        return (line, _progress(path, pts, state, lang), plot_update, applied_rows(path), studio.jobs.tail(job),
                str(path), key)

    names = ["stage", "model", "from_run", "data", "out", "method", "epochs", "max_steps", "lr", "batch",
             "logging_steps", "num_generations", "beta", "system_prompt"]

    def restore():
        """A reopened page shows the settings of the run still going (the form itself lives in the page)."""
        job = studio.jobs.latest(*KINDS)
        if job is None or studio.jobs.status(job) != "running" or "--resume" in job.argv:
            return [gr.skip()] * len(names)
        values = train_form_from_argv(job.argv)
        if "model" in values:
            values["model"] = studio.rel(values["model"])
        return [values[n] if n in values else gr.skip() for n in names]

    def toggle(stage_v):
        grpo = stage_v == "GRPO"
        return (gr.update(visible=not grpo), gr.update(visible=grpo), gr.update(visible=grpo),
                gr.update(visible=grpo), gr.update(visible=not grpo), gr.update(visible=not grpo))

    stage.change(toggle, stage, [model, from_run, num_gen, beta, epochs, method])
    gr.on([c.change for c in form], preview, inputs=form, outputs=command)
    start_btn.click(start, inputs=form, outputs=[message, command])
    stop_btn.click(stop, outputs=message)
    resume_btn.click(resume, inputs=[out, run_dir], outputs=[message, command])
    preview_btn.click(do_preview, inputs=[model, method], outputs=[preview_table, message])
    seen = gr.State("")
    outputs = [status, progress, plot, applied, log, run_dir, seen]
    gr.Timer(1.5).tick(refresh, inputs=seen, outputs=outputs)
    shared["load"].append((refresh, outputs, [seen]))
    shared["load"].append((restore, form))
    shared["load"].append((preview, [command], form))
