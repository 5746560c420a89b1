"""`jaft eval --gguf`: the math eval and generation test through llama.cpp as Ollama runs the file."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import assert_clean_error, run_jaft


def test_eval_gguf_uses_the_modelfile_prompt(tiny_qwen, tmp_path):
    from jaft.export.gguf import convert_to_gguf
    from jaft.export.ollama import write_modelfile

    gguf = tmp_path / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, gguf)
    write_modelfile(gguf, tmp_path / "Modelfile", name="tiny:f16", system="<think>で考え<answer>で答える。")
    preds = tmp_path / "p.jsonl"
    r = run_jaft("eval", "--gguf", str(gguf), "--task", "math", "--limit", "3", "--max-new-tokens", "8",
                 "--out", str(preds), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout)
    assert result["template"] == str(tmp_path / "Modelfile")
    assert result["system_prompt"] == "<think>で考え<answer>で答える。"
    assert result["n"] == 3 and 0 <= result["format_rate"] <= 1
    assert len(preds.read_text(encoding="utf-8").splitlines()) == 3
    g = run_jaft("eval", "--gguf", str(gguf), "--task", "generate", "--max-new-tokens", "4", "--json")
    assert g.returncode == 0, g.stderr[-3000:]
    assert [x["prompt"] for x in json.loads(g.stdout)["generations"]] == ["こんにちは、私は", "日本語について", "機械学習とは"]


def test_eval_needs_exactly_one_of_model_or_gguf(tmp_path):
    assert_clean_error(run_jaft("eval", "--task", "math"), "--model", "--gguf")
    assert_clean_error(run_jaft("eval", "--gguf", str(tmp_path / "none.gguf")), "none.gguf")


def gguf_vs_hf(out: Path, *, limit: int = 50, max_new_tokens: int = 48) -> tuple[dict, dict]:
    """HF eval of the quickstart's GRPO run vs `jaft eval --gguf` of its F16 export (with its Modelfile)."""
    from jaft.eval.run import run_eval
    from jaft.export.gguf_chat import evaluate_gguf

    hf = run_eval(out / "runs" / "grpo", "math", limit=limit, max_new_tokens=max_new_tokens, batch_size=25,
                  out=str(out / "eval-cmp-hf.jsonl"))
    gg = evaluate_gguf(out / "export" / "model-f16.gguf", "math", limit=limit, max_new_tokens=max_new_tokens,
                       out=str(out / "eval-cmp-gguf.jsonl"))
    return hf, gg


def assert_gguf_eval_matches_hf(out: Path) -> None:
    """Deployment = evaluation: format rate and accuracy within 5 points, the same instruction used."""
    hf, gg = gguf_vs_hf(out)
    assert gg["system_prompt"] == hf["system_prompt"] and gg["template"].endswith("Modelfile")
    assert abs(hf["format_rate"] - gg["format_rate"]) <= 0.05, (hf, gg)
    assert abs(hf["accuracy"] - gg["accuracy"]) <= 0.05, (hf, gg)
