"""`jaft train` as users type it: raw data prepared on the fly, resume after SIGKILL, 2-process DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from jaft.rundir import RunDir
from tests.conftest import assert_clean_error, run_jaft


def problems_file(path: Path, n: int = 24) -> Path:
    rows = []
    for i in range(n):
        a, b = i % 7 + 2, i % 5 + 3
        rows.append({"problem": f"{a}個のりんごと{b}個のみかんがあります。果物は全部で何個ですか。",
                     "solution": f"<think>{a}+{b}={a + b}です。</think><answer>{a + b}</answer>"})
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def common(model: Path, data: Path, out: Path, steps: int = 12) -> list[str]:
    return ["train", "--model-name", str(model), "--data", str(data), "--output", str(out),
            "--max-steps", str(steps), "--lr", "5e-3", "--no-generation-test",
            "--set", "train.save_steps=2", "--set", "train.save_total_limit=10", "--set", "train.batch_size=2",
            "--set", "train.gradient_accumulation=1", "--set", "train.logging_steps=1",
            "--set", "data.val_ratio=0"]


def test_raw_data_is_prepared_on_the_fly(tiny_qwen, tmp_path):
    data = problems_file(tmp_path / "p.jsonl")
    r = run_jaft(*common(tiny_qwen, data, tmp_path / "run", steps=2))
    assert r.returncode == 0, r.stderr[-3000:]
    run = RunDir(tmp_path / "run")
    assert (run.path / "data" / "train.jsonl").is_file() and (run.path / "data" / "report.json").is_file()
    rec = run.read_run_file()
    assert rec["status"] == "finished" and "prepared data" in rec["data"]
    assert rec["data_stats"]["train"]["records"] == 24


def test_resume_after_sigkill_matches_uninterrupted(tiny_qwen, tmp_path):
    data = problems_file(tmp_path / "p.jsonl")
    ref = run_jaft(*common(tiny_qwen, data, tmp_path / "a"))
    assert ref.returncode == 0, ref.stderr[-3000:]

    out = tmp_path / "b"
    proc = subprocess.Popen([sys.executable, "-m", "jaft", *common(tiny_qwen, data, out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy())
    ckpt = out / "checkpoints" / "checkpoint-4" / "trainer_state.json"
    deadline = time.time() + 600
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert ckpt.exists(), "the run never reached checkpoint-4"
    assert not (out / "adapter").exists(), "the run finished before it was killed; nothing was resumed"

    r = run_jaft("train", "--resume", "--output", str(out))
    assert r.returncode == 0, r.stderr[-3000:]
    a = load_file(tmp_path / "a" / "adapter" / "adapter_model.safetensors")
    b = load_file(out / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    steps = [row["step"] for row in RunDir(out).read_metrics() if "loss" in row]
    assert steps[-1] == 12


def test_resume_errors(tmp_path):
    assert_clean_error(run_jaft("train", "--resume"), "--output")
    (tmp_path / "jaft_run.yaml").write_text("stage: sft\nconfig: {}\n", encoding="utf-8")
    assert_clean_error(run_jaft("train", "--resume", "--output", str(tmp_path)), "no checkpoint")
    assert_clean_error(run_jaft("train", "--resume", str(tmp_path)), "not a checkpoint")


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tiny_qwen, tmp_path):
    data = problems_file(tmp_path / "p.jsonl")
    out = tmp_path / "ddp"
    r = run_jaft(*common(tiny_qwen, data, out, steps=2), "--num-processes", "2", timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "rank 0 of 2 ready" in r.stderr and "rank 1 of 2 ready" in r.stderr
    run = RunDir(out)
    rec = run.read_run_file()
    assert rec["world_size"] == 2 and rec["status"] == "finished"
    assert (run.adapter_dir / "adapter_model.safetensors").is_file()
    steps = [row["step"] for row in run.read_metrics() if "loss" in row]
    assert steps == sorted(set(steps)), "metrics written by more than one rank"
