"""The run-directory contract shared by train, grpo, eval and export.

Every output directory holds ``jaft_run.yaml``: the resolved config, what was applied and why,
library versions, hardware and git commit. Later stages read it instead of asking again.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from jaft import __version__
from jaft.errors import JaftError
from jaft.fsutil import write_text

RUN_FILE = "jaft_run.yaml"
TRACKED_PACKAGES = (
    "torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes", "tokenizers",
    "fugashi", "gguf", "llama-cpp-python", "math-verify",
)


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": sys.version.split()[0], "jaft": __version__}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


class RunDir:
    """Paths and records of one output directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    # Paths -----------------------------------------------------------------------------------------
    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def report_file(self) -> Path:
        return self.path / "report.md"

    @property
    def adapter_dir(self) -> Path:
        return self.path / "adapter"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def exists(self) -> bool:
        return self.run_file.is_file()

    def final_weights(self) -> tuple[str, Path]:
        """``("adapter", path)`` or ``("model", path)``: what this run produced, for eval and export."""
        if (self.adapter_dir / "adapter_config.json").is_file():
            return "adapter", self.adapter_dir
        if (self.model_dir / "config.json").is_file():
            return "model", self.model_dir
        raise JaftError(
            f"{self.path}: no adapter/ or model/ in this run directory; did training finish? "
            f"(`jaft train --resume` continues a crashed run)"
        )

    # Records ---------------------------------------------------------------------------------------
    def write_run_file(
        self,
        *,
        stage: str,
        config: Any = None,
        applied: dict[str, Any] | None = None,
        hardware: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write ``jaft_run.yaml`` atomically and return what was written."""
        import yaml

        cfg = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
        record: dict[str, Any] = {
            "jaft_version": __version__,
            "stage": stage,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            # Quoted for a shell, so it pastes back as it ran (paths with spaces or quotes).
            "command": shlex.join(["jaft", *sys.argv[1:]]) if sys.argv and "jaft" in sys.argv[0] else None,
            "config": cfg,
            "applied": applied or {},
            "versions": library_versions(),
            "hardware": hardware,
            "git_commit": git_commit(),
        }
        if extra:
            record.update(extra)
        # Round-trip through JSON so library objects (TorchVersion, Paths, dtypes) become plain values.
        record = json.loads(json.dumps(record, default=str))
        self.path.mkdir(parents=True, exist_ok=True)
        write_text(self.run_file, yaml.safe_dump(record, allow_unicode=True, sort_keys=False))
        return record

    def read_run_file(self) -> dict[str, Any]:
        import yaml

        if not self.run_file.is_file():
            raise JaftError(
                f"{self.path}: not a jaft run directory (no {RUN_FILE}); pass the --output of a "
                f"`jaft train` or `jaft grpo` run, or use --model for a plain model directory"
            )
        try:
            data = yaml.safe_load(self.run_file.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise JaftError(f"{self.run_file}: unreadable ({str(e).splitlines()[0]}); re-run the stage") from None
        if not isinstance(data, dict):
            raise JaftError(f"{self.run_file}: not a mapping; re-run the stage that wrote it")
        return data

    def read_config(self):
        """The run's resolved :class:`~jaft.config.RunConfig`."""
        from jaft.config import RunConfig

        return RunConfig.model_validate(self.read_run_file().get("config") or {})

    def append_metrics(self, record: dict[str, Any]) -> None:
        # One line per log step; appending whole lines keeps the file valid if the run is killed.
        self.path.mkdir(parents=True, exist_ok=True)
        with self.metrics_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_file.is_file():
            return []
        rows = []
        # split at "\n" only: splitlines() would also cut at U+2028/U+2029, which json.dumps(ensure_ascii=False)
        # leaves raw inside sample completions
        for line in self.metrics_file.read_text(encoding="utf-8").split("\n"):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut by a kill: the rest is still good
        return rows
