"""GGUF F16 conversion: metadata, tensors, vocabulary, pre-tokenizer choice, atomic writes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from jaft.errors import JaftError
from jaft.export.vocab import CONTROL, LLAMA3_REGEX, NORMAL, QWEN2_REGEX, UNUSED, USER_DEFINED, choose_pre


@pytest.fixture(scope="module")
def gguf_of(tmp_path_factory):
    """Convert a model directory once per module: ``gguf_of(model_dir) -> path``."""
    from jaft.export.gguf import convert_to_gguf

    done = {}

    def convert(model_dir):
        if model_dir not in done:
            out = tmp_path_factory.mktemp("gguf") / "model-f16.gguf"
            convert_to_gguf(model_dir, out)
            done[model_dir] = out
        return done[model_dir]

    return convert


def _reader(path):
    import gguf

    return gguf.GGUFReader(str(path))


def _field(reader, key):
    return reader.fields[key].contents()


@pytest.mark.parametrize("which,arch", [("tiny_qwen", "qwen2"), ("tiny_llama", "llama")])
def test_metadata_vocabulary_and_tensors(which, arch, request, gguf_of):
    from transformers import AutoConfig, AutoTokenizer

    model_dir = request.getfixturevalue(which)
    r = _reader(gguf_of(model_dir))
    cfg = AutoConfig.from_pretrained(str(model_dir))
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    assert _field(r, "general.architecture") == arch
    assert _field(r, f"{arch}.block_count") == cfg.num_hidden_layers
    assert _field(r, f"{arch}.attention.head_count_kv") == cfg.num_key_value_heads
    assert _field(r, "tokenizer.ggml.model") == "gpt2"
    # Tiny models use Qwen2's pre-tokenizer regex; the Qwen one carries R1's template → llama.cpp's R1 name.
    assert _field(r, "tokenizer.ggml.pre") == ("deepseek-r1-qwen" if arch == "qwen2" else "qwen2")
    assert "<｜Assistant｜>" in _field(r, "tokenizer.chat_template")
    assert _field(r, "tokenizer.ggml.add_bos_token") is False  # HF adds no BOS to plain text either
    tokens = _field(r, "tokenizer.ggml.tokens")
    types = _field(r, "tokenizer.ggml.token_type")
    assert len(tokens) == cfg.vocab_size  # every embedding row, padding included
    n_tok = len(tok)
    assert cfg.vocab_size > n_tok
    assert all(types[i] == UNUSED and tokens[i] == f"[PAD{i}]" for i in range(n_tok, cfg.vocab_size))
    assert types[tok.convert_tokens_to_ids("<｜User｜>")] == CONTROL
    assert types[tok.convert_tokens_to_ids("<think>")] == USER_DEFINED
    assert types[0] == NORMAL
    assert _field(r, "tokenizer.ggml.bos_token_id") == tok.bos_token_id
    assert _field(r, "tokenizer.ggml.eos_token_id") == tok.eos_token_id
    names = {t.name: t for t in r.tensors}
    assert names["token_embd.weight"].tensor_type.name == "F16"
    assert names["blk.0.attn_norm.weight"].tensor_type.name == "F32"
    if arch == "qwen2":
        assert {"blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"} <= set(names)
        assert "rope_freqs.weight" not in names
    else:
        assert "rope_freqs.weight" in names and "blk.0.attn_q.bias" not in names


def test_llama3_rope_freqs_match_transformers(tiny_llama, gguf_of):
    """rope_freqs are the divisors turning default RoPE frequencies into transformers' llama3 ones."""
    import torch
    from transformers import AutoConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    cfg = AutoConfig.from_pretrained(str(tiny_llama))
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](cfg, "cpu")
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    base = 1.0 / (cfg.rope_parameters["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
    r = _reader(gguf_of(tiny_llama))
    freqs = next(t for t in r.tensors if t.name == "rope_freqs.weight").data
    assert np.allclose(base.numpy() / freqs, scaled.numpy(), rtol=1e-5)
    assert freqs.min() == 1.0 and freqs.max() == 8.0  # high frequencies kept, low ones divided by 'factor'


def test_llama_q_k_rows_are_permuted_for_ggml_rope(tiny_llama, gguf_of):
    from safetensors import safe_open

    from jaft.export.gguf import permute_qk

    r = _reader(gguf_of(tiny_llama))
    tensors = {t.name: t for t in r.tensors}
    with safe_open(str(tiny_llama / "model.safetensors"), "np") as f:
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight")
        k = f.get_tensor("model.layers.0.self_attn.k_proj.weight")
        v = f.get_tensor("model.layers.0.self_attn.v_proj.weight")
    got_q = np.asarray(tensors["blk.0.attn_q.weight"].data).reshape(q.shape)
    got_k = np.asarray(tensors["blk.0.attn_k.weight"].data).reshape(k.shape)
    got_v = np.asarray(tensors["blk.0.attn_v.weight"].data).reshape(v.shape)
    assert np.array_equal(got_q, permute_qk(q, 4).astype(np.float16))
    assert np.array_equal(got_k, permute_qk(k, 2).astype(np.float16))
    assert not np.array_equal(got_q, q.astype(np.float16))  # the permutation is not the identity
    assert np.array_equal(got_v, v.astype(np.float16))


@pytest.mark.parametrize(
    "regex,family,arch,expected",
    [
        (QWEN2_REGEX, "deepseek-r1", "qwen2", "deepseek-r1-qwen"),
        (QWEN2_REGEX, "chatml", "qwen2", "qwen2"),
        (QWEN2_REGEX, "deepseek-r1", "llama", "qwen2"),
        (LLAMA3_REGEX, "deepseek-r1", "llama", "llama-bpe"),
        (LLAMA3_REGEX, "llama3", "llama", "llama-bpe"),
        (r"\p{N}{1,3}|[一-龥぀-ゟ゠-ヿ]+", "deepseek-r1", "qwen2", None),  # DeepSeek-V3 style: refused
        (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+", "unknown", "llama", None),
    ],
)
def test_pre_tokenizer_name_by_regex(regex, family, arch, expected):
    backend = {
        "model": {"type": "BPE"},
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        ]},
    }
    if expected is None:
        with pytest.raises(JaftError, match="pre-tokenizer not recognised"):
            choose_pre(backend, family, arch)
        assert choose_pre(backend, family, arch, override="qwen2") == "qwen2"  # explicit, then verified
    else:
        assert choose_pre(backend, family, arch) == expected


def test_extended_vocabulary_tokens_beyond_the_base(tiny_qwen, tmp_path):
    """Tokens added after training's base vocabulary keep their ids, types and tokenization in GGUF."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from jaft.export.gguf import convert_to_gguf
    from jaft.export.verify import check_tokenization

    tok = AutoTokenizer.from_pretrained(str(tiny_qwen))
    base_len = len(tok)
    tok.add_tokens(["東京都庁", "新幹線"])  # user-defined words
    tok.add_tokens(["<|tool_call|>"], special_tokens=True)  # a control token
    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen), dtype=torch.float32)
    model.resize_token_embeddings(len(tok), pad_to_multiple_of=64, mean_resizing=False)
    ext = tmp_path / "extended"
    model.save_pretrained(str(ext))
    tok.save_pretrained(str(ext))
    out = tmp_path / "ext.gguf"
    res = convert_to_gguf(ext, out)
    assert res.vocab["n_tokenizer"] == base_len + 3
    r = _reader(out)
    tokens, types = _field(r, "tokenizer.ggml.tokens"), _field(r, "tokenizer.ggml.token_type")
    for text, kind in (("東京都庁", USER_DEFINED), ("新幹線", USER_DEFINED), ("<|tool_call|>", CONTROL)):
        i = tok.convert_tokens_to_ids(text)
        assert i >= base_len and tokens[i] == text and types[i] == kind
    result = check_tokenization(tok, out, "東京都庁から新幹線で大阪へ行きます。<|tool_call|>は制御トークン。")
    assert result["identical"], result


@pytest.mark.parametrize("model_type,needle", [
    ("gpt_neox", r"no GGUF export for gpt_neox: .*SentencePiece.*stablelm-3b"),  # rinna: names what to use
    ("mamba", r"unsupported architecture 'mamba'.*llama, qwen2 and stablelm"),
])
def test_unsupported_architecture_is_refused(tmp_path, model_type, needle):
    from jaft.export.gguf import convert_to_gguf

    d = tmp_path / model_type
    d.mkdir()
    (d / "config.json").write_text(f'{{"model_type": "{model_type}", "num_hidden_layers": 2}}')
    (d / "model.safetensors").write_bytes(b"")
    with pytest.raises(JaftError, match=needle):
        convert_to_gguf(d, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_stablelm_follows_llama_cpps_converter(tiny_stablelm, gguf_of):
    """Metadata and tensors as llama.cpp's StableLMModel writes them (convert_hf_to_gguf.py)."""
    from safetensors import safe_open
    from transformers import AutoConfig

    r = _reader(gguf_of(tiny_stablelm))
    cfg = AutoConfig.from_pretrained(str(tiny_stablelm))
    assert _field(r, "general.architecture") == "stablelm"
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    assert _field(r, "stablelm.rope.dimension_count") == int(0.25 * head_dim) == 16  # partial rotary
    assert _field(r, "stablelm.attention.layer_norm_epsilon") == pytest.approx(1e-5)
    assert "stablelm.attention.layer_norm_rms_epsilon" not in r.fields
    assert _field(r, "stablelm.use_parallel_residual") is False
    assert _field(r, "stablelm.attention.head_count_kv") == cfg.num_key_value_heads
    assert "stablelm.rope.freq_base" not in r.fields  # 10000: llama.cpp's converter leaves it out
    assert _field(r, "tokenizer.ggml.pre") == "gpt-2"  # GPT-NeoX's byte-level split
    names = {t.name: t for t in r.tensors}
    for n in ("blk.0.attn_norm.bias", "blk.0.ffn_norm.bias", "output_norm.bias", "blk.1.attn_q.bias",
              "blk.1.attn_k.bias", "blk.1.attn_v.bias", "output.weight", "blk.0.ffn_gate.weight"):
        assert n in names, n
    assert names["blk.0.attn_norm.bias"].tensor_type.name == "F32"
    assert "rope_freqs.weight" not in names
    # Q rows are not permuted (llama.cpp runs StableLM with NeoX RoPE): bytes equal the checkpoint's.
    with safe_open(str(tiny_stablelm / "model.safetensors"), framework="np") as f:
        q = f.get_tensor("model.layers.0.self_attn.q_proj.weight").astype(np.float16)
        bias = f.get_tensor("model.layers.0.input_layernorm.bias")
    assert np.array_equal(np.asarray(names["blk.0.attn_q.weight"].data).reshape(q.shape), q)
    assert np.allclose(np.asarray(names["blk.0.attn_norm.bias"].data), bias) and np.abs(bias).max() > 0


@pytest.mark.parametrize("config,needle", [
    ({"qk_layernorm": True}, "qk_layernorm"),
    ({"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0, "partial_rotary_factor": 0.25}},
     "RoPE scaling type 'linear'"),
])
def test_stablelm_variants_llama_cpp_cannot_run_are_refused(tiny_stablelm, tmp_path, config, needle):
    import json
    import shutil

    from jaft.export.gguf import convert_to_gguf

    d = tmp_path / "m"
    shutil.copytree(tiny_stablelm, d)
    cfg = json.loads((d / "config.json").read_text()) | config
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(JaftError, match=needle):
        convert_to_gguf(d, tmp_path / "x.gguf")


def test_original_stablelm_epoch_config_is_read(tiny_stablelm, tmp_path):
    """japanese-stablelm-3b-4e1t ships the remote-code config (stablelm_epoch: rope_pct, norm_eps)."""
    import json
    import shutil

    from jaft.export.gguf import convert_to_gguf

    d = tmp_path / "epoch"
    shutil.copytree(tiny_stablelm, d)
    cfg = json.loads((d / "config.json").read_text())
    for k in ("rope_parameters", "layer_norm_eps", "use_parallel_residual"):
        cfg.pop(k)
    cfg |= {"model_type": "stablelm_epoch", "rope_pct": 0.25, "norm_eps": 1e-5, "rope_theta": 10000,
            "architectures": ["StableLMEpochForCausalLM"]}
    (d / "config.json").write_text(json.dumps(cfg))
    r = _reader(convert_to_gguf(d, tmp_path / "e.gguf").path)
    assert _field(r, "stablelm.rope.dimension_count") == 16
    assert _field(r, "stablelm.use_parallel_residual") is True  # llama.cpp's converter default when absent


_WRITE = textwrap.dedent(
    """
    import resource, signal, sys
    from jaft.export.gguf import convert_to_gguf
    from jaft.errors import JaftError
    # Past the size limit the kernel sends SIGXFSZ: ignored, the write fails (a full disk); with the
    # default action the process dies mid-write (an interrupted conversion).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN if sys.argv[3] == "full-disk" else signal.SIG_DFL)
    limit = int(sys.argv[4])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    try:
        convert_to_gguf(sys.argv[1], sys.argv[2])
    except JaftError as e:
        print(e, file=sys.stderr)
        sys.exit(2)
    """
)


@pytest.mark.parametrize("mode", ["full-disk", pytest.param("killed", marks=pytest.mark.slow)])
def test_failed_write_leaves_no_file_under_the_final_name(tiny_qwen, tmp_path, mode):
    """A full disk (a file-size limit) or a kill mid-write (SIGXFSZ) never leaves model-f16.gguf."""
    out = tmp_path / "model-f16.gguf"
    size = (tiny_qwen / "model.safetensors").stat().st_size
    r = subprocess.run([sys.executable, "-c", _WRITE, str(tiny_qwen), str(out), mode, str(size // 3)],
                       capture_output=True, text=True, timeout=300)
    assert not out.exists()
    if mode == "full-disk":
        assert r.returncode == 2, r.stderr
        assert "disk full while writing" in r.stderr and "no partial file" in r.stderr
        assert not list(tmp_path.iterdir())  # the temporary file was removed too
    else:
        assert r.returncode == -25  # killed by SIGXFSZ: no cleanup ran
        leftovers = list(tmp_path.iterdir())
        assert leftovers and all(p.name.startswith(".model-f16.gguf.") and p.name.endswith(".tmp") for p in leftovers)
        from jaft.export.state import remove_stale_temporaries

        assert remove_stale_temporaries(tmp_path) == [p.name for p in leftovers]
        assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_real_qwen25_vocabulary_and_extended_vocabulary(tiny_qwen25, tmp_path):
    """Qwen2.5's 151,665-token vocabulary with R1 specials, then the same extended by jaft tokenizer extend."""
    from jaft.export.gguf import convert_to_gguf
    from jaft.export.verify import verify
    from jaft.tokenizer.extend import extend_model

    data = Path(__file__).resolve().parents[1] / "src" / "jaft" / "data" / "samples" / "text_ja.txt"
    ext = tmp_path / "extended"
    record = extend_model(str(tiny_qwen25), [str(data)], 64, ext, min_frequency=2)
    for model_dir, n_tok in ((tiny_qwen25, 151665), (ext, record["new_vocab_size"])):
        out = tmp_path / f"{model_dir.name}.gguf"
        res = convert_to_gguf(model_dir, out)
        assert res.vocab["n_tokenizer"] == n_tok and res.vocab["pre"] == "deepseek-r1-qwen"
        assert res.vocab["special_ids"]["eos"] == 151643 and res.vocab["special_ids"]["bos"] == 151646
        r = verify(model_dir, model_dir, {"f16": out})
        assert r.passed, r.failures
        assert r.tokenization["identical"]
