from __future__ import annotations

from typing import Annotated

import typer

from jaft.cli.common import Json

COMMAND = "plan"
ORDER = 20


def main(
    model: Annotated[str, typer.Option("--model", help="registry key or Hub id / local directory")],
    method: Annotated[str | None, typer.Option("--method", help="full | lora | qlora (default: the planner's choice)")] = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", help="sequence length (default: the model's strategy)")] = None,
    batch: Annotated[int | None, typer.Option("--batch", help="per-device batch size (default: the strategy's)")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="plan for other hardware: GPU memory in GB, comma-separated (e.g. 24,24)")] = None,
    ram: Annotated[float | None, typer.Option("--ram", help="with --gpus: system RAM in GB")] = None,
    json_: Json = False,
) -> None:
    """Estimate memory and recommend method, precision, batch, accumulation and sequence length.

    Shows weight memory per format (fp32 / bf16 / int8 / nf4), the training estimate by component
    (weights, trainable parameters, gradients, optimizer, activations, logits, CUDA context), and
    warnings for later stages (merge RAM, GGUF disk). Models of 22B and more get 4-bit by default.
    """
    from jaft.errors import JaftError
    from jaft.hardware import Hardware, detect
    from jaft.planner import plan_training
    from jaft.registry import load_registry
    from jaft.selection import resolve_model_name

    if method is not None and method not in ("full", "lora", "qlora"):
        raise JaftError(f"--method {method}: use full, lora or qlora")
    reg = load_registry()
    from pathlib import Path

    entry = resolve_model_name(model) if "/" in model or Path(model).exists() else reg.get(model)
    if gpus:
        try:
            sizes = [float(x) for x in gpus.split(",") if x.strip()]
        except ValueError:
            raise JaftError(f"--gpus {gpus!r}: give GPU memory in GB separated by commas, e.g. 24,24") from None
        hw = Hardware.with_gpus(*sizes, ram_gb=ram or 128.0)
    else:
        hw = detect()
    plan = plan_training(entry, hw, method=method, seq_len=seq_len, batch_size=batch)  # type: ignore[arg-type]
    if json_:
        import json

        print(json.dumps({"model": entry.key, "hardware": hw.to_dict(), "plan": plan.to_dict()}, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    where = ", ".join(f"{g.total_gb:.0f} GB" for g in hw.gpus) or f"CPU, {hw.ram_available_gb:.0f} GB RAM available"
    console.print(f"[bold]{entry.model_name}[/] ({entry.parameters_b:g}B) on {hw.backend}: {where}")
    w = Table(title="weights by format (GB)")
    for fmt in plan.weights_by_format_gb:
        w.add_column(fmt)
    w.add_row(*(f"{v:.1f}" for v in plan.weights_by_format_gb.values()))
    console.print(w)
    e = plan.estimate
    t = Table(title=f"training estimate: {plan.method}, batch {plan.batch_size}, seq {plan.seq_len}, "
                    f"checkpointing {'on' if plan.gradient_checkpointing else 'off'} (GB)")
    for col in ("weights", "adapters", "grads", "optimizer", "activations", "logits", "context", "total", "budget"):
        t.add_column(col)
    t.add_row(*(f"{v:.2f}" for v in (e.weights_gb, e.trainable_weights_gb, e.gradients_gb, e.optimizer_gb,
                                     e.activations_gb, e.logits_gb, e.context_gb, e.total_gb, plan.budget_gb)))
    console.print(t)
    console.print(
        f"[bold]recommendation[/]: {plan.method} ({plan.load_in}, {plan.precision}), batch {plan.batch_size} × "
        f"accumulation {plan.gradient_accumulation}, seq {plan.seq_len}, device_map {plan.device_map}"
        + (f", max_memory {plan.max_memory}" if plan.max_memory else "")
        + ("" if plan.fits else "  [red](does not fit)[/]")
    )
    console.print(f"trainable parameters: {e.trainable_parameters:,}")
    for r in plan.reasons:
        console.print(f"  why: {r}")
    for wmsg in plan.warnings:
        console.print(f"  [yellow]warning[/]: {wmsg}")

