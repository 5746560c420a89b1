from __future__ import annotations

from typing import Annotated

import typer

from jaft.cli.common import Json

COMMAND = "doctor"
ORDER = 15


def main(
    output_dir: Annotated[str, typer.Option("--output-dir", help="where runs will be written (free disk is measured there)")] = ".",
    json_: Json = False,
) -> None:
    """Check this machine: accelerators, memory, disk, CPU features for llama.cpp, optional components.

    Reports CUDA / ROCm / MPS / CPU with each GPU's memory, RAM and free disk, the CPU features llama.cpp
    uses (AVX2, AVX-512, AMX) with what jaft does about them, and each optional component.

    Every failed check says how to fix it. Exit code is 0: doctor reports, it does not judge.
    """
    from jaft.hardware import component_checks, detect

    hw = detect(output_dir)
    checks = component_checks(hw)
    if json_:
        import json
        from dataclasses import asdict

        from jaft.hardware import cpu_features, llama_extra_bufts

        on, why = llama_extra_bufts()
        cpu = {**cpu_features(), "llama_cpp_extra_buffer_types": on, "llama_cpp_extra_buffer_types_why": why}
        print(json.dumps({"hardware": hw.to_dict(), "cpu": cpu, "checks": [asdict(c) for c in checks]},
                         indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(f"[bold]backend[/]: {hw.backend} {hw.backend_version}  torch {hw.torch_version or '—'}")
    for g in hw.gpus:
        console.print(f"  GPU {g.index}: {g.name}, {g.total_gb:.1f} GB, cc {g.compute_capability or '—'}, bf16 {'yes' if g.bf16 else 'no'}")
    console.print(
        f"[bold]RAM[/]: {hw.ram_total_gb:.1f} GB total, {hw.ram_available_gb:.1f} GB available; "
        f"[bold]disk[/]: {hw.disk_free_gb:.1f} GB free at {hw.disk_path}; [bold]CPUs[/]: {hw.cpu_count}"
    )
    from jaft.hardware import cpu_features, llama_cpu_policy

    feats = cpu_features()
    amx = ", ".join(feats["amx_flags"]) or "no"
    console.print(f"[bold]CPU[/]: {escape(feats['model'] or '?')}: AVX2 {'yes' if feats['avx2'] else 'no'}, "
                  f"AVX-512 {'yes' if feats['avx512'] else 'no'}, AMX {amx}")
    console.print(f"[bold]llama.cpp[/]: {escape(llama_cpu_policy(feats))}")
    table = Table(show_header=True)
    for col in ("component", "status", "detail", "fix"):
        table.add_column(col)

    for c in checks:
        # Fixes like pip install 'jaft[gguf]' contain brackets rich would take for markup.
        table.add_row(c.name, "[green]ok[/]" if c.ok else "[yellow]missing[/]", escape(c.detail), escape(c.fix))
    console.print(table)

