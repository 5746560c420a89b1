"""Train tab: SFT / GRPO form → ``jaft train`` / ``jaft grpo`` in the background, live curves, stop, resume."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio import strategy
from jaft.studio.commands import METHODS, grpo_command, resume_command, train_command, train_form_from_argv
from jaft.studio.context import Studio, error_line, on_change, poll, progress_html, stamp, status_line
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


def preview_applied(studio: Studio, model: str, method: str, changes: dict[str, Any] | None = None) -> list[list[Any]]:
    """What training would apply for this model on this machine, and where each value comes from.

    The same decision ``jaft train`` makes (:func:`jaft.train.strategy.resolve_training`), without
    loading the model; ``changes`` are the strategy fields the user changed (form field → value).
    """
    changes = {**(changes or {}), **({"method": method} if method and method != "auto" else {})}
    config = {strategy.FIELDS[f][0]: strategy.config_value(f, v) for f, v in changes.items()}
    applied = strategy.resolve_applied(studio.jobs, str(studio.workdir), model, config)
    return [[k, str(a.value), a.source, a.why] for k, a in applied.items()]


def source_info(source: str, why: str, lang: str) -> str:
    """The line under a prefilled field: where its value comes from (as jaft_run.yaml's ``applied``)."""
    why = why if len(why) <= 90 else why[:89] + "…"
    return f"{t('source', lang)}: {source}" + (f" — {why}" if why else "")


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
    from jaft.config import load_run_config
    from jaft.config.grpo import DEFAULT_SYSTEM_PROMPT

    grpo_default_lr = load_run_config(None).grpo.learning_rate

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
            grpo_lr = gr.Number(value=grpo_default_lr, label=t("lr", lang), visible=False, elem_id="train-grpo-lr",
                                info=source_info("config", "grpo.learning_rate", lang))
            batch = gr.Number(value=0, label=t("batch", lang), precision=0, elem_id="train-batch")
            logging_steps = gr.Number(value=1, label=t("logging_steps", lang), precision=0,
                                      elem_id="train-logging-steps")
            num_gen = gr.Number(value=4, label=t("num_generations", lang), precision=0, visible=False)
            beta = gr.Number(value=0.04, label=t("beta", lang), visible=False)
    with gr.Row() as strategy_row:
        grad_accum = gr.Number(value=0, label=t("grad_accum", lang), precision=0, elem_id="train-grad-accum")
        lora_r = gr.Number(value=0, label=t("lora_r", lang), precision=0, elem_id="train-lora-r")
        lora_alpha = gr.Number(value=0, label=t("lora_alpha", lang), precision=0, elem_id="train-lora-alpha")
        max_seq = gr.Number(value=0, label=t("max_seq_length", lang), precision=0, elem_id="train-max-seq")
    strategy_note = gr.Markdown(t("strategy_note", lang), elem_id="train-strategy-note")
    baseline = gr.State({})  # strategy field → the strategy's value for it (see jaft.studio.strategy)
    system = gr.Textbox(value=DEFAULT_SYSTEM_PROMPT, label=t("system_prompt", lang), lines=2, elem_id="train-system")
    if "data_out" in shared:
        on_change(shared, [shared["data_out"]], lambda v: v, [shared["data_out"]], [data])
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
            system, grpo_lr, grad_accum, lora_r, lora_alpha, max_seq]
    names = ["stage", "model", "from_run", "data", "out", "method", "epochs", "max_steps", "lr", "batch",
             "logging_steps", "num_generations", "beta", "system_prompt", "grpo_lr", "grad_accum", "lora_r",
             "lora_alpha", "max_seq_length"]
    strat = [method, lr, batch, grad_accum, lora_r, lora_alpha, max_seq]  # in strategy.FIELDS order

    def make(*values, baseline_v: dict[str, Any], fill_out: bool):
        v = dict(zip(names, values, strict=True))
        if fill_out and not str(v["out"] or "").strip():
            base = _slug(str(v["from_run"] or "run")) if v["stage"] == "GRPO" else _slug(str(v["model"] or ""))
            v["out"] = f"runs/{base}-{'grpo' if v['stage'] == 'GRPO' else 'sft'}-{stamp()}"
        if v["stage"] == "GRPO":
            # The grpo section's learning rate unless the user changed it.
            rate = v["grpo_lr"] if not strategy.same(v["grpo_lr"], grpo_default_lr) else 0
            return grpo_command(studio.jobs, from_run=v["from_run"], data=v["data"], out=v["out"],
                                max_steps=v["max_steps"], num_generations=v["num_generations"], lr=rate,
                                beta=v["beta"], logging_steps=v["logging_steps"], lang=lang)
        # Only what the user changed from the strategy's prefilled values: the CLI line stays the same.
        v = strategy.overrides_only(v, baseline_v or {})
        return train_command(studio.jobs, model=v["model"], data=v["data"], out=v["out"], method=v["method"],
                             epochs=v["epochs"], max_steps=v["max_steps"], lr=v["lr"], batch=v["batch"],
                             logging_steps=v["logging_steps"], system_prompt=v["system_prompt"],
                             grad_accum=v["grad_accum"], lora_r=v["lora_r"], lora_alpha=v["lora_alpha"],
                             max_seq_length=v["max_seq_length"], lang=lang)

    def preview(*values):
        try:
            return " ".join(make(*values[:-1], baseline_v=values[-1], fill_out=False).argv)
        except JaftError as e:
            return f"# {e.message}"

    def start(*values):
        try:
            cmd = make(*values[:-1], baseline_v=values[-1], fill_out=True)
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

    def do_preview(model_v, baseline_v, *strat_v):
        changes = strategy.user_changes(dict(zip(strategy.FIELDS, strat_v, strict=True)), baseline_v or {})
        try:
            rows = preview_applied(studio, str(model_v or "").strip(), changes.pop("method", "auto"), changes)
            return gr.update(value=rows, visible=True), ""
        except JaftError as e:
            return gr.update(visible=False), error_line(e.message, lang)

    def do_prefill(model_v, baseline_v, *strat_v, fetch_hub: bool):
        """The strategy's values into the fields the user has not changed, each with its source."""
        values = dict(zip(strategy.FIELDS, strat_v, strict=True))
        try:
            shown, base, sources = strategy.prefill(studio.jobs, str(studio.workdir), model_v, values,
                                                    baseline_v or {}, fetch_hub=fetch_hub)
        except JaftError:  # no model yet, or one being typed: the fields stay as they are
            return [gr.skip()] * (len(strat) + 1)
        # A value is sent only where it changes, so a field being typed in is not overwritten.
        ups = [gr.update(info=source_info(*sources[f], lang)) if strategy.same(shown[f], values[f]) else
               gr.update(value=shown[f], info=source_info(*sources[f], lang)) for f in strategy.FIELDS]
        return [*ups, base]

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

    def restore():
        """A reopened page shows the settings of the run still going (the form itself lives in the page)."""
        job = studio.jobs.latest(*KINDS)
        if job is None or studio.jobs.status(job) != "running" or "--resume" in job.argv:
            return [gr.skip()] * len(names)
        values = train_form_from_argv(job.argv)
        if values["stage"] == "GRPO" and "lr" in values:
            values["grpo_lr"] = values.pop("lr")
        if "model" in values:
            values["model"] = studio.rel(values["model"])
        return [values[n] if n in values else gr.skip() for n in names]

    def toggle(stage_v):
        grpo = stage_v == "GRPO"
        sft = [model, epochs, method, lr, batch, strategy_row, strategy_note]
        return [gr.update(visible=grpo)] * 4 + [gr.update(visible=not grpo)] * len(sft)

    on_change(shared, [stage], toggle, [stage], [from_run, num_gen, beta, grpo_lr, model, epochs, method, lr, batch,
                                                 strategy_row, strategy_note])
    prefill_in, prefill_out = [model, baseline, *strat], [*strat, baseline]
    on_change(shared, [model], lambda *v: do_prefill(*v, fetch_hub=False), prefill_in, prefill_out)
    # Numbers are read when the user leaves the field (blur / Enter), not per keystroke.
    gr.on([model.blur, model.submit, method.input, *[e for c in strat[1:] for e in (c.blur, c.submit)]],
          lambda *v: do_prefill(*v, fetch_hub=True), prefill_in, prefill_out)
    on_change(shared, [*form, baseline], preview, [*form, baseline], [command])
    start_btn.click(start, inputs=[*form, baseline], outputs=[message, command])
    stop_btn.click(stop, outputs=message)
    resume_btn.click(resume, inputs=[out, run_dir], outputs=[message, command])
    preview_btn.click(do_preview, inputs=[model, baseline, *strat], outputs=[preview_table, message])
    seen = gr.State("")
    outputs = [status, progress, plot, applied, log, run_dir, seen]
    poll(1.5, refresh, outputs, shared, inputs=[seen])
    shared["load"].append((restore, form))
    shared["load"].append((preview, [command], [*form, baseline]))
