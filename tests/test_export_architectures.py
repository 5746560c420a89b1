"""Every architecture jaft exports: LoRA run → merge → GGUF F16 → Q4_K_M → verify → Modelfile (jaft issue 11)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("which,arch", [("tiny_qwen", "qwen2"), ("tiny_llama", "llama"), ("tiny_stablelm", "stablelm")])
def test_lora_run_exports_end_to_end(which, arch, request, lora_run_factory, tmp_path):
    from jaft.export.pipeline import Display, ExportRequest, run_export

    base = request.getfixturevalue(which)
    run = lora_run_factory(base)
    out = tmp_path / "export"
    report = run_export(ExportRequest(out=out, run=str(run), quants=["q4_k_m"]), "all", Display(quiet=True))
    stages = report["stages"]
    assert stages["merge"]["status"] == "done" and stages["merge"]["lora_modules"] == 2 * 7
    assert stages["gguf"]["arch"] == arch
    assert stages["quantize"]["q4_k_m"]["status"] == "done"
    v = stages["verify"]
    assert v["passed"], v["failures"]
    assert v["files"]["f16"]["top1_agreement"] >= 0.99 and v["files"]["f16"]["mean_kl"] < 1e-3
    assert v["tokenization"]["identical"]
    assert v["files"]["q4_k_m"]["mean_kl"] > v["files"]["f16"]["mean_kl"]
    modelfile = (out / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./model-q4_k_m.gguf" in modelfile or "model-q4_k_m.gguf" in modelfile
    assert "TEMPLATE" in modelfile
