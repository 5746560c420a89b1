import hashlib
import json
from pathlib import Path

import pytest

from jaft.models.tiny import init_tiny


def _digest(d: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_same_seed_same_bytes(tmp_path, arch):
    a = init_tiny(tmp_path / "a", arch, "bpe", seed=3)
    b = init_tiny(tmp_path / "b", arch, "bpe", seed=3)
    c = init_tiny(tmp_path / "c", arch, "bpe", seed=4)
    assert _digest(a) == _digest(b)
    assert _digest(a)["model.safetensors"] != _digest(c)["model.safetensors"]


def test_loads_with_auto_classes_and_is_small(tiny_qwen, tiny_llama):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for d, model_type in ((tiny_qwen, "qwen2"), (tiny_llama, "llama")):
        model = AutoModelForCausalLM.from_pretrained(d)
        tok = AutoTokenizer.from_pretrained(d)
        assert model.config.model_type == model_type
        assert sum(p.numel() for p in model.parameters()) < 5_000_000
        assert model.config.vocab_size >= len(tok) and model.config.vocab_size % 64 == 0
        ids = tok("日本語のテストです。", return_tensors="pt").input_ids
        assert model(ids).logits.shape[-1] == model.config.vocab_size
    assert json.loads((tiny_llama / "config.json").read_text())["rope_parameters"]["rope_type"] == "llama3"


def test_r1_chat_template(tiny_qwen):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen)
    msgs = [{"role": "user", "content": "1+1は？"},
            {"role": "assistant", "content": "<think>\n足す。\n</think>\n<answer>2</answer>"}]
    assert tok.apply_chat_template(msgs[:1], tokenize=False, add_generation_prompt=True) == (
        "<｜begin▁of▁sentence｜><｜User｜>1+1は？<｜Assistant｜><think>\n"
    )
    # The stock R1 template drops the reasoning of assistant turns (what SFT must work around).
    assert tok.apply_chat_template(msgs, tokenize=False) == (
        "<｜begin▁of▁sentence｜><｜User｜>1+1は？<｜Assistant｜>\n<answer>2</answer><｜end▁of▁sentence｜>"
    )
    for t in ("<think>", "</think>", "<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"):
        assert len(tok(t, add_special_tokens=False).input_ids) == 1, t


def test_qwen25_tokenizer_real_ids(tiny_qwen25):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_qwen25)
    expected = {"<｜end▁of▁sentence｜>": 151643, "<｜User｜>": 151644, "<｜Assistant｜>": 151645,
                "<｜begin▁of▁sentence｜>": 151646, "<think>": 151648, "</think>": 151649}
    assert {t: tok.convert_tokens_to_ids(t) for t in expected} == expected
    assert len(tok) == 151665
    # Qwen2.5 ids for ordinary text (its tiktoken ranks): "Hello" 9707, " world" 1879.
    assert tok("Hello world", add_special_tokens=False).input_ids == [9707, 1879]
    text = "日本語の文章をトークン化します。"
    assert tok.decode(tok(text).input_ids) == text
    assert 1.2 < len(text) / len(tok(text).input_ids) < 1.8  # Qwen2.5 sits near 1.4 chars/token
