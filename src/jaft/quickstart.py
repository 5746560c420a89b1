"""The main job end to end on a built-in tiny model and bundled data (grows as stages land)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console


def run_quickstart(out: str | Path = "jaft-quickstart", console: Console | None = None) -> dict[str, dict]:
    console = console or Console()
    out = Path(out)
    stages: dict[str, dict] = {}

    t = time.perf_counter()
    model_dir = out / "tiny-model"
    if (model_dir / "config.json").is_file():
        note = "reused"
    else:
        from jaft.models.tiny import init_tiny

        init_tiny(model_dir, "qwen2", "bpe", seed=0)
        note = "built"
    stages["tiny model"] = {"path": str(model_dir), "seconds": round(time.perf_counter() - t, 1), "note": note}
    console.print(f"[green]✓[/] tiny model {note}: {model_dir}")

    from jaft.hardware import detect
    from jaft.planner import plan_training
    from jaft.selection import resolve_model_name

    hw = detect(out)
    plan = plan_training(resolve_model_name(str(model_dir)), hw)
    stages["plan"] = {"method": plan.method, "precision": plan.precision, "batch": plan.batch_size}
    console.print(f"[green]✓[/] plan: {plan.method}, {plan.precision}, batch {plan.batch_size}, seq {plan.seq_len}")

    pending = ["data prepare", "SFT", "GRPO", "eval", "export"]
    console.print(f"[yellow]not yet in this version[/]: {', '.join(pending)} (later releases add them here)")
    return stages
