import os

import pytest

from jaft.errors import JaftError
from jaft.hardware import apply_gpu_tuning, component_checks, detect
from jaft.rundir import RunDir


def test_detect_cpu_machine(tmp_path):
    hw = detect(tmp_path / "not-yet-created")
    assert hw.backend in ("cpu", "cuda", "rocm", "mps")
    assert hw.ram_total_gb > 0 and hw.disk_free_gb > 0 and hw.cpu_count >= 1
    if hw.backend == "cpu":
        assert hw.gpus == [] and not hw.bf16


def test_tuning_only_where_device_present(monkeypatch):
    hw = detect()
    monkeypatch.delenv("PYTORCH_CUDA_ALLOC_CONF", raising=False)
    if hw.backend == "cpu":
        assert apply_gpu_tuning(hw) == []
        assert "PYTORCH_CUDA_ALLOC_CONF" not in os.environ


def test_component_checks_say_how_to_fix():
    checks = {c.name: c for c in component_checks(detect())}
    for name in ("bitsandbytes", "fugashi", "flash-attention", "llama.cpp bindings", "ollama", "accelerator"):
        assert name in checks
    assert checks["fugashi"].ok  # a core dependency: must work here
    for c in checks.values():
        assert c.ok or c.fix, c.name


def test_run_file_round_trip(tmp_path):
    from jaft.config import load_run_config

    rd = RunDir(tmp_path / "run")
    cfg = load_run_config(sets=["train.epochs=2"])
    rd.write_run_file(stage="sft", config=cfg, applied={"batch_size": {"value": 4, "why": "registry"}})
    back = rd.read_run_file()
    assert back["stage"] == "sft" and back["applied"]["batch_size"]["value"] == 4
    assert back["versions"]["torch"] and back["versions"]["jaft"]
    assert rd.read_config() == cfg
    assert not list(rd.path.glob(".*.tmp"))


def test_recorded_command_pastes_back_into_a_shell(tmp_path, monkeypatch):
    import shlex

    argv = ["/venv/bin/jaft", "data", "prepare", "日本語 フォルダ/a.jsonl", "it's.txt", "--out", "出力 先"]
    monkeypatch.setattr("sys.argv", argv)
    rec = RunDir(tmp_path).write_run_file(stage="data", config={})
    assert shlex.split(rec["command"]) == ["jaft", *argv[1:]]


def test_metrics_survive_a_cut_line(tmp_path):
    rd = RunDir(tmp_path)
    rd.append_metrics({"step": 1, "loss": 2.0})
    with rd.metrics_file.open("a") as f:
        f.write('{"step": 2, "lo')  # killed mid-write
    assert rd.read_metrics() == [{"step": 1, "loss": 2.0}]


def test_missing_run_and_weights(tmp_path):
    with pytest.raises(JaftError, match="not a jaft run directory"):
        RunDir(tmp_path).read_run_file()
    with pytest.raises(JaftError, match="no adapter/ or model/"):
        RunDir(tmp_path).final_weights()
