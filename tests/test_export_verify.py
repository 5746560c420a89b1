"""Quantization through llama.cpp and verification of every GGUF against the HF model."""

from __future__ import annotations

import pytest

from jaft.errors import JaftError


@pytest.fixture(scope="module")
def f16(tiny_qwen, tmp_path_factory):
    from jaft.export.gguf import convert_to_gguf

    out = tmp_path_factory.mktemp("q") / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, out)
    return out


@pytest.mark.parametrize("qtype,ftype", [("q4_k_m", 15), ("q8_0", 7)])
def test_quantize_with_llama_cpp(f16, qtype, ftype):
    import gguf

    from jaft.export.quantize import quantize

    steps = []
    r = quantize(f16, f16.with_name(f"model-{qtype}.gguf"), qtype, progress=steps.append)
    reader = gguf.GGUFReader(str(r.path))
    assert reader.fields["general.file_type"].contents() == ftype
    assert 0 < r.size_bytes < f16.stat().st_size
    assert sum(steps) == len(reader.tensors)  # progress followed llama.cpp's per-tensor log lines
    kinds = {t.tensor_type.name for t in reader.tensors}
    assert ("Q4_K" in kinds) if qtype == "q4_k_m" else ("Q8_0" in kinds)
    assert reader.fields["tokenizer.chat_template"].contents()  # metadata carried over


def test_quantize_refuses_unknown_type_and_missing_llama_cpp(f16, monkeypatch, tmp_path):
    import importlib.util

    from jaft.export.quantize import quantize

    with pytest.raises(JaftError, match="choose from"):
        quantize(f16, f16.with_name("x.gguf"), "q3_k_s")
    # A truncated file is refused before llama.cpp reads it.
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(f16.read_bytes()[: f16.stat().st_size // 3])
    with pytest.raises(JaftError, match="not a readable GGUF file"):
        quantize(cut, tmp_path / "cut-q4.gguf", "q4_k_m")
    real_find_spec = importlib.util.find_spec

    def no_llama_cpp(name, *a, **k):
        return None if name == "llama_cpp" else real_find_spec(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", no_llama_cpp)
    with pytest.raises(JaftError, match=r"pip install 'jaft\[gguf\]'"):
        quantize(f16, f16.with_name("y.gguf"), "q4_k_m")


def test_verify_f16_against_hf(tiny_qwen, f16):
    from jaft.export.quantize import quantize
    from jaft.export.verify import verify

    q8 = quantize(f16, f16.with_name("model-q8_0-v.gguf"), "q8_0").path
    r = verify(tiny_qwen, tiny_qwen, {"f16": f16, "q8_0": q8})
    assert r.passed, r.failures
    assert r.files["f16"].top1_agreement >= 0.99
    assert r.files["f16"].mean_kl < 1e-4
    assert r.files["q8_0"].mean_kl >= r.files["f16"].mean_kl  # quantization costs fidelity, never gains it
    assert r.files["f16"].positions > 150  # every position of six Japanese prompts
    assert r.tokenization["identical"] and r.tokenization["chat_identical"]


def test_verify_catches_a_wrong_conversion(tiny_llama, tmp_path, monkeypatch):
    """Without the Q/K permutation the F16 file disagrees with HF and verification fails loudly."""
    import jaft.export.gguf as g
    from jaft.export.verify import verify

    monkeypatch.setattr(g, "permute_qk", lambda w, n_head: w)
    bad = tmp_path / "bad.gguf"
    g.convert_to_gguf(tiny_llama, bad)
    r = verify(tiny_llama, tiny_llama, {"f16": bad})
    assert not r.passed
    assert r.files["f16"].top1_agreement < 0.99
    assert "conversion is wrong" in r.failures[0]


def test_tokenization_mismatch_is_a_failure(tiny_qwen, f16):
    """A GGUF whose vocabulary does not match the tokenizer is reported, not silently accepted."""
    from transformers import AutoTokenizer

    from jaft.export.verify import check_tokenization

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen))
    assert check_tokenization(tok, f16)["identical"]
    tok.add_tokens(["日本語の文章"])  # HF now splits differently from the GGUF vocabulary
    r = check_tokenization(tok, f16)
    assert not r["identical"] and r["first_difference"]["index"] == 0


@pytest.mark.parametrize(
    "hf,gguf,agreement,agreement_all,ties",
    [
        ([[3.0, 1.0, 0.0]], [[2.9, 1.1, 0.0]], 1.0, 1.0, 0),  # same winner
        ([[3.0, 1.0, 0.0]], [[1.0, 3.0, 0.0]], 0.0, 0.0, 0),  # a real flip
        ([[1.0, 1.0 - 1e-6, 0.0]], [[1.0 - 1e-6, 1.0, 0.0]], 1.0, 0.0, 1),  # near-tie: set aside
        ([[3.0, 1.0, 0.0], [1.0, 1.0, -5.0]], [[3.0, 1.0, 0.0], [0.9, 1.0, -5.0]], 1.0, 0.5, 1),
    ],
)
def test_top1_agreement_sets_near_ties_aside(hf, gguf, agreement, agreement_all, ties):
    import numpy as np

    from jaft.export.verify import compare_logits

    c = compare_logits([np.array(hf, np.float32)], [np.array(gguf, np.float32)])
    assert c["top1_agreement"] == agreement and c["top1_agreement_all"] == agreement_all and c["ties"] == ties
    assert c["mean_kl"] >= 0
