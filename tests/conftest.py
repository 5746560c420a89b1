"""Shared fixtures: tiny models built once per session from configs (never downloaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that tried the Hub would fail loudly, not hang
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    """Tiny Qwen2 model with the small Japanese BPE tokenizer and R1 chat template."""
    from jaft.models.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("models") / "tiny-qwen2", "qwen2", "bpe", seed=0)


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    from jaft.models.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("models") / "tiny-llama", "llama", "bpe", seed=0)


@pytest.fixture(scope="session")
def tiny_qwen25(tmp_path_factory) -> Path:
    """Tiny Qwen2 model carrying Qwen2.5's real 151k vocabulary (built offline)."""
    from jaft.models.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("models") / "tiny-qwen25", "qwen2", "qwen2.5", seed=0)


def run_jaft(*args: str, input: str | None = None, cwd: str | os.PathLike[str] | None = None,
             timeout: float = 600, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (exit codes, stderr and tracebacks as a user sees them)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "jaft", *args], input=input, capture_output=True, text=True,
        cwd=cwd, timeout=timeout, env=full_env,
    )


def assert_clean_error(result: subprocess.CompletedProcess, *needles: str) -> None:
    """Exit 2, one `error:` line naming the problem, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
