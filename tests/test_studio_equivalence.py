"""A run started from the studio equals the same command typed in a terminal (tiny model, CPU).

The studio builds the command from its form and starts it as a job; the test runs the identical argv
through the CLI into a second directory and compares what both wrote: the prepared data byte for byte,
and for SFT the file list, every metrics row (same steps, keys and losses) and the recorded config.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaft.studio import commands
from jaft.studio.jobs import JobManager
from tests.conftest import run_jaft

pytestmark = pytest.mark.slow

VOLATILE_REPORT = {"seconds", "records_per_second"}


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _swap(argv: list[str], old: str, new: str) -> list[str]:
    return [new if a == old else a for a in argv]


def test_ui_and_cli_write_the_same_run(tmp_path, tiny_qwen):
    import yaml

    jobs = JobManager(tmp_path)
    # Data: trial mode, bundled samples.
    prep = commands.prepare_command(jobs, inputs="", samples=[], mode="trial", out="data/ui", augment=1,
                                    val_ratio=0.05, seed=0)
    job = jobs.start(prep.kind, prep.argv, prep.output)
    assert jobs.wait(job, 300) == "finished", jobs.tail(job)
    cli = run_jaft(*_swap(prep.argv, "data/ui", "data/cli")[1:], cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    ui_dir, cli_dir = tmp_path / "data" / "ui", tmp_path / "data" / "cli"
    assert _files(ui_dir) == _files(cli_dir)
    for name in ("train.jsonl", "validation.jsonl", "rejects.jsonl"):
        assert (ui_dir / name).read_bytes() == (cli_dir / name).read_bytes(), name
    rep_ui, rep_cli = (json.loads((d / "report.json").read_text()) for d in (ui_dir, cli_dir))
    assert {k: v for k, v in rep_ui.items() if k not in VOLATILE_REPORT} == {
        k: v for k, v in rep_cli.items() if k not in VOLATILE_REPORT}

    # SFT: a few steps of full fine-tuning on the tiny model.
    train = commands.train_command(jobs, model=str(tiny_qwen), data="data/ui", out="runs/ui", method="full",
                                   epochs=1, max_steps=3, lr=1e-3, batch=8, logging_steps=1,
                                   system_prompt="日本語で考えてから答えてください。")
    job = jobs.start(train.kind, train.argv, train.output)
    assert jobs.wait(job, 600) == "finished", jobs.tail(job)
    cli = run_jaft(*_swap(train.argv, "runs/ui", "runs/cli")[1:], cwd=tmp_path)
    assert cli.returncode == 0, cli.stderr
    ui_run, cli_run = tmp_path / "runs" / "ui", tmp_path / "runs" / "cli"
    assert _files(ui_run) == _files(cli_run)
    assert (ui_run / "model" / "config.json").is_file()
    rows_ui, rows_cli = ([json.loads(ln) for ln in (d / "metrics.jsonl").read_text().splitlines()]
                         for d in (ui_run, cli_run))
    assert [r["step"] for r in rows_ui] == [r["step"] for r in rows_cli] and len(rows_ui) >= 3
    for a, b in zip(rows_ui, rows_cli, strict=True):
        assert set(a) == set(b)
        if "loss" in a:
            assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    rec_ui, rec_cli = (yaml.safe_load((d / "jaft_run.yaml").read_text()) for d in (ui_run, cli_run))
    assert rec_ui["stage"] == rec_cli["stage"] == "sft"
    assert rec_ui["command"] == rec_cli["command"].replace("runs/cli", "runs/ui")
    assert rec_ui["command"].startswith("jaft train --model-name")
    cfg_ui, cfg_cli = rec_ui["config"], rec_cli["config"]
    assert cfg_ui["train"].pop("output_dir").endswith("runs/ui") and cfg_cli["train"].pop("output_dir").endswith("runs/cli")
    assert cfg_ui == cfg_cli
    assert cfg_ui["train"]["system_prompt"] == "日本語で考えてから答えてください。"
    assert rec_ui["applied"] == rec_cli["applied"]
