"""The main job end to end (`jaft quickstart`): SFT teaches the format, GRPO moves the weights with
reward variance, export verifies, and a re-run reuses every stage."""

from __future__ import annotations

import json

import pytest
from safetensors.torch import load_file

from jaft.rundir import RunDir
from tests.conftest import run_jaft


@pytest.mark.slow
def test_quickstart_end_to_end_and_rerun(tmp_path):
    out = tmp_path / "qs"
    r = run_jaft("quickstart", "--out", str(out), timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    state = json.loads((out / "quickstart.json").read_text(encoding="utf-8"))
    assert list(state) == ["tiny model", "data", "eval (base)", "SFT", "eval (SFT)", "GRPO", "eval (GRPO)", "export"]

    # Seed 004's two stages: SFT teaches the <think>/<answer> format …
    assert state["eval (base)"]["format_rate"] <= 0.1
    assert state["eval (SFT)"]["format_rate"] >= 0.8
    # … and GRPO changes the weights, learning from completions whose rewards differ.
    grpo = RunDir(out / "runs" / "grpo")
    rows = [row for row in grpo.read_metrics() if "reward" in row]
    assert rows and any(row["reward_std"] > 0 for row in rows)
    adapter = load_file(grpo.adapter_dir / "adapter_model.safetensors")
    assert any(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)

    report = json.loads((out / "export" / "export_report.json").read_text(encoding="utf-8"))
    assert report["stages"]["verify"]["passed"] is True
    assert (out / "export" / "model-q4_k_m.gguf").is_file() and (out / "export" / "Modelfile").is_file()
    assert "jaft quickstart" in r.stderr and "math (held-out bundled problems)" in r.stderr
    # Deployment = evaluation (issue 12): the F16 GGUF through its Modelfile scores as the HF model does.
    from tests.test_gguf_eval import assert_gguf_eval_matches_hf

    assert_gguf_eval_matches_hf(out)

    again = run_jaft("quickstart", "--out", str(out), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("reused") == 8
