"""GRPO: each step's time split into generation, scoring and training; the generation backend and why."""

from __future__ import annotations

import pytest

from jaft.config import load_run_config
from jaft.hardware import Hardware
from jaft.train.grpo import generation_backend, run_grpo, step_time_split
from tests.test_train_sft import math_records


def test_step_time_split_in_metrics_and_report(tiny_qwen, tmp_path):
    cfg = load_run_config(sets=[
        f"model.model_name={tiny_qwen}", f"train.output_dir={tmp_path / 'g'}", "train.logging_steps=1",
        "grpo.max_steps=2", "grpo.batch_size=4", "grpo.num_generations=4", "grpo.max_completion_length=16",
    ])
    run = run_grpo(cfg, records=math_records(8))
    rows = [r for r in run.read_metrics() if "time/generation_s" in r]
    assert len(rows) == 2
    for r in rows:
        assert r["time/generation_s"] > 0 and r["time/scoring_s"] > 0 and r["time/training_s"] > 0
        assert r["generation/tokens_per_s"] > 0
        # The three parts are TRL's own step time, split (it measures the same training_step calls).
        assert r["time/generation_s"] + r["time/scoring_s"] + r["time/training_s"] == pytest.approx(
            r["step_time"], rel=0.25, abs=0.05)
    report = run.report_file.read_text(encoding="utf-8")
    assert "generation s / step" in report and "training s / step" in report
    applied = run.read_run_file()["applied"]
    assert applied["generation"]["value"] == "generate" and "CUDA" in applied["generation"]["why"]


@pytest.mark.parametrize(
    ("sets", "hw", "load_in", "expected"),
    [
        ([], Hardware.with_gpus(80), "16bit", {"use_vllm": False, "use_transformers_continuous_batching": True}),
        ([], Hardware.with_gpus(80), "4bit", {"use_vllm": False, "use_transformers_continuous_batching": False}),
        ([], Hardware.cpu_only(), "32bit", {"use_vllm": False, "use_transformers_continuous_batching": False}),
        (["grpo.continuous_batching=false"], Hardware.with_gpus(80), "16bit",
         {"use_vllm": False, "use_transformers_continuous_batching": False}),
        (["grpo.use_vllm=true", "grpo.vllm_mode=server"], Hardware.with_gpus(80), "16bit",
         {"use_vllm": True, "vllm_mode": "server", "vllm_server_host": "127.0.0.1", "vllm_server_port": 8000}),
    ],
)
def test_generation_backend(sets, hw, load_in, expected):
    args, applied = generation_backend(load_run_config(sets=sets), hw, load_in)
    assert args == expected
    assert applied.why


def test_step_time_split_means():
    rows = [{"time/generation_s": 2.0, "time/scoring_s": 0.1, "time/training_s": 1.0, "generation/tokens_per_s": 100},
            {"time/generation_s": 4.0, "time/scoring_s": 0.3, "time/training_s": 3.0, "generation/tokens_per_s": 300},
            {"loss": 1.0}]
    assert step_time_split(rows) == {"generation s / step": 3.0, "scoring s / step": 0.2,
                                     "training s / step": 2.0, "generated tokens / s": 200.0}
