"""Model tab: the registry, ``doctor``, the planner's recommendation, and the model to train."""

from __future__ import annotations

from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.commands import METHODS, init_tiny_command
from jaft.studio.context import Studio, error_line, status_line
from jaft.studio.i18n import t

REGISTRY_COLUMNS = ["key", "model_name", "B", "template", "batch", "accum", "lr", "lora r", "alpha", "GB"]


def registry_rows(lang: str) -> list[list[Any]]:
    from jaft.registry import load_registry

    return [[m.key, m.model_name, m.parameters_b, m.chat_template, m.recommended_batch_size,
             m.recommended_gradient_accumulation, m.recommended_learning_rate, m.recommended_lora_r,
             m.recommended_lora_alpha, m.memory_requirements_gb] for m in load_registry().models]


def doctor_rows(studio: Studio) -> tuple[str, list[list[Any]]]:
    """What ``jaft doctor`` reports: a hardware line and one row per component check."""
    from jaft.hardware import component_checks, detect

    hw = detect(str(studio.workdir))
    gpus = ", ".join(f"{g.name} {g.total_gb:.0f} GB" for g in hw.gpus) or "—"
    line = (f"**backend** {hw.backend} {hw.backend_version} · torch {hw.torch_version or '—'} · GPU {gpus} · "
            f"RAM {hw.ram_available_gb:.1f}/{hw.ram_total_gb:.1f} GB · disk {hw.disk_free_gb:.1f} GB free · "
            f"CPUs {hw.cpu_count}")
    return line, [[c.name, "ok" if c.ok else "missing", c.detail, c.fix] for c in component_checks(hw)]


def plan_markdown(studio: Studio, model: str, method: str) -> str:
    """The planner's recommendation (``jaft plan``) for ``model`` on this machine."""
    from jaft.hardware import detect
    from jaft.planner import plan_training
    from jaft.registry import load_registry
    from jaft.selection import resolve_model_name

    reg = load_registry()
    local = studio.jobs.resolve(model)
    entry = reg.get(model) if model in [m.key for m in reg.models] else resolve_model_name(str(local) if local.exists() else model)
    plan = plan_training(entry, detect(str(studio.workdir)), method=None if method == "auto" else method)  # type: ignore[arg-type]
    e = plan.estimate
    lines = [
        f"**{entry.model_name}** ({entry.parameters_b:g}B): **{plan.method}** ({plan.load_in}, {plan.precision}), "
        f"batch {plan.batch_size} × {plan.gradient_accumulation}, seq {plan.seq_len}"
        + ("" if plan.fits else " — **does not fit**"),
        f"estimate {e.total_gb:.2f} GB of {plan.budget_gb:.1f} GB; trainable parameters {e.trainable_parameters:,}",
        *[f"- why: {r}" for r in plan.reasons],
        *[f"- warning: {w}" for w in plan.warnings],
    ]
    return "\n".join(lines)


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    gr.Dataframe(value=registry_rows(lang), headers=REGISTRY_COLUMNS, label=t("registry", lang),
                 interactive=False, elem_id="model-registry")
    with gr.Row():
        from jaft.registry import load_registry

        choice = gr.Dropdown(load_registry().keys(), value=None, allow_custom_value=True, label=t("model", lang),
                             elem_id="model-choice", scale=3)
        method = gr.Dropdown(list(METHODS), value="auto", label=t("method", lang), scale=1)
    with gr.Row():
        plan_btn = gr.Button(t("run_plan", lang), elem_id="model-plan")
        use_btn = gr.Button(t("use_model", lang), variant="primary", elem_id="model-use")
        doctor_btn = gr.Button(t("run_doctor", lang), elem_id="model-doctor")
    plan = gr.Markdown(label=t("plan", lang), elem_id="model-plan-out")
    hw_line = gr.Markdown(elem_id="model-doctor-line")
    checks = gr.Dataframe(headers=["component", "status", "detail", "fix"], label=t("doctor", lang),
                          interactive=False, wrap=True, elem_id="model-doctor-table")
    with gr.Accordion(t("make_tiny", lang), open=False):
        with gr.Row():
            tiny_out = gr.Textbox(value="models/tiny", label=t("tiny_out", lang), elem_id="model-tiny-out")
            tiny_btn = gr.Button(t("make_tiny", lang), elem_id="model-tiny")
        tiny_status = gr.Markdown(elem_id="model-tiny-status")

    def do_plan(model: str, method_v: str):
        model = str(model or "").strip()
        if not model:
            return error_line(t("model", lang), lang)
        try:
            return plan_markdown(studio, model, method_v)
        except JaftError as e:
            return error_line(e.message, lang)

    def do_doctor():
        return doctor_rows(studio)

    def do_tiny(out: str):
        try:
            cmd = init_tiny_command(studio.jobs, out, lang)
            job = studio.jobs.start(cmd.kind, cmd.argv, cmd.output)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        studio.jobs.wait(job, 120)  # a few seconds: the model is the next step's input
        return f"{status_line(studio, job, lang)}\n\n`{' '.join(cmd.argv)}`", str(out).strip()

    plan_btn.click(do_plan, [choice, method], plan)
    doctor_btn.click(do_doctor, outputs=[hw_line, checks])
    # The Train tab is laid out later: wire into its model field once it exists.
    shared["after"].append(lambda: use_btn.click(lambda m: str(m or "").strip(), choice, shared["model"]))
    tiny_btn.click(do_tiny, tiny_out, [tiny_status, choice])
