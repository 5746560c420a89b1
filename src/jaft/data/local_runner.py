"""The local executor of the parallel ``jaft data prepare``: a stage's tasks on this machine's cores.

``workers`` forked processes per stage each run one task (shard) at a time with datatrove's
``LocalPipelineExecutor`` bookkeeping (completion files, per-task logs and stats). A worker that dies
(the OOM killer, a crash in MeCab) fails only the task it was in: the parent sees its exit status,
names the shard, and a fresh worker takes the next tasks. datatrove's own ``LocalPipelineExecutor.run``
uses a process pool, which waits forever for a task whose worker was killed.

Progress: one bar per stage (records/s, tasks done, the stage's time left) with the whole run's time
left (:class:`RunEta`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jaft.config.data import JapaneseDataConfig
from jaft.data.parallel import Plan, Stage
from jaft.errors import JaftError


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

    if stage == "admit":  # the quality filter's Japanese-letter pattern (cp932's kanji, ~35 ms to build)
        from jaft.japanese.letters import letter_counts

        letter_counts("あ")

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


class _Pool:
    """``workers`` forked processes running a stage's ``todo`` ranks, one at a time each.

    Workers are forked once per stage, not per task: a fork's copy-on-write faults and first-touch
    costs were ~30 ms of CPU per task, a tenth of a small shard's work."""

    def __init__(self, ctx, executor, workers: int, logging_dir: Path, todo: list[int]) -> None:
        self.ctx, self.executor, self.workers = ctx, executor, workers
        self.logs, self.errors = str(logging_dir / "logs"), str(logging_dir / "errors")
        self.queue = list(todo)
        self.procs: dict[Any, tuple[Any, int | None]] = {}  # process → (its end of the pipe, its current rank)

    def busy(self) -> bool:
        return bool(self.queue) or any(r is not None for _, r in self.procs.values())

    def left(self) -> int:
        """Ranks not finished (queued or running)."""
        return len(self.queue) + sum(r is not None for _, r in self.procs.values())

    def _drop(self, p) -> None:
        p.join()
        self.procs.pop(p)[0].close()

    def step(self, timeout: float = 0.5) -> list[tuple[int, int]]:
        """Start workers and hand out ranks, wait up to ``timeout`` s, return the ``(rank, exit code)``
        of tasks that ended (0: done; else the dead worker's exit code, negative for a signal)."""
        from multiprocessing.connection import wait

        idle = sum(r is None for _, r in self.procs.values())
        while self.queue and len(self.procs) < self.workers and idle < len(self.queue):
            parent_end, child_end = self.ctx.Pipe()
            p = self.ctx.Process(target=_worker, args=(self.executor, child_end, self.logs, self.errors))
            p.start()
            child_end.close()
            self.procs[p] = (parent_end, None)
            idle += 1
        for p, (conn, rank) in list(self.procs.items()):
            if rank is None and self.queue:
                try:
                    conn.send(self.queue[0])
                except OSError:  # died while idle: nothing lost, a fresh one follows
                    self._drop(p)
                    continue
                self.procs[p] = (conn, self.queue.pop(0))
        busy = [(p, conn, r) for p, (conn, r) in self.procs.items() if r is not None]
        wait([conn for _, conn, _ in busy] + [p.sentinel for p, _, _ in busy], timeout=timeout)
        ended = []
        for p, conn, rank in busy:
            try:
                if conn.poll() and conn.recv() == rank:
                    self.procs[p] = (conn, None)
                    ended.append((rank, 0))
                    continue
            except (EOFError, OSError):  # its end of the pipe closed: the worker is ending
                p.join()
            if p.exitcode is not None:  # died (or failed) in the middle of its task
                self._drop(p)
                ended.append((rank, p.exitcode))
        return ended

    def close(self) -> None:
        """Idle workers are told to stop; any still inside a task (an interrupted run) are killed."""
        for p, (conn, rank) in self.procs.items():
            try:
                if rank is None and p.exitcode is None:
                    conn.send(None)
                elif p.exitcode is None:
                    p.kill()
            except OSError:
                pass
        for p, (conn, _) in self.procs.items():
            p.join(timeout=10)
            if p.exitcode is None:
                p.kill()
                p.join()
            conn.close()
        self.procs.clear()


