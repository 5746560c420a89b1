"""Merge: LoRA / QLoRA adapters into the 16-bit base, shard by shard, with PEFT as the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jaft.errors import JaftError

PROMPT = "吾輩は猫である。名前はまだ無い。"


def _logits(model_dir_or_model, tokenizer_dir: Path) -> torch.Tensor:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = model_dir_or_model
    if isinstance(model, (str, Path)):
        model = AutoModelForCausalLM.from_pretrained(str(model), dtype=torch.float32)
    ids = torch.tensor([tok(PROMPT)["input_ids"]])
    with torch.no_grad():
        return model(ids).logits[0]


def _peft_reference(base: Path, adapter: Path) -> torch.Tensor:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    return _logits(PeftModel.from_pretrained(model, str(adapter)), base)


def _assert_merged_equals_adapter(base: Path, adapter: Path, merged: Path) -> None:
    ref = _peft_reference(base, adapter)
    got = _logits(merged, merged)
    plain = _logits(base, base)
    effect = (ref - plain).abs().max().item()
    err = (got - ref).abs().max().item()
    # The adapter moves logits by O(1); float16 rounding of the merged weights by O(1e-3).
    assert effect > 0.1, effect
    assert err < 0.02 * effect, (err, effect)


def test_shard_merge_equals_base_plus_adapter(tiny_qwen, lora_run_factory, tmp_path):
    from transformers import AutoModelForCausalLM

    from jaft.export.merge import merge_adapter

    run = lora_run_factory(tiny_qwen)
    r = merge_adapter(tiny_qwen, run / "adapter", tmp_path / "merged", tokenizer_dir=run / "adapter")
    assert r.method == "shard" and r.lora_modules == 2 * 7
    _assert_merged_equals_adapter(tiny_qwen, run / "adapter", tmp_path / "merged")
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"))
    assert not [n for n, _ in model.named_modules() if "lora" in n]
    assert model.dtype == torch.float16
    for f in ("config.json", "tokenizer.json", "chat_template.jinja", "generation_config.json"):
        assert (tmp_path / "merged" / f).is_file(), f
    assert not (tmp_path / "merged" / "adapter_config.json").exists()


@pytest.mark.slow
def test_sharded_base_keeps_shards_and_index(tiny_llama, lora_run_factory, tmp_path):
    from transformers import AutoModelForCausalLM

    from jaft.export.merge import merge_adapter

    base = tmp_path / "sharded"
    AutoModelForCausalLM.from_pretrained(str(tiny_llama)).save_pretrained(str(base), max_shard_size="1MB")
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        (base / f).write_bytes((tiny_llama / f).read_bytes())
    shards = sorted(p.name for p in base.glob("*.safetensors"))
    assert len(shards) > 2
    run = lora_run_factory(tiny_llama)
    r = merge_adapter(base, run / "adapter", tmp_path / "merged", tokenizer_dir=run / "adapter")
    assert r.method == "shard"
    assert sorted(p.name for p in (tmp_path / "merged").glob("*.safetensors")) == shards
    index = json.loads((tmp_path / "merged" / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    _assert_merged_equals_adapter(tiny_llama, run / "adapter", tmp_path / "merged")


def test_qlora_run_merges_into_16bit_base_weights(tiny_qwen, lora_run_factory, tmp_path):
    """A QLoRA adapter is added to the 16-bit base weights, not to a 4-bit (dequantized) copy."""
    from safetensors import safe_open

    from jaft.export.pipeline import ExportRequest, run_export

    run = lora_run_factory(tiny_qwen, method="qlora")
    report = run_export(ExportRequest(out=tmp_path / "out", run=str(run)), target="merge")
    assert report["stages"]["merge"]["trained_4bit"] is True
    assert any("16-bit" in n for n in report["stages"]["merge"]["notes"])
    name = "model.layers.0.self_attn.q_proj.weight"
    with safe_open(str(tiny_qwen / "model.safetensors"), "pt") as f:
        w16 = f.get_tensor(name)
    with safe_open(str(run / "adapter" / "adapter_model.safetensors"), "pt") as f:
        a = f.get_tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
        b = f.get_tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight")
    with safe_open(str(tmp_path / "out" / "merged" / "model.safetensors"), "pt") as f:
        merged = f.get_tensor(name).float()
    expected = (w16.float() + (16 / 8) * b @ a).half().float()
    assert torch.equal(merged, expected)
    # What merging into NF4 weights would have produced is measurably different.
    import bitsandbytes.functional as bnbf

    q, state = bnbf.quantize_4bit(w16.float(), quant_type="nf4")
    w4 = bnbf.dequantize_4bit(q, state).float()
    assert (w4 - w16.float()).abs().mean() > 1e-4
    assert not torch.allclose(merged, (w4 + 2 * b @ a).half().float())


@pytest.mark.slow
def test_dora_adapter_falls_back_to_peft(tiny_qwen, lora_run_factory, tmp_path):
    from jaft.export.merge import merge_adapter

    run = lora_run_factory(tiny_qwen, use_dora=True, target_modules=["q_proj", "v_proj"])
    r = merge_adapter(tiny_qwen, run / "adapter", tmp_path / "merged", tokenizer_dir=run / "adapter")
    assert r.method == "peft" and "use_dora" in r.notes[0]
    assert r.lora_modules == 2 * 2  # q_proj and v_proj in two layers, counted before merge_and_unload
    _assert_merged_equals_adapter(tiny_qwen, run / "adapter", tmp_path / "merged")


def test_modules_to_save_with_resized_vocabulary(tiny_qwen, tmp_path):
    """An adapter that saved resized embed_tokens / lm_head (an extended tokenizer) updates vocab_size."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jaft.export.merge import merge_adapter

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen))
    tok.add_tokens(["東京都庁", "新幹線"])
    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen), dtype=torch.float32)
    rows = model.get_input_embeddings().weight.shape[0] + 64
    model.resize_token_embeddings(rows, mean_resizing=False)
    torch.manual_seed(1)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                                  target_modules=["q_proj"], modules_to_save=["lm_head", "embed_tokens"]))
    with torch.no_grad():
        peft_model.base_model.model.lm_head.modules_to_save["default"].weight.mul_(1.5)
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(str(adapter))
    tok.save_pretrained(str(adapter))
    r = merge_adapter(tiny_qwen, adapter, tmp_path / "merged", tokenizer_dir=adapter)
    assert r.method == "shard" and r.vocab_size == rows
    assert sorted(r.replaced) == ["lm_head.weight", "model.embed_tokens.weight"]
    assert json.loads((tmp_path / "merged" / "config.json").read_text())["vocab_size"] == rows
    merged_tok = AutoTokenizer.from_pretrained(str(tmp_path / "merged"))
    ids = merged_tok("東京都庁へ新幹線で")["input_ids"]
    assert merged_tok.convert_tokens_to_ids("東京都庁") in ids  # the extended tokenizer travelled along
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32)
    with torch.no_grad():
        ref = peft_model(torch.tensor([ids])).logits[0]
        got = merged(torch.tensor([ids])).logits[0]
    assert got.shape[-1] == rows
    assert (got - ref).abs().max() < 0.02


def test_adapter_for_another_model_is_refused(tiny_qwen, lora_run_factory, tmp_path):
    from transformers import AutoModelForCausalLM

    from jaft.export.merge import merge_adapter
    from jaft.models.tiny import tiny_config

    # Same module names, other shapes: a hidden-128 qwen2
    small = tmp_path / "small"
    cfg = tiny_config("qwen2", 1216, hidden_size=128, tie=False, bos=1, eos=2, pad=3)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(str(small))
    run = lora_run_factory(tiny_qwen)
    with pytest.raises(JaftError, match="does not fit the base"):
        merge_adapter(small, run / "adapter", tmp_path / "merged", tokenizer_dir=run / "adapter")
    assert not (tmp_path / "merged").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
