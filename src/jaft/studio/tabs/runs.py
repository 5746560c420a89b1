"""Runs tab: every run directory under the working directory, from the UI or the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from jaft.studio.context import Studio
from jaft.studio.i18n import t
from jaft.studio.runs import CURVE_COLORS, curves, runs_table

COLUMNS = ["path", "stage", "status", "created", "model", "last metrics"]


def build(studio: Studio, lang: str, shared: dict[str, Any]) -> None:
    refresh_btn = gr.Button(t("refresh", lang), elem_id="runs-refresh")
    table = gr.Dataframe(headers=COLUMNS, label=t("runs", lang), interactive=False, wrap=True, elem_id="runs-table")
    pick = gr.Dropdown([], label=t("run_detail", lang), allow_custom_value=True, elem_id="runs-pick")
    plot = gr.LinePlot(x="step", y="value", color="series", color_map=CURVE_COLORS, label=t("curves", lang),
                       height=220)
    record = gr.Code(label="jaft_run.yaml", language="yaml", interactive=False)
    report = gr.Markdown(elem_id="runs-report")

    def refresh():
        rows = runs_table(studio.workdir, studio.jobs)
        return rows, gr.update(choices=[r[0] for r in rows])

    def detail(path: str):
        import pandas as pd

        if not path:
            return None, "", ""
        p = studio.jobs.resolve(path)
        pts = curves(p)
        run_file, rep = p / "jaft_run.yaml", p / "report.md"
        text = run_file.read_text(encoding="utf-8") if run_file.is_file() else ""
        md = rep.read_text(encoding="utf-8") if rep.is_file() else _data_report(p)
        return (pd.DataFrame(pts) if pts else None), text, md

    refresh_btn.click(refresh, outputs=[table, pick])
    pick.change(detail, pick, [plot, record, report])
    shared["load"].append((refresh, [table, pick]))


def _data_report(p: Path) -> str:
    """A prepared data dir has report.json, not report.md: show its counts."""
    from jaft.studio.runs import prepare_report

    rep = prepare_report(p)
    if not rep:
        return ""
    return "\n".join(f"- {k}: {v}" for k, v in rep["counts"]) + (
        "\n" + "\n".join(f"- {k}: {v}" for k, v in rep["reasons"]) if rep["reasons"] else "")
