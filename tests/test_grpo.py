"""GRPO: validation before any model loads, temperature annealing, a short run that changes weights."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from jaft.config import load_run_config
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.train.grpo import annealed, prompt_rows, resolve_rewards, run_grpo
from tests.conftest import assert_clean_error, run_jaft
from tests.test_train_sft import math_records, train


@pytest.mark.parametrize(
    ("step", "total", "expected"),
    [(0, 11, 1.0), (5, 11, 0.55), (10, 11, 0.1), (20, 11, 0.1), (0, 1, 0.1)],
)
def test_temperature_annealing_schedule(step, total, expected):
    assert annealed(step, total, 1.0, 0.1) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rewards", "message"),
    [({"formt": 1.0}, "did you mean 'format'"), ({"no_such_pkg.mod:fn": 1.0}, "no_such_pkg"), ({}, "empty")],
)
def test_bad_rewards_fail_before_loading(rewards, message):
    with pytest.raises(JaftError, match=message):
        resolve_rewards(rewards)


def test_length_penalty_follows_completion_budget():
    funcs, weights = resolve_rewards({"length": 0.5, "format": 1.0}, max_completion_length=64)
    assert weights == [0.5, 1.0]
    long = "あ" * 500
    assert funcs[0]([long])[0] == -1.0  # far past the 64-token budget


def test_records_without_answers_are_counted_not_used():
    recs = [*math_records(3), Record(kind="text", text="説明文です。"),
            Record(kind="prompt_completion", prompt="質問", completion="回答")]
    rows, skipped = prompt_rows(recs)
    assert len(rows) == 3 and skipped == 2


def test_no_gold_answers_is_an_error_before_model_load(tmp_path):
    cfg = load_run_config(sets=["model.model_name=/nonexistent", f"train.output_dir={tmp_path}"])
    with pytest.raises(JaftError, match="no record has a gold 'answer'"):
        run_grpo(cfg, records=[Record(kind="prompt_completion", prompt="質問", completion="回答")])


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--reward", "acuracy=1", "--model-name", "/nonexistent"], ["did you mean 'accuracy'"]),
        (["--reward", "format=heavy"], ["weight must be a number"]),
        (["--num-generations", "3"], ["must divide"]),
        (["--reward", "mypkg.missing:fn=1", "--model-name", "/nonexistent"], ["mypkg"]),
        (["--from", "/nonexistent-run"], ["/nonexistent-run: no such run directory"]),
    ],
)
def test_cli_bad_input(args, needles):
    assert_clean_error(run_jaft("grpo", *args), *needles)


def test_grpo_from_sft_run_changes_weights(tiny_qwen, tmp_path):
    sft = train(tiny_qwen, tmp_path / "sft", "train.max_steps=4", "train.learning_rate=5e-3")
    before = load_file(sft.adapter_dir / "adapter_model.safetensors")
    cfg = load_run_config(sets=[
        f"train.output_dir={tmp_path / 'grpo'}", "train.logging_steps=1", "grpo.max_steps=3",
        "grpo.batch_size=4", "grpo.num_generations=4", "grpo.max_completion_length=24",
        "grpo.learning_rate=5e-3", "grpo.initial_temperature=1.2", "grpo.final_temperature=0.2",
    ])
    run = run_grpo(cfg, from_run=str(sft.path), records=math_records(8))
    after = load_file(run.adapter_dir / "adapter_model.safetensors")
    assert before.keys() == after.keys()  # the SFT adapter kept training; TRL's "ref" copy is not saved
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rows = [r for r in run.read_metrics() if "reward" in r]
    assert len(rows) == 3
    for key in ("rewards/format_reward/mean", "rewards/accuracy_reward/mean",
                "rewards/language_consistency_reward/mean", "reward_std", "completions/mean_length"):
        assert key in rows[0], key
    assert any(r["reward_std"] > 0 for r in rows)
    temps = [r["temperature"] for r in run.read_metrics() if "temperature" in r]
    assert temps[0] > temps[-1] and temps[-1] == pytest.approx(0.2)
    assert rows[-1]["samples"] and "completion" in rows[-1]["samples"][0]
    recorded = run.read_run_file()
    assert recorded["stage"] == "grpo" and recorded["config"]["train"]["continue_from"] == str(sft.adapter_dir)
    assert recorded["config"]["model"]["model_name"] == str(tiny_qwen)
    assert "Sample completions" in run.report_file.read_text(encoding="utf-8")
    json.loads(json.dumps(recorded))  # the run file stays plain data


def test_vllm_requested_without_vllm_is_a_clear_error(tmp_path):
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    cfg = load_run_config(sets=["grpo.use_vllm=true", f"train.output_dir={tmp_path}"])
    with pytest.raises(JaftError, match="pip install vllm"):
        run_grpo(cfg, records=math_records(2))


def test_grpo_resume_from_a_checkpoint(tiny_qwen, tmp_path):
    sets = [f"model.model_name={tiny_qwen}", f"train.output_dir={tmp_path / 'g'}", "train.logging_steps=1",
            "train.save_steps=2", "grpo.max_steps=4", "grpo.batch_size=4", "grpo.num_generations=4",
            "grpo.max_completion_length=16"]
    run = run_grpo(load_run_config(sets=sets), records=math_records(8))
    ckpt = run.checkpoints_dir / "checkpoint-2"
    assert ckpt.is_dir()
    resumed = run_grpo(load_run_config(sets=[f"train.resume={ckpt}"]), records=math_records(8))
    assert resumed.path == run.path
    steps = [r["step"] for r in resumed.read_metrics() if "reward" in r]
    assert steps[-2:] == [3, 4]  # picked up after step 2, not from the start
    assert resumed.read_run_file()["status"] == "finished"
