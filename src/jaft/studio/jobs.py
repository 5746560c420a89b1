"""Background jobs: the real ``jaft`` CLI in its own process group, recorded on disk.

A job is ``python -m jaft ARGS`` started in the studio's working directory, with stdout and stderr in
files under ``WORKDIR/.jaft-studio/jobs/``. The process is not a child of the browser session: closing
the tab changes nothing, and a restarted studio finds its jobs again from the job files (pid, argv,
output directory, exit code once known). Stop sends SIGTERM to the whole process group (the trainer and
anything it started), then SIGKILL after a grace period.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.fsutil import write_text

JOBS_DIR = Path(".jaft-studio") / "jobs"


@dataclass
class Job:
    id: str
    kind: str  # prepare | train | grpo | eval | export | init-tiny
    argv: list[str]  # starts with "jaft": what the user would type
    output: str | None  # the directory this job writes (absolute), if any
    pid: int
    started: float  # unix seconds
    log: str  # stderr (progress, rich output)
    out: str  # stdout (e.g. --json results)
    returncode: int | None = None
    stopped: bool = False

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


class JobManager:
    """Starts, lists and stops jobs of one working directory (thread-safe; one per studio process)."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.workdir = Path(workdir).resolve()
        self.dir = self.workdir / JOBS_DIR
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()

    # Paths -----------------------------------------------------------------------------------------
    def resolve(self, path: str | os.PathLike[str]) -> Path:
        """``path`` as the job will see it (relative paths are relative to the working directory)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.workdir / p

    # Start -----------------------------------------------------------------------------------------
    def start(self, kind: str, argv: list[str], output: str | None = None, env: dict[str, str] | None = None) -> Job:
        """Launch ``argv`` (``["jaft", …]``) in the background; JaftError if ``output`` is busy."""
        if not argv or argv[0] != "jaft":
            raise ValueError(f"a job runs the jaft CLI; got {argv!r}")
        out_abs = str(self.resolve(output)) if output else None
        with self._lock:
            if out_abs and (busy := self.busy(out_abs)) is not None:
                raise JaftError(f"{output}: a job is already writing there ({busy.id}: {busy.command}); "
                                f"wait for it or stop it first")
            self.dir.mkdir(parents=True, exist_ok=True)
            job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{os.urandom(2).hex()}"
            log, out = self.dir / f"{job_id}.log", self.dir / f"{job_id}.out"
            full_env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "120", **(env or {})}
            # The CLI, not a re-implementation: the same entry point `jaft` runs.
            with log.open("wb") as err_f, out.open("wb") as out_f:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "jaft", *argv[1:]], cwd=self.workdir, stdin=subprocess.DEVNULL,
                    stdout=out_f, stderr=err_f, env=full_env, start_new_session=True,
                )
            job = Job(job_id, kind, list(argv), out_abs, proc.pid, time.time(), str(log), str(out))
            self._procs[job_id] = proc
            self._save(job)
        threading.Thread(target=self._reap, args=(job, proc), daemon=True).start()
        return job

    def _reap(self, job: Job, proc: subprocess.Popen) -> None:
        rc = proc.wait()
        with self._lock:
            current = self.get(job.id) or job
            current.returncode = rc
            self._save(current)

    def _save(self, job: Job) -> None:
        write_text(self.dir / f"{job.id}.json", json.dumps(asdict(job), ensure_ascii=False, indent=1))

    # Read ------------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        path = self.dir / f"{job_id}.json"
        try:
            return Job(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def jobs(self, kind: str | None = None) -> list[Job]:
        """All recorded jobs, newest first."""
        if not self.dir.is_dir():
            return []
        out = [j for p in self.dir.glob("*.json") if (j := self.get(p.stem)) is not None]
        return sorted((j for j in out if kind is None or j.kind == kind), key=lambda j: j.started, reverse=True)

    def latest(self, *kinds: str) -> Job | None:
        return next((j for j in self.jobs() if not kinds or j.kind in kinds), None)

    def alive(self, job: Job) -> bool:
        proc = self._procs.get(job.id)
        if proc is not None:
            return proc.poll() is None
        if job.returncode is not None:
            return False
        try:  # a job of an earlier studio process: is its pid still there (and not a zombie)?
            os.kill(job.pid, 0)
        except OSError:
            return False
        return True

    def status(self, job: Job) -> str:
        """running | finished | failed | stopped (a job of a killed studio whose exit is unknown: failed)."""
        if self.alive(job):
            return "running"
        job = self.get(job.id) or job
        if job.stopped:
            return "stopped"
        return "finished" if job.returncode == 0 else "failed"

    def busy(self, output: str | os.PathLike[str]) -> Job | None:
        """The running job that writes ``output``, if any."""
        target = str(self.resolve(output))
        return next((j for j in self.jobs() if j.output == target and self.alive(j)), None)

    def tail(self, job: Job, lines: int = 40) -> str:
        """The last ``lines`` lines of the job's stderr log (progress bars' carriage returns folded)."""
        try:
            data = Path(job.log).read_bytes()[-65536:].decode("utf-8", errors="replace")
        except OSError:
            return ""
        # A progress bar redraws with \r: keep what the line says last.
        rows = [seg.split("\r")[-1] for seg in data.split("\n")]
        return "\n".join([r for r in rows if r.strip()][-lines:])

    def stdout(self, job: Job) -> str:
        try:
            return Path(job.out).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    # Stop ------------------------------------------------------------------------------------------
    def stop(self, job: Job, grace_s: float = 10.0) -> bool:
        """SIGTERM the job's process group, SIGKILL after ``grace_s``; False if it was not running."""
        if not self.alive(job):
            return False
        with self._lock:
            current = self.get(job.id) or job
            current.stopped = True
            self._save(current)
        try:
            os.killpg(job.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and self.alive(job):
            time.sleep(0.1)
        if self.alive(job):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(job.pid, signal.SIGKILL)
        return True

    def wait(self, job: Job, timeout_s: float) -> str:
        """Block until the job ends (or ``timeout_s``); its status."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive(job):
            time.sleep(0.2)
        time.sleep(0.05)  # let the reaper record the exit code
        return self.status(job)


def job_summary(job: Job | None, manager: JobManager) -> dict[str, Any]:
    """What a tab shows about a job (empty when there is none)."""
    if job is None:
        return {}
    return {"id": job.id, "status": manager.status(job), "command": job.command, "output": job.output,
            "returncode": (manager.get(job.id) or job).returncode}
