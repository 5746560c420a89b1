"""``report.md`` with a loss curve PNG, written from ``metrics.jsonl`` and the run's outcome."""

from __future__ import annotations

from typing import Any

from jaft.fsutil import atomic_path, write_text
from jaft.rundir import RunDir


def plot_curves(run: RunDir, keys: tuple[str, ...] = ("loss", "eval_loss"), name: str = "loss.png") -> str | None:
    """Plot the metrics ``keys`` against step; returns the PNG's file name, or None with nothing to plot."""
    rows = run.read_metrics()
    series = {k: [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))] for k in keys}
    if not any(series.values()):
        return None
    try:
        import matplotlib
    except ImportError:  # a minimal install (e.g. a GPU image with only the training stack): report without plot
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for k, pts in series.items():
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o" if len(pts) < 30 else None,
                    markersize=3, label=k)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(run.path / name) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return name


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(out)


def write_report(
    run: RunDir,
    *,
    title: str,
    summary: dict[str, Any],
    applied: dict[str, dict[str, Any]],
    generations: list[dict[str, str]] | None = None,
    sections: dict[str, str] | None = None,
    curve_keys: tuple[str, ...] = ("loss", "eval_loss"),
) -> None:
    png = plot_curves(run, curve_keys)
    parts = [f"# {title}", "", _table(list(summary.items()), ("", "value")), ""]
    if png:
        parts += ["## Loss", "", f"![loss curve]({png})", ""]
    parts += ["## Settings applied and why", "",
              _table([(k, v["value"], v["source"], v["why"]) for k, v in applied.items()],
                     ("setting", "value", "source", "why")), ""]
    for head, body in (sections or {}).items():
        parts += [f"## {head}", "", body, ""]
    if generations:
        parts += ["## Generation test (seed 001 simple_test)", "",
                  _table([(g["prompt"], g["output"]) for g in generations], ("prompt", "output")), ""]
    write_text(run.report_file, "\n".join(parts))