class RunEta:
    """Time left for the whole local run, in seconds.

    The admit and write stages do nearly all the work. Until the write stage has a rate of its own,
    its time is predicted from the admit stage's, with ratios measured on the Debian-docs corpus
    (one process, ``bench.data``): the dedup stages in between take ≈ 0.1 × admit, the write stage
    ≈ 0.13 × admit without variants and ≈ 1.9–2.0 × admit when every record gets variants (one fugashi
    analysis each). A stage already finished by an earlier (resumed) run costs nothing.
    """

    MIDDLE, WRITE_PLAIN, WRITE_VARIED = 0.1, 0.15, 1.85

    def __init__(self, config: JapaneseDataConfig) -> None:
        self.config = config
        self.admit_s: float | None = None  # the admit stage's whole time (measured, or extrapolated)
        self.records: int | None = None  # admitted records (known once the admit stage is done)

    def varied_share(self, records: float) -> float:
        """Share of admitted records that get variants (``augment`` and its limit)."""
        if self.config.augment <= 0:
            return 0.0
        limit = self.config.augment_sample_limit()
        return 1.0 if limit is None else min(1.0, limit / max(1.0, records))

    def _write(self, admit_s: float, records: float) -> float:
        return admit_s * (self.WRITE_PLAIN + self.WRITE_VARIED * self.varied_share(records))

    def left(self, stage: str, fraction: float, elapsed: float, records: int = 0) -> float | None:
        """Seconds left in the run while ``stage`` is ``fraction`` (0–1) done after ``elapsed`` seconds
        of this run's work on it, ``records`` read so far (admit); None when there is nothing to go on."""
        if stage == "admit":
            if fraction <= 0 or elapsed <= 0:
                return None
            admit_s = elapsed / fraction
            return admit_s - elapsed + admit_s * self.MIDDLE + self._write(admit_s, records / fraction)
        if stage == "write":
            if fraction > 0 and elapsed > 0:
                return elapsed / fraction - elapsed
            return None if self.admit_s is None else self._write(self.admit_s, self.records or 0)
        if stage == "finish":
            return 0.0
        if self.admit_s is None:  # admit was finished by an earlier run
            return None
        return self.admit_s * self.MIDDLE * (1 - fraction) + self._write(self.admit_s, self.records or 0)

    def admit_done(self, fraction_this_run: float, elapsed: float, records: int) -> None:
        """The admit stage ended after ``elapsed`` s of this run, having done ``fraction_this_run`` of its
        work (the rest: an earlier run); ``records``: all records it admitted."""
        if fraction_this_run > 0:
            self.admit_s = elapsed / fraction_this_run
        self.records = records


