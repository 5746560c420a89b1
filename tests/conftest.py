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


def pytest_sessionfinish(session, exitstatus) -> None:
    """Close every llama.cpp model still alive before the interpreter shuts down.

    A ``llama_cpp.Llama`` left to garbage collection at shutdown may be freed after llama.cpp's backend,
    and the test process then dies of SIGSEGV after every test passed (exit 139 fails CI).
    """
    if "llama_cpp" not in sys.modules:
        return
    import gc

    from jaft.export.serve import free_server_model

    free_server_model()
    llama = sys.modules["llama_cpp"].Llama
    for obj in gc.get_objects():
        if isinstance(obj, llama):
            obj.close()


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
def tiny_stablelm(tmp_path_factory) -> Path:
    """Tiny StableLM (partial RoPE, LayerNorm with bias, q/k/v biases) with a GPT-NeoX-style BPE."""
    from jaft.models.tiny import init_tiny

    return init_tiny(tmp_path_factory.mktemp("models") / "tiny-stablelm", "stablelm", "bpe", seed=0)


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


@pytest.fixture(scope="session")
def lora_run_factory(tmp_path_factory):
    """Fake training runs: ``make(base, method="lora"|"qlora", **LoraConfig kwargs) -> run dir``.

    The run holds jaft_run.yaml (model_name = base, train.method) and adapter/ with a PEFT LoRA whose
    weights are non-zero (``init_lora_weights=False``) plus the tokenizer, as training saves them.
    """
    cache: dict[tuple, Path] = {}

    def make(base: Path, *, method: str = "lora", seed: int = 0, **lora) -> Path:
        key = (str(base), method, seed, tuple(sorted((k, repr(v)) for k, v in lora.items())))
        if key in cache:
            return cache[key]
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from jaft.config import RunConfig
        from jaft.rundir import RunDir

        run = tmp_path_factory.mktemp("run")
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
        opts = {"r": 8, "lora_alpha": 16, "init_lora_weights": False,
                "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
        peft_model = get_peft_model(model, LoraConfig(**{**opts, **lora}))
        peft_model.save_pretrained(str(run / "adapter"))
        AutoTokenizer.from_pretrained(str(base)).save_pretrained(str(run / "adapter"))
        config = RunConfig.model_validate({"model": {"model_name": str(base)}, "train": {"method": method}})
        RunDir(run).write_run_file(stage="sft", config=config)
        cache[key] = run
        return run

    return make
