"""Corpus-scale ``jaft data prepare``: the pipeline as datatrove stages, run on local cores, Slurm or Ray.

Stages (datatrove executors; each task's completion is recorded, so a re-run skips finished tasks)::

    admit     (one task per shard)  read → validate → normalize → filter → rejects; admitted records
                                    and their exact-dedup + MinHash signatures
    exact     (1 task)              datatrove ExactFindDedups: equal keys, the first in input order kept
    buckets   (one task per band)   datatrove MinhashDedupBuckets: signature matches per LSH band
    clusters  (1 task)              MinHash clusters (first in input order kept), kept records per shard
    write     (one task per shard)  dedup verdicts → linguistic variants → split → output shards
    finish    (1 task)              accounting merged over tasks, outputs joined / listed, manifest, report

Every dedup decision is a global rule (first in input order, MinHash bands independent of sharding),
variants are seeded per record and the split is by content hash, so the output does not depend on
the number of workers or shards, and a resumed run ends with the same files as an uninterrupted one.

Locally, ``workers`` forked processes run a stage's tasks one at a time each, so a worker the OOM
killer or a crash in MeCab takes down fails only the shard it was working on: a fresh worker takes
the next shards, the others finish, the error names the shard, and the next run redoes only the
unfinished tasks.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.config.data import JapaneseDataConfig
from jaft.data.reader import EncodingChoice
from jaft.data.shards import (
    Shard,
    auto_shard_bytes,
    expand_inputs,
    plan_shards,
    shards_from_json,
    shards_to_json,
    source_encoding,
)
from jaft.errors import JaftError

WORK = ".jaft_work"
PLAN = "plan.json"
STAGES = "stages.json"  # [{"name", "tasks"}] in run order: what progress() counts completions against


@dataclass
class Stage:
    name: str
    pipeline: list
    tasks: int
    per_shard: bool = False  # tasks are input shards (errors name the shard; progress counts records)


@dataclass
class Plan:
    out: Path
    work: Path
    shards: list[Shard]
    config: JapaneseDataConfig
    fmt: str
    strict: bool
    info: dict[str, Any] = field(default_factory=dict)
    encodings: dict[str, EncodingChoice] = field(default_factory=dict)  # per input file, decided once

    def fingerprint(self) -> str:
        cfg = self.config.model_dump(mode="json", exclude={"workers", "executor", "cluster"})
        encodings = {k: v.as_report() for k, v in self.encodings.items()}
        blob = json.dumps([shards_to_json(self.shards), cfg, self.fmt, self.strict, encodings], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def require_datatrove(executor: str = "local") -> None:
    """One-line errors (exit 2) naming the missing extra."""
    import importlib.util

    if importlib.util.find_spec("datatrove") is None:
        raise JaftError("the parallel data pipeline needs datatrove (a jaft dependency): "
                        "pip install 'datatrove>=0.10'")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise JaftError("--executor ray needs Ray: pip install 'jaft[cluster]' (or pip install ray), "
                        "and run on the cluster's head node")


def make_plan(inputs: list[str], out: Path, config: JapaneseDataConfig, fmt: str, console) -> Plan:
    """Resolve inputs (globs, or the mode's files), decide each file's encoding once (the reader's
    rule, ``data.encoding`` / ``--encoding`` first; undecided + strict: exit 2), cut them into shards."""
    from jaft.data.prepare import resolve_sources

    strict = config.strict or config.mode == "production"
    info: dict[str, Any] = {"mode": config.mode, "format": fmt, "strict": strict}
    sources = resolve_sources(expand_inputs(inputs) if inputs else [], config, info, console)
    train_sources = [s for s, val in sources if not val]
    val_sources = [s for s, val in sources if val]
    sizes = [Path(s).stat().st_size if Path(s).is_file() else 0 for s, _ in sources]
    shard_bytes = config.shard_bytes or auto_shard_bytes(sum(sizes))
    encodings: dict[str, EncodingChoice] = {}
    for source, _ in sources:
        choice = source_encoding(source, config.encoding, strict)
        if choice is not None:
            encodings[source] = choice
    shards = plan_shards(sources, shard_bytes, encodings)
    info.update(sources=train_sources, validation_sources=val_sources, shards=len(shards),
                shard_bytes=shard_bytes, executor=config.executor,
                encodings={k: v.as_report() for k, v in encodings.items()})
    work = Path(config.cluster.work_dir) if config.cluster.work_dir else out / WORK
    return Plan(out, work, shards, config, fmt, strict, info, encodings)


def build_stages(plan: Plan) -> list[Stage]:
    """The pipeline as datatrove stages (what every executor runs)."""
    from datatrove.pipeline.dedup.exact_dedup import ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets
    from datatrove.pipeline.writers.jsonl import JsonlWriter

    from jaft.data import dedup_steps as dd
    from jaft.data import output_steps as out
    from jaft.data import pipeline_steps as st

    c, w, n = plan.config, str(plan.work), len(plan.shards)
    mh = dd.minhash_config(c)
    has_val_files = any(s.validation for s in plan.shards)
    admit = [
        st.JaftShardReader(plan.shards, plan.fmt, c.max_line_bytes, plan.strict, plan.encodings),
        st.JaftValidate(plan.fmt, plan.strict),
        st.JaftNormalize(c.normalize),
        st.JaftQualityFilter(c),
        out.JaftRejects(f"{w}/rejects_admit", f"{w}/tally_admit"),
        # Uncompressed: read once by the write stage, then deleted; gzip cost more than the filters.
        JsonlWriter(f"{w}/admitted", output_filename="${rank}.jsonl", compression=None, adapter=out.admitted_row),
        dd.JaftDedupSignatures(f"{w}/sig_exact", f"{w}/sig_minhash", mh),
    ]
    exact = [ExactFindDedups(f"{w}/sig_exact", f"{w}/dup_exact", dd.exact_config())]
    buckets = [MinhashDedupBuckets(f"{w}/sig_minhash", f"{w}/buckets", config=mh)]
    clusters = [dd.LowestIndexCluster(f"{w}/buckets", f"{w}/clusters", config=mh),
                dd.KeptOffsets(n, f"{w}/tally_admit", f"{w}/dup_exact", f"{w}/clusters", w)]
    write = [
        dd.JaftAdmittedReader(f"{w}/admitted"),
        dd.JaftDedupVerdicts(f"{w}/dup_exact", f"{w}/clusters", c.near_dup_threshold),
        st.JaftAugment(c, w),
        out.JaftOutput(f"{w}/output", f"{w}/rejects_write", f"{w}/tally_write", c, has_val_files),
    ]
    info = {**plan.info, "started": plan.info.get("started", time.time())}
    finish = [out.JaftFinalize(str(plan.out), w, n, c, info)]
    return [Stage("admit", admit, n, True), Stage("exact", exact, 1), Stage("buckets", buckets, mh.num_buckets),
            Stage("clusters", clusters, 1), Stage("write", write, n, True), Stage("finish", finish, 1)]


# --- cluster executors ----------------------------------------------------------------------------

def cluster_executors(plan: Plan, stages: list[Stage], kind: str) -> list:
    """datatrove Slurm / Ray executors for the stages, each depending on the one before."""
    cc = plan.config.cluster
    out: list = []
    for stage in stages:
        logging_dir = f"{plan.work}/logs/{stage.name}"
        if kind == "slurm":
            from datatrove.executor.slurm import SlurmPipelineExecutor

            ex = SlurmPipelineExecutor(
                pipeline=stage.pipeline, tasks=stage.tasks, time=cc.time, partition=cc.partition,
                cpus_per_task=cc.cpus_per_task, mem_per_cpu_gb=cc.mem_per_cpu_gb, job_name=f"jaft-{stage.name}",
                logging_dir=logging_dir, depends=out[-1] if out else None, venv_path=cc.venv_path,
                sbatch_args=dict(cc.sbatch_args) or None, workers=plan.config.workers or -1)
        else:
            from datatrove.executor.ray import RayPipelineExecutor

            ex = RayPipelineExecutor(
                pipeline=stage.pipeline, tasks=stage.tasks, workers=plan.config.workers or -1,
                logging_dir=logging_dir, depends=out[-1] if out else None, cpus_per_task=cc.cpus_per_task,
                mem_per_cpu_gb=cc.mem_per_cpu_gb)
        out.append(ex)
    return out


def describe_cluster(plan: Plan, executors: list, kind: str) -> dict[str, Any]:
    """What a cluster run would submit (for ``--dry-run``): stages, tasks, dependencies, sbatch scripts.
    Checks the pipelines pickle (datatrove ships them to the nodes with dill)."""
    import dill

    stages = []
    for ex in executors:
        dill.dumps(ex.pipeline)
        entry: dict[str, Any] = {"tasks": ex.world_size, "logging_dir": ex.logging_dir.path,
                                 "steps": [type(s).__name__ for s in ex.pipeline],
                                 "depends_on": ex.depends.logging_dir.path if ex.depends else None}
        if kind == "slurm":
            entry["job_name"] = ex.job_name
            entry["sbatch"] = ex.get_launch_file_contents(
                ex.get_sbatch_args(ex.world_size),
                f"srun -l -n 1 launch_pickled_pipeline {ex.logging_dir.resolve_paths('executor.pik')}")
        stages.append(entry)
    return {"executor": kind, "shards": len(plan.shards), "work_dir": str(plan.work), "out": str(plan.out),
            "stages": stages}


# --- local: one forked process per task -------------------------------------------------------------

def _die_with_parent() -> None:
    """Linux: the kernel sends SIGKILL to this worker when the run's main process dies (a SIGKILL of the
    run must not leave workers writing into the next run's files)."""
    if sys.platform.startswith("linux"):
        import contextlib
        import ctypes

        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _task_log(log_path: str) -> None:
    """Point this worker's stderr (datatrove's console log) at the task's own log file."""
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


def _worker(executor, conn, logs: str, errors: str) -> None:
    """A worker process: runs the ranks it receives one at a time, each on a fresh copy of the
    pipeline (as datatrove's own sequential loop: steps keep per-task state such as their stats), and
    answers each with its rank. A task that fails ends the worker: the parent reads the error file and
    the exit code, and later tasks get a fresh worker."""
    import copy

    _die_with_parent()
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115 (the worker's life)
    pipeline = executor.pipeline
    while True:
        try:
            rank = conn.recv()
        except EOFError:  # the parent is gone
            os._exit(0)
        if rank is None:
            os._exit(0)
        _task_log(f"{logs}/worker_{rank:05d}.stderr")
        executor.pipeline = copy.deepcopy(pipeline)
        try:
            executor._run_for_rank(rank, local_rank=1)
        except BaseException as e:  # reported by the parent, one line
            msg = e.message if isinstance(e, JaftError) else f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            Path(f"{errors}/{rank:05d}.txt").write_text(msg, encoding="utf-8")
            sys.stderr.flush()
            os._exit(3 if isinstance(e, JaftError) else 1)
        sys.stderr.flush()
        conn.send(rank)


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _preload(stage: str, config: JapaneseDataConfig) -> None:
    """Import (and load) once in the main process what the workers of ``stage`` use: forked workers
    share it copy-on-write instead of each paying for it per task."""
    import sysconfig

    import jaft.japanese.normalize  # noqa: F401

    sysconfig.get_config_vars()  # read by loguru for every task logger datatrove adds; computed once here
    _cache_loguru_lib_dirs()

    if stage == "write" and config.augment > 0:
        from jaft.japanese.analyzer import tagger

        tagger()
    if stage == "write" and config.output_format == "parquet":
        import pyarrow.parquet  # noqa: F401


def _cache_loguru_lib_dirs() -> None:
    """loguru expands every sysconfig scheme's paths for each handler it adds (datatrove adds three
    per task): ~15 ms of each task's CPU. The answer never changes within a run; compute it once."""
    try:
        from loguru._better_exceptions import ExceptionFormatter
    except ImportError:  # another loguru layout: keep its own behaviour
        return
    get = ExceptionFormatter.__dict__.get("_get_lib_dirs")
    if isinstance(get, staticmethod) and not getattr(get.__func__, "jaft_cached", False):
        dirs = get.__func__()

        def cached() -> list[str]:
            return list(dirs)

        cached.jaft_cached = True  # type: ignore[attr-defined]
        ExceptionFormatter._get_lib_dirs = staticmethod(cached)


def _close_pool(pool: dict) -> None:
    """Idle workers are told to stop; any still inside a task (an interrupted run) are killed."""
    for p, (conn, rank) in pool.items():
        try:
            if rank is None and p.exitcode is None:
                conn.send(None)
            elif p.exitcode is None:
                p.kill()
        except OSError:
            pass
    for p, (conn, _) in pool.items():
        p.join(timeout=10)
        if p.exitcode is None:
            p.kill()
            p.join()
        conn.close()


class LocalRunner:
    """Runs stages on this machine with datatrove's LocalPipelineExecutor bookkeeping (completion
    files, per-task logs and stats) in ``workers`` forked processes per stage, each running one task
    at a time.

    datatrove's own ``LocalPipelineExecutor.run`` uses a process pool, which waits forever for a task
    whose worker was killed; here each task's exit status is seen, so a dead worker fails its task only.
    """

    def __init__(self, plan: Plan, workers: int, console) -> None:
        self.plan, self.workers, self.console = plan, workers, console

    def run(self, stages: list[Stage]) -> None:
        import multiprocessing

        from datatrove.executor.local import LocalPipelineExecutor

        from jaft.data import pipeline_steps

        ctx = multiprocessing.get_context("fork")
        total_bytes = sum(s.size for s in self.plan.shards) or 1
        started = time.perf_counter()
        for i, stage in enumerate(stages, 1):
            logging_dir = self.plan.work / "logs" / stage.name
            executor = LocalPipelineExecutor(stage.pipeline, tasks=stage.tasks, workers=self.workers,
                                             logging_dir=str(logging_dir))
            todo = executor.get_incomplete_ranks()
            if not todo:
                continue
            _preload(stage.name, self.plan.config)
            progress = ctx.Array("q", 2 * stage.tasks, lock=False)
            pipeline_steps.PROGRESS = progress
            failures = self._run_stage(ctx, executor, stage, todo, logging_dir, progress,
                                       f"{i}/{len(stages)} {stage.name}", total_bytes, started)
            pipeline_steps.PROGRESS = None
            if failures:
                first = failures[0]
                more = f" ({len(failures) - 1} more failed task(s) in the logs)" if len(failures) > 1 else ""
                raise JaftError(f"{first}{more}; the other tasks finished; re-run the same command to redo only "
                                "the unfinished ones")

    def _describe(self, stage: Stage, rank: int) -> str:
        return self.plan.shards[rank].describe() if stage.per_shard else f"task {rank} of stage {stage.name}"

    def _run_stage(self, ctx, executor, stage: Stage, todo: list[int], logging_dir: Path, progress, label: str,
                   total_bytes: int, started: float) -> list[str]:
        from multiprocessing.connection import wait

        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        (logging_dir / "errors").mkdir(parents=True, exist_ok=True)
        (logging_dir / "logs").mkdir(parents=True, exist_ok=True)
        queue = list(todo)
        for rank in queue:
            (logging_dir / "errors" / f"{rank:05d}.txt").unlink(missing_ok=True)
        pool: dict[Any, tuple[Any, int | None]] = {}  # worker process → (its end of the pipe, its current rank)
        failures: list[str] = []
        done = stage.tasks - len(todo)
        by_bytes = stage.name == "admit"
        total = total_bytes if by_bytes else max(1, self._admitted()) if stage.name == "write" else stage.tasks
        bar = Progress(TextColumn("[bold]prepare[/] {task.description}"), BarColumn(), TimeRemainingColumn(),
                       TextColumn("{task.fields[rate]}"), console=self.console, auto_refresh=False, transient=True,
                       disable=not self.console.is_terminal)
        t0 = time.perf_counter()
        rate = ""
        try:
            with bar:
                task = bar.add_task(label, total=total, rate="")
                while queue or any(r is not None for _, r in pool.values()):
                    # Workers are forked once per stage, not per task: a fork's copy-on-write faults and
                    # first-touch costs were ~30 ms of CPU per task, a tenth of a small shard's work.
                    while queue and len(pool) < self.workers and sum(r is None for _, r in pool.values()) < len(queue):
                        parent_end, child_end = ctx.Pipe()
                        p = ctx.Process(target=_worker, args=(executor, child_end, str(logging_dir / "logs"),
                                                              str(logging_dir / "errors")))
                        p.start()
                        child_end.close()
                        pool[p] = (parent_end, None)
                    for p, (conn, rank) in list(pool.items()):
                        if rank is None and queue:
                            if p.exitcode is not None:  # died while idle: nothing lost, a fresh one follows
                                conn.close()
                                del pool[p]
                                continue
                            try:
                                conn.send(queue[0])
                            except OSError:  # died while idle, not yet reaped
                                p.join()
                                conn.close()
                                del pool[p]
                                continue
                            pool[p] = (conn, queue.pop(0))
                    busy = [(p, conn) for p, (conn, r) in pool.items() if r is not None]
                    wait([conn for _, conn in busy] + [p.sentinel for p, _ in busy], timeout=0.5)
                    for p, conn in busy:
                        rank = pool[p][1]
                        try:
                            if conn.poll() and conn.recv() == rank:
                                pool[p] = (conn, None)
                                done += 1
                                continue
                        except (EOFError, OSError):  # its end of the pipe closed: the worker is ending
                            p.join()
                        if p.exitcode is not None:  # died (or failed) in the middle of its task
                            p.join()
                            conn.close()
                            del pool[p]
                            done += 1
                            failures.append(self._failure(stage, rank, p.exitcode, logging_dir))
                    records = sum(progress[0::2])
                    elapsed = time.perf_counter() - t0
                    rate = f"{records / elapsed:,.0f} records/s" if records and elapsed > 0 else ""
                    bar.update(task, completed=sum(progress[1::2]) if by_bytes else
                               records if stage.name == "write" else done,
                               description=f"{label}: {done}/{stage.tasks} tasks", rate=rate)
                    bar.refresh()
        finally:
            _close_pool(pool)
        if self.console.is_terminal:  # one line per stage stays on screen; the whole run's time so far
            self.console.print(f"[dim]prepare {label}: {done}/{stage.tasks} tasks{', ' + rate if rate else ''}, "
                               f"{time.perf_counter() - t0:.1f} s (run: {time.perf_counter() - started:.0f} s)[/]")
        return failures

    def _admitted(self) -> int:
        total = 0
        for p in (self.plan.work / "tally_admit").glob("*.json"):
            total += json.loads(p.read_text(encoding="utf-8"))["counts"].get("admitted", 0)
        return total

    def _failure(self, stage: Stage, rank: int, code: int, logging_dir: Path) -> str:
        what = self._describe(stage, rank)
        err = logging_dir / "errors" / f"{rank:05d}.txt"
        log = logging_dir / "logs" / f"worker_{rank:05d}.stderr"
        if code == 3 and err.is_file():  # a JaftError: the message already says what to fix
            return err.read_text(encoding="utf-8")
        if code < 0:
            cause = _signal_name(code)
            hint = " (out of memory? lower --workers or data.shard_bytes)" if cause == "SIGKILL" else ""
            return f"{what} failed: its worker was killed by {cause}{hint}; log: {log}"
        detail = err.read_text(encoding="utf-8") if err.is_file() else f"exit code {code}"
        return f"{what} failed: {detail}; log: {log}"


# --- entry point ------------------------------------------------------------------------------------

def prepare_parallel(inputs: list[str], out_dir: str | Path, config: JapaneseDataConfig, *, fmt: str | None = None,
                     console=None, dry_run: bool = False) -> dict[str, Any]:
    """Run the pipeline with ``config.executor`` and return the report (``report.json``), or with
    ``dry_run`` the stages and executor settings a cluster run would submit.

    Re-running with the same inputs and settings resumes: finished tasks are skipped. Other inputs or
    settings start over. Raises :class:`JaftError` (one line) for bad input or a failed task.
    """
    from rich.console import Console

    from jaft.data.formats import FORMATS

    console = console or Console(stderr=True)
    fmt = fmt or config.format
    if fmt not in FORMATS:
        raise JaftError(f"--format {fmt}: unknown; use one of {', '.join(FORMATS)}")
    require_datatrove("local" if dry_run else config.executor)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise JaftError(f"{out}: exists and is not a directory; choose another --out")
    plan = make_plan(inputs, out, config, fmt, console)
    if dry_run or config.executor != "local":
        stages = build_stages(plan)
        executors = cluster_executors(plan, stages, config.executor if config.executor != "local" else "slurm")
        if dry_run:
            return describe_cluster(plan, executors, config.executor)
        if config.executor == "slurm" and shutil.which("sbatch") is None:
            raise JaftError("--executor slurm needs sbatch on PATH: run on a Slurm login node (or try --dry-run "
                            "to see the jobs)")
        _start(plan)
        record_stages(plan.work, stages)
        executors[-1].run()  # datatrove launches the dependencies first
        return {"submitted": True, "executor": config.executor, "out": str(out), "work_dir": str(plan.work),
                "shards": len(plan.shards)}
    plan.info["started"] = _start(plan)
    stages = build_stages(plan)
    record_stages(plan.work, stages)
    workers = config.workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1
    LocalRunner(plan, workers, console).run(stages)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    report["workers"] = workers
    shutil.rmtree(plan.work, ignore_errors=True)
    return report


def _start(plan: Plan) -> float:
    """Resume when the work directory holds this very plan; otherwise start over. Returns when the
    run first started (its rate covers resumed parts too)."""
    state = plan.work / PLAN
    fingerprint = plan.fingerprint()
    if state.is_file():
        saved = json.loads(state.read_text(encoding="utf-8"))
        if saved.get("fingerprint") == fingerprint:
            return saved["started"]
    shutil.rmtree(plan.work, ignore_errors=True)  # another plan's leftovers; earlier outputs stay until finish
    plan.work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    from jaft.fsutil import atomic_path

    with atomic_path(state) as tmp:
        tmp.write_text(json.dumps({"fingerprint": fingerprint, "started": started,
                                   "shards": json.loads(shards_to_json(plan.shards))}), encoding="utf-8")
    return started


def record_stages(work: Path, stages: list[Stage]) -> None:
    """Write ``work/stages.json`` (each stage's name and task count, in run order) for :func:`progress`."""
    from jaft.fsutil import write_json

    write_json(work / STAGES, [{"name": s.name, "tasks": s.tasks} for s in stages])


def progress(out_dir: str | Path, work_dir: str | Path | None = None) -> dict[str, Any]:
    """How far a running ``jaft data prepare`` into ``out_dir`` is, read from its work directory.

    Counts datatrove's completion files (``logs/STAGE/completions/RANK``, one per finished task) against
    the task counts in ``stages.json``. Returns ``{}`` when there is no run in progress (never started,
    or finished: the work directory is removed at the end), else::

        {"stages": [{"name", "tasks", "done"}, ...],   # every stage, in run order
         "stage": NAME, "index": K, "count": N,        # the first unfinished stage, K of N (1-based)
         "done": D, "tasks": T,                        # its finished tasks / all its tasks
         "fraction": F}                                # finished tasks over all stages' tasks, each stage
                                                       # weighted equally, in [0, 1]

    ``work_dir`` is ``data.cluster.work_dir`` when the run set one (default ``OUT/.jaft_work``). Reads
    only; safe while the run writes (a task counts once its completion file exists).
    """
    work = Path(work_dir) if work_dir else Path(out_dir) / WORK
    try:
        listed = json.loads((work / STAGES).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    stages = []
    for s in listed:
        comp = work / "logs" / s["name"] / "completions"
        done = sum(1 for p in comp.iterdir() if p.name.isdigit()) if comp.is_dir() else 0
        stages.append({"name": s["name"], "tasks": int(s["tasks"]), "done": min(done, int(s["tasks"]))})
    if not stages:
        return {}
    k = next((i for i, s in enumerate(stages) if s["done"] < s["tasks"]), len(stages) - 1)
    cur = stages[k]
    fraction = sum(s["done"] / max(1, s["tasks"]) for s in stages) / len(stages)
    return {"stages": stages, "stage": cur["name"], "index": k + 1, "count": len(stages), "done": cur["done"],
            "tasks": cur["tasks"], "fraction": fraction}


def load_plan_shards(work: Path) -> list[Shard]:
    """The shards recorded for a run in ``work`` (debugging, tools)."""
    return shards_from_json(json.dumps(json.loads((work / PLAN).read_text(encoding="utf-8"))["shards"]))