def clock(seconds: float | None) -> str:
    """``1:02:03`` / ``2:03`` / ``—`` (unknown)."""
    if seconds is None:
        return "—"
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class LocalRunner:
    """Runs stages on this machine with datatrove's LocalPipelineExecutor bookkeeping (completion
    files, per-task logs and stats) in ``workers`` forked processes per stage, each running one task
    at a time.

    datatrove's own ``LocalPipelineExecutor.run`` uses a process pool, which waits forever for a task
    whose worker was killed; here each task's exit status is seen, so a dead worker fails its task only.
    """

    def __init__(self, plan: Plan, workers: int, console) -> None:
        self.plan, self.workers, self.console = plan, workers, console
        self.eta = RunEta(plan.config)

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
            following = stages[i].name if i < len(stages) else None
            failures = self._run_stage(ctx, executor, stage, todo, logging_dir, progress,
                                       f"{i}/{len(stages)} {stage.name}", total_bytes, started, following)
            pipeline_steps.PROGRESS = None
            if failures:
                raise JaftError(self._failed(stage, failures))

    def _failed(self, stage: Stage, failures: list[tuple[int, int, str]]) -> str:
        """One line for a stage whose tasks failed: the first failure's message, the other failed
        shards by name, and what to do. Bad input (the worker's own one-line error) will fail again
        until it is fixed, so that is the advice, and the work directory is removed (another input
        starts over anyway); after a crash, finished tasks are kept for the re-run."""
        first = failures[0][2]
        others = [self._describe(stage, r) for r, _, _ in failures[1:]]
        also = ""
        if others:
            also = f" (also failed: {', '.join(others[:3])}{f' and {len(others) - 3} more' if len(others) > 3 else ''})"
        if all(c == 3 for _, c, _ in failures):
            shutil.rmtree(self.plan.work, ignore_errors=True)
            return f"{first}{also}; fix the input and run again (nothing was written)"
        return (f"{first}{also}; the other tasks finished; re-run the same command to redo only the unfinished "
                "ones")

    def _describe(self, stage: Stage, rank: int) -> str:
        return self.plan.shards[rank].describe() if stage.per_shard else f"task {rank} of stage {stage.name}"

    def _run_stage(self, ctx, executor, stage: Stage, todo: list[int], logging_dir: Path, progress, label: str,
                   total_bytes: int, started: float, following: str | None) -> list[tuple[int, int, str]]:
        from rich.progress import BarColumn, Progress, TextColumn

        (logging_dir / "errors").mkdir(parents=True, exist_ok=True)
        (logging_dir / "logs").mkdir(parents=True, exist_ok=True)
        for rank in todo:
            (logging_dir / "errors" / f"{rank:05d}.txt").unlink(missing_ok=True)
        failures: list[tuple[int, int, str]] = []  # (rank, exit code, one-line message)
        done = stage.tasks - len(todo)
        # What the bar counts: input bytes (admit), admitted records (write) or tasks, of this run's tasks.
        unit = {"admit": "bytes", "write": "records"}.get(stage.name, "tasks")
        if unit == "bytes":
            total = sum(self.plan.shards[r].size for r in todo)
        elif unit == "records":
            total = self._admitted(todo)
        else:
            total = len(todo)
        # Fits 80 columns: "5/6 write: 12/15 shards ━━━━━━━━━━━━━━━━ 3,350 records/s run 1:02, ~0:20 left"
        # (the run's time left matters more than the stage's, which is left out).
        bar = Progress(TextColumn("{task.description}"), BarColumn(bar_width=16), TextColumn("{task.fields[rate]}"),
                       TextColumn("[dim]{task.fields[run]}"), console=self.console, auto_refresh=False,
                       transient=True, disable=not self.console.is_terminal)
        t0 = time.perf_counter()
        pool = _Pool(ctx, executor, self.workers, logging_dir, todo)
        rate = ""
        what = "shards" if stage.per_shard else "tasks"
        try:
            with bar:
                task = bar.add_task(label, total=max(1, total), rate="", run="")
                while pool.busy():
                    for rank, code in pool.step():
                        done += 1
                        if code != 0:
                            failures.append((rank, code, self._failure(stage, rank, code, logging_dir)))
                    records = sum(progress[0::2])
                    elapsed = time.perf_counter() - t0
                    completed = {"bytes": sum(progress[1::2]), "records": records}.get(unit, len(todo) - pool.left())
                    fraction = min(1.0, completed / total) if total else 1.0
                    rate = f"{records / elapsed:,.0f} records/s" if records and elapsed > 0 else ""
                    left = self.eta.left(stage.name, fraction, elapsed, records)
                    run = f"run {clock(time.perf_counter() - started)}, ~{clock(left)} left"
                    bar.update(task, completed=completed, description=f"{label}: {done}/{stage.tasks} {what}",
                               rate=rate, run=run)
                    bar.refresh()
        finally:
            pool.close()
        elapsed = time.perf_counter() - t0
        if stage.name == "admit":
            self.eta.admit_done(total / max(1, total_bytes), elapsed, self._admitted())
        # One line per finished stage stays on screen (and in a log under nohup, where no bar is drawn)
        # with the whole run's time so far; a failed stage is told by the one error line instead.
        if not failures:
            after = "" if following is None else f", ~{clock(self.eta.left(following, 0.0, 0.0))} left"
            self.console.print(f"[dim]prepare {label}: {done}/{stage.tasks} {what}{', ' + rate if rate else ''}, "
                               f"{elapsed:.1f} s (run: {clock(time.perf_counter() - started)}{after})[/]")
        return failures

    def _admitted(self, ranks: list[int] | None = None) -> int:
        """Records the admit stage let through (of ``ranks``' shards; default all), from its tallies."""
        total = 0
        for p in (self.plan.work / "tally_admit").glob("*.json"):
            if ranks is None or int(p.stem) in ranks:
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


