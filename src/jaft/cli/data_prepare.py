from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from jaft.cli.common import Config, Json, Set

COMMAND = "data prepare"
ORDER = 33


def main(
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="input files (.jsonl .json .txt .csv .tsv .parquet; .gz/.zst compressed), quoted globs "
                            "('corpus/*.jsonl.zst'; a folder itself is refused) or a Hub dataset owner/name; "
                            "none: --mode picks the files under data.base_dir", show_default=False),
    ] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="output directory (train.jsonl, validation.jsonl, rejects.jsonl, report.json)")] = "",
    mode: Annotated[str | None, typer.Option("--mode", help="production | development | trial: which files are required without INPUT, how many records get variants (all / 1000 / 100); production is strict", show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="auto | text | messages | prompt_completion | problem_solution | alpaca (default: detected per record)", show_default=False)] = None,
    augment: Annotated[int | None, typer.Option("--augment", help="linguistic variants per record (style, particle omission, adverb, sentence ending, honorific); 0: none", show_default=False)] = None,
    val_ratio: Annotated[float | None, typer.Option("--val-ratio", help="share of records held out for validation (default 0.05)", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed for the split and the variants (same seed, same output)", show_default=False)] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="input encoding: auto (default: BOM incl. UTF-16/32, UTF-8, ISO-2022-JP, else cp932/euc_jp detected and reported) or a codec name such as cp932, utf-16", show_default=False)] = None,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first bad record (exit 2, nothing written) instead of listing it in rejects.jsonl")] = False,
    base_dir: Annotated[str | None, typer.Option("--base-dir", help="where the mode looks for its source files (default dataset/deepseek-jp)", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option("--workers", "-j", help="processes on this machine (default: the CPU count); the output does not depend on it", show_default=False)] = None,
    executor: Annotated[str | None, typer.Option("--executor", help="local | slurm | ray: datatrove executor that runs the stages (cluster settings: data.cluster.*)", show_default=False)] = None,
    output_format: Annotated[str | None, typer.Option("--output-format", help="jsonl (train.jsonl …) | jsonl.gz | parquet (one file per shard, manifest.json)", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the stages, tasks and executor settings (sbatch scripts for slurm; --json: as JSON) without submitting or writing anything")] = False,
    config: Config = None,
    set_: Set = None,
    json_out: Json = False,
) -> None:
    """Prepare Japanese training data: read → validate → normalize → dedup → filter → augment → split.

    Every input record ends up kept, rejected (bad input), removed as a duplicate or filtered;
    report.json counts each by reason and rejects.jsonl lists each with its path:line.

    Examples: jaft data prepare corpus.txt chat.jsonl --out data/ --augment 2;
    jaft data prepare --mode trial --out data/  (bundled samples).
    """
    import json

    from jaft.config import load_run_config
    from jaft.data.parallel import WORK, prepare_parallel
    from jaft.errors import JaftError

    if not out:
        raise JaftError("--out is required: the directory to write the prepared data into")
    cfg = load_run_config(
        config,
        overrides={"data.mode": mode, "data.format": fmt, "data.augment": augment, "data.val_ratio": val_ratio,
                   "data.seed": seed, "data.strict": strict or None, "data.base_dir": base_dir,
                   "data.encoding": encoding,
                   "data.workers": workers, "data.executor": executor, "data.output_format": output_format},
        sets=set_,
    )
    try:
        report = prepare_parallel(list(inputs or []), out, cfg.data, dry_run=dry_run)
    except KeyboardInterrupt:
        _interrupted(Path(cfg.data.cluster.work_dir) if cfg.data.cluster.work_dir else Path(out) / WORK)
    if dry_run and not json_out:
        _dry_run(report)
        return
    if json_out or report.get("submitted"):
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    _summary(report, out)


def _interrupted(work: Path) -> None:
    """Ctrl-C: say what is kept and how to go on (finished tasks are recorded in the work directory)."""
    import sys

    keep = f"; finished shards are kept in {work}: run the same command again to resume" if work.is_dir() else ""
    print(f"\ninterrupted{keep}", file=sys.stderr)
    raise typer.Exit(130)


def _dry_run(plan: dict) -> None:
    """What a cluster run would submit, for a person: the stages in order, then each sbatch script."""
    lines = [f"{plan['executor']} dry run: {plan['shards']} shard(s), work directory {plan['work_dir']}, "
             f"output {plan['out']} (nothing was submitted or written)"]
    for i, st in enumerate(plan["stages"], 1):
        name = st.get("job_name") or st["logging_dir"].rsplit("/", 1)[-1]
        after = f", after {st['depends_on'].rsplit('/', 1)[-1]}" if st.get("depends_on") else ""
        lines.append(f"  {i}. {name}: {st['tasks']} task(s){after} — {' → '.join(st['steps'])}")
    for st in plan["stages"]:
        if st.get("sbatch"):
            lines += ["", f"# --- {st['job_name']} ---", st["sbatch"].rstrip()]
    lines += ["", "add --json for this plan as JSON"]
    typer.echo("\n".join(lines))


def _summary(report: dict, out: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"jaft data prepare → {out}", show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for key in ("input_records", "kept", "rejected", "duplicates_removed", "filtered", "augmented", "train", "validation"):
        table.add_row(key, f"{report[key]:,}")
    console.print(table)
    if report["reasons"]:
        console.print("removed by reason: " + ", ".join(f"{k} {v:,}" for k, v in report["reasons"].items()))
    for source, enc in report.get("encodings", {}).items():
        how = enc["how"] + (f": {enc['detail']}" if enc.get("detail") else "")
        console.print(f"encoding of {source}: {enc['encoding'] or 'undecided'} ({how})", markup=False)
    if report.get("answer_rules"):
        console.print("gold answers by rule: " + ", ".join(f"{k} {v:,}" for k, v in report["answer_rules"].items()))
    if report["variants"]:
        console.print("variants by kind: " + ", ".join(f"{k} {v:,}" for k, v in report["variants"].items()))
    if report.get("warning"):
        console.print(f"[bold yellow]WARNING:[/] {report['warning']}")
    if report["kept"] == 0:
        console.print(f"[bold yellow]WARNING:[/] no record was kept; see {out}/rejects.jsonl")
    rate = report.get("records_per_second")
    took = (f"resumed: this run took {report.get('seconds', 0):,.1f} s" if report.get("resumed")
            else f"{rate:,} records/s" if rate else f"{report.get('seconds', 0):,.1f} s")
    console.print(f"{took} with {report.get('workers', 1)} worker(s), {report.get('shards', 1)} shard(s); "
                  f"details in {out}/report.json")
