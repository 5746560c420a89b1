"""Export tab: ``jaft export`` (merge → GGUF → quantize → verify → Ollama) with its report and files."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import gradio as gr

from jaft.errors import JaftError
from jaft.studio.commands import QUANTS, export_command
from jaft.studio.context import Studio, error_line, on_change, poll, progress_html, status_line
from jaft.studio.i18n import t
from jaft.studio.runs import export_summary

STAGES = ("merge", "gguf", "quantize", "verify", "ollama")


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    with gr.Row():
        run = gr.Textbox(label=t("export_run", lang), elem_id="export-run")
        out = gr.Textbox(label=t("export_out", lang), elem_id="export-out")
    with gr.Row():
        quants = gr.CheckboxGroup(list(QUANTS), value=["q4_k_m"], label=t("quant", lang), elem_id="export-quant")
        ollama = gr.Textbox(label=t("ollama_name", lang), elem_id="export-ollama",
                            info="ollama: " + (shutil.which("ollama") or "—"))
    go = gr.Button(t("run_export", lang), variant="primary", elem_id="export-go")
    command = gr.Code(label=t("command", lang), language="shell", interactive=False, elem_id="export-command")
    message = gr.Markdown(elem_id="export-message")
    status = gr.Markdown(elem_id="export-status")
    progress = gr.HTML()
    stages = gr.Dataframe(headers=["stage", "status", "seconds"], interactive=False, elem_id="export-stages")
    fidelity = gr.Dataframe(headers=["gguf", "top-1", "mean KL", "max KL", "tokenization identical"],
                            label=t("fidelity", lang), interactive=False, elem_id="export-fidelity")
    modelfile = gr.Code(label=t("modelfile", lang), interactive=False, elem_id="export-modelfile")
    files = gr.File(label=t("downloads", lang), file_count="multiple", interactive=False, elem_id="export-files")
    log = gr.Textbox(label=t("log", lang), lines=6, interactive=False, elem_classes="jaft-log")
    on_change(shared, [shared["run_dir"]], studio.rel, [shared["run_dir"]], [run])

    def start(run_v, out_v, quants_v, ollama_v):
        try:
            cmd = export_command(studio.jobs, run=run_v, out=out_v, quants=quants_v, ollama_name=ollama_v, lang=lang)
            studio.jobs.start(cmd.kind, cmd.argv, cmd.output)
        except JaftError as e:
            return error_line(e.message, lang), gr.update()
        return f"{t('started', lang)}: `{cmd.output}`", " ".join(cmd.argv)

    shown = gr.State("")  # per page: the job state whose files the download list holds (listed once)

    def refresh(shown_key: str):
        job = studio.jobs.latest("export")
        if job is None or not job.output:
            return t("no_job", lang), "", [], [], "", None, "", shown_key
        state = studio.jobs.status(job)
        s = export_summary(Path(job.output))
        done = len(s["stages"])
        bar = progress_html(done / len(STAGES), f"{done} / {len(STAGES)}") if state == "running" else (
            progress_html(1.0, t(state, lang)) if state == "finished" else "")
        key = f"{job.id}:{state}"
        files_update = gr.skip() if shown_key == key else (s["files"] if state != "running" else None)
        return (status_line(studio, job, lang), bar, s["stages"], s["fidelity"], s["modelfile"], files_update,
                studio.jobs.tail(job), key)

    go.click(start, [run, out, quants, ollama], [message, command])
    outputs = [status, progress, stages, fidelity, modelfile, files, log, shown]
    poll(2.0, refresh, outputs, shared, inputs=[shown])
