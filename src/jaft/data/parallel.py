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

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.config.data import JapaneseDataConfig
from jaft.data.manifest import output_clash
from jaft.data.reader import EncodingChoice
from jaft.data.shards import (
    Shard,
    auto_shard_bytes,
    check_inputs,
    expand_inputs,
    plan_shards,
    shards_from_json,
    shards_to_json,
    source_encoding,
    unique_inputs,
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
        blob = json.dumps([shards_to_json(self.shards), cfg, self.fmt, self.strict, encodings, _stamps(self.shards)],
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


def _stamps(shards: list[Shard]) -> dict[str, list[int]]:
    """Size and modification time (ns) of each input file: an input edited after a killed run (even to
    the same size, as a 〜 → ～ fix is) makes the next run start over instead of resuming on old work.
    Hub datasets have none (their revision is the name's business)."""
    out: dict[str, list[int]] = {}
    for s in shards:
        if s.path not in out:
            try:
                st = os.stat(s.path)
            except OSError:
                continue
            out[s.path] = [st.st_size, st.st_mtime_ns]
    return out


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
    named, repeats = unique_inputs(expand_inputs(inputs) if inputs else [])
    if repeats:
        info["repeated_inputs"] = repeats
        console.print(f"[yellow]listed more than once, read once: {', '.join(repeats)}[/]", highlight=False)
    check_inputs(named)
    work = Path(config.cluster.work_dir) if config.cluster.work_dir else out / WORK
    for name in named:
        clash = output_clash(name, out, work)
        if clash:
            raise JaftError(f"{name}: {clash}; move the input out of it or choose another --out")
    sources = resolve_sources(named, config, info, console)
    train_sources = [s for s, val in sources if not val]
    val_sources = [s for s, val in sources if val]
    sizes = [Path(s).stat().st_size if Path(s).is_file() else 0 for s, _ in sources]
    shard_bytes = config.shard_bytes or auto_shard_bytes(sum(sizes))
    encodings: dict[str, EncodingChoice] = {}
    for source, _ in sources:
        choice = source_encoding(source, config.encoding, strict)
        if choice is not None:
            encodings[source] = choice
    try:
        shards = plan_shards(sources, shard_bytes, encodings)
    except OSError as e:  # became unreadable after the checks (or a mode's file that cannot be read)
        raise JaftError(f"{e.filename}: cannot read ({e.strerror}); check its permissions") from None
    info.update(sources=train_sources, validation_sources=val_sources, shards=len(shards),
                shard_bytes=shard_bytes, executor=config.executor,
                encodings={k: v.as_report() for k, v in encodings.items()})
    return Plan(out, work, shards, config, fmt, strict, info, encodings)


def build_stages(plan: Plan) -> list[Stage]:
    """The pipeline as datatrove stages (what every executor runs)."""
    from datatrove.pipeline.dedup.exact_dedup import ExactFindDedups
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

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
        out.JaftAdmittedWriter(f"{w}/admitted"),
        dd.JaftDedupSignatures(f"{w}/sig_exact", f"{w}/sig_minhash", mh),
    ]
    exact = [ExactFindDedups(f"{w}/sig_exact", f"{w}/dup_exact", dd.exact_config())]
    buckets = [MinhashDedupBuckets(f"{w}/sig_minhash", f"{w}/buckets", config=mh)]
    clusters = [dd.LowestIndexCluster(f"{w}/buckets", f"{w}/clusters", config=mh),
                dd.KeptOffsets(n, f"{w}/tally_admit", f"{w}/dup_exact", f"{w}/clusters", w)]
    write = [
        out.JaftAdmittedReader(f"{w}/admitted"),
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
    from loguru import logger

    # datatrove's Ray executor warns once per stage that the log folder is local; the guide says it once.
    logger.disable("datatrove.executor")
    try:
        return _cluster_executors(plan, stages, kind)
    finally:
        logger.enable("datatrove.executor")


def _cluster_executors(plan: Plan, stages: list[Stage], kind: str) -> list:
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
    fresh = [p for p in (out, plan.work) if not p.exists()]  # what a dry run or bad input must not leave behind
    if dry_run or config.executor != "local":
        stages = build_stages(plan)
        executors = cluster_executors(plan, stages, config.executor if config.executor != "local" else "slurm")
        if dry_run:
            described = describe_cluster(plan, executors, config.executor)
            for p in reversed(fresh):  # datatrove's executors make their log folders: a dry run leaves nothing
                shutil.rmtree(p, ignore_errors=True)
            return described
        if config.executor == "slurm" and shutil.which("sbatch") is None:
            raise JaftError("--executor slurm needs sbatch on PATH: run on a Slurm login node (or try --dry-run "
                            "to see the jobs)")
        _start(plan)
        record_stages(plan.work, stages)
        executors[-1].run()  # datatrove launches the dependencies first
        return {"submitted": True, "executor": config.executor, "out": str(out), "work_dir": str(plan.work),
                "shards": len(plan.shards)}
    # report.json's seconds are this run's; a resumed run says so and gives no rate (part of the work
    # was done by a run whose time is unknown: it was killed).
    plan.info["started"] = time.time()
    with _run_lock(out, fresh):
        return _run_local(plan, out, fresh, console)


def _run_local(plan: Plan, out: Path, fresh: list[Path], console) -> dict[str, Any]:
    config = plan.config
    if _start(plan):
        plan.info["resumed"] = True
    stages = build_stages(plan)
    record_stages(plan.work, stages)
    if plan.info.get("resumed"):
        state = progress(out, plan.work)
        done = sum(s["done"] for s in state.get("stages", []))
        console.print(f"resuming: {done} of {sum(s['tasks'] for s in state.get('stages', []))} tasks were done by an "
                      f"earlier run ({plan.work})")
    workers = config.workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()) or 1
    from jaft.data.local_runner import LocalRunner

    try:
        LocalRunner(plan, workers, console).run(stages)
    except JaftError:
        _drop_if_fresh(out, fresh)  # bad input: leave no empty --out behind
        raise
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    report["workers"] = workers
    shutil.rmtree(plan.work, ignore_errors=True)
    return report


def _drop_if_fresh(out: Path, fresh: list[Path]) -> None:
    """Remove ``out`` when this run created it and left nothing in it."""
    if out in fresh and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


@contextlib.contextmanager
def _run_lock(out: Path, fresh: list[Path]) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` (``flock`` on the folder itself, released when the process ends,
    even by SIGKILL) while a local run writes into it: a second run into the same folder would remove
    the first one's work directory (other settings) or race it on the same tasks (same settings)."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; runs into one folder are the user's to keep apart
        yield
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY)
    except OSError as e:
        raise JaftError(f"{e.filename or out}: cannot create the output ({e.strerror}); choose another --out") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            _drop_if_fresh(out, fresh)
            raise JaftError(f"{out}: another jaft data prepare is writing into this folder; wait for it to end "
                            "or choose another --out") from None
        yield
    finally:
        os.close(fd)


def _start(plan: Plan) -> bool:
    """Resume when the work directory holds this very plan (returns True); otherwise start over.
    A work directory that cannot be created is one line (exit 2)."""
    state = plan.work / PLAN
    fingerprint = plan.fingerprint()
    if state.is_file():
        saved = json.loads(state.read_text(encoding="utf-8"))
        if saved.get("fingerprint") == fingerprint:
            return True
    shutil.rmtree(plan.work, ignore_errors=True)  # another plan's leftovers; earlier outputs stay until finish
    from jaft.fsutil import atomic_path

    try:
        plan.work.mkdir(parents=True, exist_ok=True)
        with atomic_path(state) as tmp:
            tmp.write_text(json.dumps({"fingerprint": fingerprint, "shards": json.loads(shards_to_json(plan.shards))}),
                           encoding="utf-8")
    except OSError as e:
        raise JaftError(f"{e.filename or plan.work}: cannot create the output ({e.strerror}); choose another --out "
                        "(or data.cluster.work_dir) or check its permissions") from None
    return False


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
