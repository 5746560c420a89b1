"""CLI glue for ``jaft export``: options + config file → :class:`ExportRequest`, then a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaft.errors import JaftError


def build_request(
    *, run: str | None, model: str | None, adapter: str | None, out: str | None, quant: str | None = None,
    ollama_name: str | None = None, verify: bool | None = None, merge_dtype: str | None = None,
    offload_folder: str | None = None, pre: str | None = None, threads: int | None = None,
    min_top1: float | None = None, config: str | None = None, sets: list[str] | None = None,
):
    from jaft.config import load_run_config
    from jaft.export.pipeline import ExportRequest

    overrides: dict[str, Any] = {
        "export.quant": [q.strip().lower() for q in quant.split(",") if q.strip()] if quant else None,
        "export.ollama_name": ollama_name, "export.verify": verify, "export.merge_dtype": merge_dtype,
        "export.offload_folder": offload_folder, "export.pre_tokenizer": pre, "export.threads": threads,
        "export.min_top1_agreement": min_top1,
    }
    cfg = load_run_config(config, overrides=overrides, sets=sets).export
    if out is None:
        if not run:
            raise JaftError("--out is required with --model (with --run it defaults to RUN_DIR/export)")
        out = str(Path(run) / "export")
    return ExportRequest(
        out=Path(out).expanduser(), run=run, model=model, adapter=adapter, quants=list(cfg.quant),
        ollama_name=cfg.ollama_name, verify=cfg.verify, merge_dtype=cfg.merge_dtype,
        min_top1=cfg.min_top1_agreement, offload_folder=cfg.offload_folder, pre=cfg.pre_tokenizer,
        threads=cfg.threads,
    )


def run_cli(target: str, **options: Any) -> dict[str, Any]:
    from jaft.export.pipeline import REPORT, Display, run_export

    req = build_request(**options)
    ui = Display()
    report = run_export(req, target, ui)
    stages = report.get("stages", {})
    v = stages.get("verify") if target in ("all", "verify") else None
    if v and v.get("files"):
        figures = ", ".join(f"{k} {f['top1_agreement']:.1%} top-1 / KL {f['mean_kl']:.1e}" for k, f in v["files"].items())
        ui.log(f"verified: {figures}; tokenization identical: {v['tokenization']['identical']}")
    ui.log(f"done in {report.get('seconds', 0):.1f} s → {req.out} (report: {req.out / REPORT})")
    return report
