"""Read what the stages wrote: run directories, their status, metrics curves and reports.

Everything here reads files the CLI writes (``jaft_run.yaml``, ``metrics.jsonl``, ``report.json``,
``export_report.json``, ``rejects.jsonl``, ``train.jsonl``), so a run started from a terminal shows
up exactly like one started from the UI.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from jaft.rundir import RUN_FILE, RunDir
from jaft.studio.jobs import JobManager

# Folders never searched for runs: environments, caches, and the insides of a run.
SKIP = {".git", ".venv", "venv", "node_modules", "__pycache__", "checkpoints", "adapter", "model", "merged",
        ".jaft-studio", "site-packages"}
MAX_DEPTH = 4
# metrics.jsonl keys drawn as curves (TRL logs reward and the annealed temperature under these names).
CURVES = ("loss", "eval_loss", "reward", "temperature")
# Fixed colours: the chart's series are known before the first point arrives.
CURVE_COLORS = {"loss": "#1f77b4", "eval_loss": "#9467bd", "reward": "#2ca02c", "temperature": "#ff7f0e"}


def find_runs(root: str | os.PathLike[str], max_depth: int = MAX_DEPTH) -> list[Path]:
    """Directories under ``root`` holding ``jaft_run.yaml`` (data, sft, grpo, export), newest first."""
    root = Path(root)
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            entries = list(os.scandir(d))
        except OSError:
            return
        if any(e.name == RUN_FILE and e.is_file() for e in entries):
            found.append(d)
        if depth >= max_depth:
            return
        for e in entries:
            if e.is_dir(follow_symlinks=False) and e.name not in SKIP and not e.name.startswith("."):
                walk(Path(e.path), depth + 1)

    walk(root, 0)
    return sorted(found, key=lambda p: (p / RUN_FILE).stat().st_mtime, reverse=True)


def run_status(path: Path, record: dict[str, Any], jobs: JobManager | None = None) -> str:
    """running (a job writes it) | finished (its final output is there) | incomplete."""
    if jobs is not None and jobs.busy(path) is not None:
        return "running"
    stage = record.get("stage")
    done = {"data": "report.json", "export": "export_report.json"}.get(str(stage))
    if done:
        return "finished" if (path / done).is_file() else "incomplete"
    if stage in ("sft", "grpo"):
        return "finished" if ((path / "adapter" / "adapter_config.json").is_file()
                              or (path / "model" / "config.json").is_file()) else "incomplete"
    return "finished"


def runs_table(root: str | os.PathLike[str], jobs: JobManager | None = None) -> list[list[Any]]:
    """One row per run: path (relative to ``root``), stage, status, created, model, last metrics."""
    rows = []
    root = Path(root)
    for p in find_runs(root):
        try:
            rec = RunDir(p).read_run_file()
        except Exception:  # a half-written record must not hide the other runs
            rec = {}
        model = ((rec.get("config") or {}).get("model") or {})
        name = model.get("model_name") or model.get("model_type") or ""
        last = last_metrics(p)
        summary = ", ".join(f"{k} {last[k]:.4g}" for k in CURVES if isinstance(last.get(k), (int, float)))
        rows.append([str(p.relative_to(root)) if p.is_relative_to(root) else str(p), rec.get("stage", "?"),
                     run_status(p, rec, jobs), rec.get("created", ""), Path(str(name)).name if name else "",
                     (f"step {last['step']}: " if "step" in last else "") + summary])
    return rows


def last_metrics(path: Path) -> dict[str, Any]:
    """The newest value of each metric in ``metrics.jsonl`` (empty when there is none)."""
    merged: dict[str, Any] = {}
    for row in RunDir(path).read_metrics():
        merged.update({k: v for k, v in row.items() if v is not None})
    return merged


def curves(path: str | os.PathLike[str] | None) -> list[dict[str, Any]]:
    """Long-format points ``{"step", "value", "series"}`` for loss, eval loss, reward and temperature."""
    if not path:
        return []
    points = []
    for row in RunDir(path).read_metrics():
        step = row.get("step")
        for key in CURVES:
            v = row.get(key)
            if isinstance(step, (int, float)) and isinstance(v, (int, float)):
                points.append({"step": step, "value": float(v), "series": key})
    return points


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sample_jsonl(path: Path, n: int = 20, where: Any = None) -> list[dict[str, Any]]:
    """The first ``n`` rows of a JSONL file (that satisfy ``where``), for browsing."""
    rows: list[dict[str, Any]] = []
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if where is None or where(row):
                    rows.append(row)
                    if len(rows) >= n:
                        break
    except OSError:
        pass
    return rows


def prepare_report(out: Path) -> dict[str, Any]:
    """A prepared data directory, for the Data tab: counts, reasons, reject and variant samples.

    Read once per version of ``report.json`` (the tab refreshes every second; train.jsonl may be large).
    """
    try:
        stamp = (out / "report.json").stat().st_mtime_ns
    except OSError:
        return {}
    return _prepare_report(str(out), stamp)


@functools.lru_cache(maxsize=16)
def _prepare_report(out_s: str, _stamp: int) -> dict[str, Any]:
    out = Path(out_s)
    report = read_json(out / "report.json")
    if report is None:
        return {}
    rejects = [[r.get("source", ""), r.get("reason", ""), r.get("stage", ""), r.get("message", "")]
               for r in sample_jsonl(out / "rejects.jsonl", 20)]
    variants = [[r.get("variant", ""), _text_of(r)[:200], str((r.get("meta") or {}).get("variant_of", ""))]
                for r in sample_jsonl(out / "train.jsonl", 20, where=lambda r: r.get("variant"))]
    counts = [[k, report.get(k)] for k in ("input_records", "kept", "rejected", "duplicates_removed", "filtered",
                                             "augmented", "train", "validation")]
    reasons = [[k, v] for k, v in (report.get("reasons") or {}).items()]
    reasons += [[f"variant: {k}", v] for k, v in (report.get("variants") or {}).items()]
    return {"report": report, "counts": counts, "reasons": reasons, "rejects": rejects, "variants": variants}


def _text_of(row: dict[str, Any]) -> str:
    """The readable text of a prepared record (text, or its messages joined)."""
    if row.get("text"):
        return str(row["text"])
    msgs = row.get("messages") or []
    return " / ".join(f"{m.get('role')}: {m.get('content')}" for m in msgs if isinstance(m, dict))


def export_summary(out: Path) -> dict[str, Any]:
    """An export directory, for the Export tab: stage timings, fidelity per GGUF, Modelfile, files."""
    report = read_json(out / "export_report.json") or {}
    stages = report.get("stages") or {}
    stage_rows = [[name, v.get("status", "done"), v.get("seconds", "")]
                  for name, v in stages.items() if isinstance(v, dict)]
    verify = (stages.get("verify") or {})
    tok = verify.get("tokenization") or {}
    fidelity = [[name, v.get("top1_agreement"), v.get("mean_kl"), v.get("max_kl"), tok.get("identical")]
                for name, v in (verify.get("files") or {}).items() if isinstance(v, dict)]
    modelfile = out / "Modelfile"
    files = sorted(str(p) for p in out.glob("*.gguf")) + ([str(modelfile)] if modelfile.is_file() else [])
    return {"report": report, "stages": stage_rows, "fidelity": fidelity,
            "modelfile": modelfile.read_text(encoding="utf-8") if modelfile.is_file() else "", "files": files}
