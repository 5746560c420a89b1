"""`jaft export`: every stage end to end, report, reuse of valid outputs, preflight and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from jaft.errors import JaftError
from tests.conftest import assert_clean_error, run_jaft


@pytest.fixture(scope="module")
def exported(tiny_qwen, lora_run_factory, tmp_path_factory):
    """One full export of a LoRA run (the module's tests inspect it)."""
    from jaft.export.cli_support import run_cli

    run = lora_run_factory(tiny_qwen)
    out = tmp_path_factory.mktemp("export")
    (out / ".model-f16.gguf.x1y2.tmp").write_bytes(b"partial")  # left by a killed conversion
    report = run_cli("all", run=str(run), model=None, adapter=None, out=str(out), quant="q4_k_m,q8_0")
    return run, out, report


def test_full_export_writes_every_output_and_the_report(exported):
    run, out, report = exported
    for f in ("merged/config.json", "model-f16.gguf", "model-q4_k_m.gguf", "model-q8_0.gguf", "Modelfile",
              "export_report.json", "jaft_run.yaml", "verify.json"):
        assert (out / f).is_file(), f
    assert not (out / ".model-f16.gguf.x1y2.tmp").exists()
    on_disk = json.loads((out / "export_report.json").read_text(encoding="utf-8"))
    assert on_disk["stages"].keys() == {"merge", "gguf", "quantize", "verify", "ollama"}
    st = on_disk["stages"]
    assert st["merge"]["status"] == "done" and st["merge"]["method"] == "shard"
    assert st["gguf"]["vocab"]["pre"] == "deepseek-r1-qwen"
    assert set(st["quantize"]) == {"q4_k_m", "q8_0"}
    assert st["verify"]["passed"] and st["verify"]["files"]["f16"]["top1_agreement"] >= 0.99
    assert set(st["verify"]["files"]) == {"f16", "q4_k_m", "q8_0"}
    assert all("mean_kl" in f for f in st["verify"]["files"].values())
    assert st["verify"]["tokenization"]["identical"]
    assert st["ollama"]["gguf"] == "model-q4_k_m.gguf" and "ollama create" in st["ollama"]["command"]
    assert on_disk["preflight"]["disk_needed_gb"] >= 0 and on_disk["preflight"]["stages"]
    record = yaml.safe_load((out / "jaft_run.yaml").read_text(encoding="utf-8"))
    assert record["stage"] == "export" and record["source"]["run_dir"] == str(run)
    assert record["config"]["export"]["quant"] == ["q4_k_m", "q8_0"]
    assert report["outputs"]["model-f16.gguf"] == (out / "model-f16.gguf").stat().st_size


def test_rerun_reuses_valid_outputs_and_rebuilds_a_changed_one(exported):
    from jaft.export.cli_support import run_cli

    run, out, _ = exported
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".gguf"}
    report = run_cli("all", run=str(run), model=None, adapter=None, out=str(out), quant="q4_k_m,q8_0")
    st = report["stages"]
    assert [st[s]["status"] for s in ("merge", "gguf", "verify", "ollama")] == ["reused"] * 4
    assert {q["status"] for q in st["quantize"].values()} == {"reused"}
    assert before == {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.suffix == ".gguf"}
    # Same name, same size, different bytes: existence and size are not enough to be reused.
    q4 = out / "model-q4_k_m.gguf"
    data = bytearray(q4.read_bytes())
    data[100] ^= 0xFF
    q4.write_bytes(bytes(data))
    report = run_cli("quantize", run=str(run), model=None, adapter=None, out=str(out), quant="q4_k_m,q8_0")
    st = report["stages"]
    assert st["merge"]["status"] == "reused" and st["gguf"]["status"] == "reused"
    assert st["quantize"]["q4_k_m"]["status"] == "done" and st["quantize"]["q8_0"]["status"] == "reused"


def test_preflight_refuses_with_the_numbers(tiny_qwen, lora_run_factory, tmp_path, monkeypatch):
    import jaft.export.preflight as pf
    from jaft.export.pipeline import ExportRequest, run_export

    monkeypatch.setattr(pf, "_free_disk", lambda path: 1_000_000)
    with pytest.raises(JaftError, match=r"preflight: export needs \d+\.\d+ GB of free disk .* 0\.00 GB is free"):
        run_export(ExportRequest(out=tmp_path / "out", run=str(lora_run_factory(tiny_qwen))))
    assert not (tmp_path / "out" / "merged").exists()
    monkeypatch.setattr(pf, "_free_disk", lambda path: 10**12)
    monkeypatch.setattr(pf, "_available_ram", lambda: 10_000_000)
    with pytest.raises(JaftError, match=r"needs about \d+\.\d+ GB of RAM"):
        run_export(ExportRequest(out=tmp_path / "out", run=str(lora_run_factory(tiny_qwen))))


