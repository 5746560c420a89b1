"""bench/gpu.py's CPU smoke mode: both sides train the same batches and count the same tokens."""

from __future__ import annotations

import json
import random

import pytest
from bench import gpu

PARAGRAPHS = [
    "Debian は自由なオペレーティングシステムです。",
    "パッケージは apt で入れます。依存関係は自動で解決されます。",
    "設定ファイルは /etc の下にあり、変更する前にバックアップを取ってください。",
    "カーネルを更新したら再起動が必要です。",
    "ネットワークの設定は NetworkManager か ifupdown で行います。長い説明が続くこともあります。" * 3,
    "ログは journalctl で読めます。",
]


@pytest.fixture(scope="module")
def token_file(tiny_qwen25, tmp_path_factory):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen25)
    data = gpu.prepare_tokens(PARAGRAPHS, tok, {"full": (2, 40, True), "mix": (3, 64, False)}, steps=3)
    path = tmp_path_factory.mktemp("bench") / "tokens.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, data


def test_token_file_rows(token_file):
    _, data = token_file
    full, mix = data["cases"]["full"], data["cases"]["mix"]
    assert [[len(e["input_ids"]) for e in b] for b in full["batches"]] == [[40, 40]] * 3
    for b in mix["batches"]:
        assert len(b) == 3
        for e in b:
            assert 0 < len(e["input_ids"]) <= 64 and len(e["completion_mask"]) == len(e["input_ids"])
            assert e["completion_mask"][0] == 0 and e["completion_mask"][-1] == 1  # the prompt is not trained


def test_log_uniform_lengths_span_the_range():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # One token per character: lengths are easy to reason about.
    chars = sorted(set("".join(PARAGRAPHS) + gpu.PROMPT + "\n"))
    t = Tokenizer(models.WordLevel({c: i for i, c in enumerate(chars)} | {"<unk>": len(chars)}, unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=t, eos_token="<unk>")
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    rows = gpu.make_examples(PARAGRAPHS * 20, tok, 200, 1024, False, random.Random(0))
    lengths = sorted(len(r["input_ids"]) for r in rows)
    assert lengths[0] < 100 and lengths[-1] > 500 and lengths[-1] <= 1024


@pytest.mark.parametrize("case", ["full", "mix"])
def test_both_sides_train_identical_batches_and_tokens(token_file, tiny_qwen25, tmp_path, case):
    path, data = token_file
    common = {"tokens": str(path), "model_dir": str(tiny_qwen25), "method": "lora", "case": case, "steps": 3,
              "warmup": 1, "model": "qwen-1.5b"}
    base = gpu.worker({**common, "side": "baseline", "gc": False, "out": str(tmp_path / "b")})
    ours = gpu.worker({**common, "side": "jaft", "out": str(tmp_path / "j")})
    expected = gpu.case_tokens(data["cases"][case], 1, 3)
    assert base["tokens_seen"] == ours["tokens_seen"] == base["tokens_expected"] == expected
    assert base["fingerprints"] == ours["fingerprints"] and len(ours["fingerprints"]) == 3
    assert ours["applied"]["gradient_checkpointing"] is False
    # The report puts both sides in one row and says the batches agreed.
    rows = [{"kind": "env", "device": "CPU (smoke)", "smoke": True}, {"kind": "peak", "tflops": 0.01},
            {"kind": "built", "model": "qwen-1.5b", "parameters": 1000},
            {"kind": "run", **base}, {"kind": "run", **ours}]
    text = gpu.report(rows)
    assert f"| qwen-1.5b | lora | {case} | not run |" in text
    assert "byte-identical batches" in text and "exactly the token file's tokens" in text


def test_device_run_skips_what_the_budget_cannot_hold(token_file, tmp_path):
    path, _ = token_file
    out = tmp_path / "results.jsonl"
    gpu.device_run(path, out, tmp_path / "work", phase="core", budget_s=5, smoke=True)
    rows = gpu.read_results(out)
    kinds = [r["kind"] for r in rows]
    assert kinds[:2] == ["env", "peak"] and kinds[-1] == "done"
    skipped = [r for r in rows if r["kind"] == "skipped"]
    assert len(skipped) == len(gpu.plan("core", smoke=True)) and "s left" in skipped[0]["why"]
    assert not (tmp_path / "work" / "models").exists()  # nothing was built for runs that could not fit
    assert "Not measured:" in gpu.report(rows)
