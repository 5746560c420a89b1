"""What every tab shares: the working directory, the job manager and the loaded chat models."""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.studio.i18n import t
from jaft.studio.jobs import Job, JobManager


@dataclass
class Studio:
    workdir: Path
    jobs: JobManager
    chat_models: dict[str, Any] = field(default_factory=dict)
    chat_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def at(cls, workdir: str | Path) -> Studio:
        wd = Path(workdir).resolve()
        return cls(wd, JobManager(wd))

    def rel(self, path: str | Path | None) -> str:
        """``path`` relative to the working directory when it lies inside it (what the user typed)."""
        if not path:
            return ""
        p = Path(path)
        try:
            return str(p.relative_to(self.workdir))
        except ValueError:
            return str(p)


def stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def status_line(studio: Studio, job: Job | None, lang: str) -> str:
    """Markdown: the job's state in words, its id and exit code."""
    if job is None:
        return t("no_job", lang)
    state = studio.jobs.status(job)
    rc = (studio.jobs.get(job.id) or job).returncode
    tail = f" (exit {rc})" if rc not in (None, 0) and state != "stopped" else ""
    return f"**{t(state, lang)}**{tail} — `{job.id}`"


def error_line(message: str, lang: str) -> str:
    return f"**{t('error', lang)}**: {message}"


def progress_html(fraction: float | None, label: str = "") -> str:
    """A native <progress> bar (indeterminate when ``fraction`` is None)."""
    bar = ('<progress style="width:100%"></progress>' if fraction is None else
           f'<progress style="width:100%" value="{max(0.0, min(1.0, fraction)):.3f}" max="1"></progress>')
    return f'<div class="jaft-progress">{bar}<small>{html.escape(label)}</small></div>'