def _fake_gpt_neox(path: Path) -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "gpt_neox", "num_hidden_layers": 1}))
    save_file({"model.embed_tokens.weight": np.zeros((4, 4), np.float16)}, str(path / "model.safetensors"))
    return path


def _run_without_weights(path: Path, model_name: str | None) -> Path:
    from jaft.config import RunConfig
    from jaft.rundir import RunDir

    cfg = RunConfig.model_validate({"model": {"model_name": model_name}, "train": {"method": "lora"}})
    RunDir(path).write_run_file(stage="sft", config=cfg)
    return path


@pytest.mark.parametrize("case", ["no-weights", "base-missing", "hub-base-offline", "unsupported", "both",
                                  "not-a-run", "bad-quant"])
def test_bad_input_is_one_clear_line(case, tmp_path, tiny_qwen, lora_run_factory):
    out = tmp_path / "out"
    if case == "no-weights":
        args, needle = ["--run", str(_run_without_weights(tmp_path / "r", str(tiny_qwen)))], "no adapter/ or model/"
    elif case in ("base-missing", "hub-base-offline"):
        run = tmp_path / "r"
        adapter = lora_run_factory(tiny_qwen) / "adapter"
        (run / "adapter").mkdir(parents=True)
        for f in adapter.iterdir():
            (run / "adapter" / f.name).write_bytes(f.read_bytes())
        _run_without_weights(run, "/nonexistent/base" if case == "base-missing" else "nobody/no-such-model")
        args, needle = ["--run", str(run)], "cannot be found"
    elif case == "unsupported":
        args, needle = ["--model", str(_fake_gpt_neox(tmp_path / "neox"))], "fine-tune stablelm-3b"
    elif case == "both":
        args, needle = ["--run", str(tmp_path), "--model", str(tiny_qwen)], "not both"
    elif case == "not-a-run":
        args, needle = ["--run", str(tmp_path)], "not a jaft run directory"
    else:
        args, needle = ["--model", str(tiny_qwen), "--quant", "q3_k_s"], "q3_k_s"
    r = run_jaft("export", *args, "--out", str(out), env={"HF_HUB_OFFLINE": "1"})
    assert_clean_error(r, needle)
    assert not out.exists() or not [p for p in out.iterdir() if not p.name.startswith(".")]


def test_stage_subcommand_and_help():
    r = run_jaft("export", "verify", "--help")
    assert r.returncode == 0 and "top-1" in r.stdout
    r = run_jaft("export")
    assert r.returncode == 0 and "merge" in r.stdout and "--run" in r.stdout


@pytest.mark.slow
def test_cli_export_of_a_llama_run(tiny_llama, lora_run_factory, tmp_path):
    """The real command line, start to end, on the llama architecture (llama3 RoPE → rope_freqs)."""
    run = lora_run_factory(tiny_llama, method="qlora")
    out = tmp_path / "out"
    r = run_jaft("export", "--run", str(run), "--out", str(out), "--quant", "q4_k_m", "--ollama-name", "tiny-llama:q4")
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "export_report.json").read_text(encoding="utf-8"))
    assert report["stages"]["merge"]["trained_4bit"] is True
    assert report["stages"]["gguf"]["arch"] == "llama"
    assert report["stages"]["verify"]["files"]["f16"]["top1_agreement"] >= 0.99
    assert "ollama create tiny-llama:q4 -f Modelfile" in r.stdout


def test_planner_chosen_qlora_is_recognised(tmp_path, tiny_qwen, lora_run_factory):
    """A run whose config left the method open and the planner chose QLoRA (≥22B) is a QLoRA run."""
    import shutil

    from jaft.config import RunConfig
    from jaft.export.source import resolve_source
    from jaft.rundir import RunDir

    run = tmp_path / "r"
    shutil.copytree(lora_run_factory(tiny_qwen) / "adapter", run / "adapter")
    RunDir(run).write_run_file(stage="sft", config=RunConfig.model_validate({"model": {"model_name": str(tiny_qwen)}}),
                               applied={"method": {"value": "qlora", "source": "planner", "why": "≥22B"}})
    assert resolve_source(run=str(run)).trained_4bit is True
