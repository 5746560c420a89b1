"""Hugging Face llama / qwen2 / stablelm checkpoints → GGUF F16, written with gguf-py's ``GGUFWriter``.

Tensors stream one at a time from the safetensors shards (``safe_open``), so peak memory is one
tensor plus its converted copy, not the model. Every tensor's name, shape and type is announced
first (``add_tensor_info``), then the header, metadata and tensor data are written in order to a
temporary file that replaces the final name only when complete.

Conversions follow llama.cpp's own converter: Llama's Q/K rows are permuted from Hugging Face's
rotate-half layout to GGML's interleaved RoPE, Qwen2's q/k/v biases pass through, llama3 RoPE
scaling becomes the ``rope_freqs`` tensor, and 1-D tensors (norms, biases) stay F32. StableLM follows
llama.cpp's ``StableLMModel``: no permutation (llama.cpp runs it with NeoX-style RoPE), partial
rotary dimensions, LayerNorm weight and bias, optional q/k/v biases.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.export.safetensors_io import TensorSpan, copy_bytes, fsync, numpy_view, tensor_layout
from jaft.export.source import check_gguf_supported, read_json, weight_files
from jaft.export.state import disk_errors
from jaft.fsutil import atomic_path

Progress = Callable[[int], None]
_GGUF_ARCH = {  # gguf-py's architecture (tensor name map) per GGUF arch name
    "llama": lambda gguf: gguf.MODEL_ARCH.LLAMA,
    "qwen2": lambda gguf: gguf.MODEL_ARCH.QWEN2,
    "stablelm": lambda gguf: gguf.MODEL_ARCH.STABLELM,
}
_SKIP_SUFFIXES = (".rotary_emb.inv_freq",)


@dataclass
class GgufResult:
    path: Path
    arch: str
    n_tensors: int
    tensor_bytes: int
    seconds: float
    vocab: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    tensor_seconds: float = 0.0  # the streaming part: read, convert, write every tensor

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "arch": self.arch, "n_tensors": self.n_tensors,
            "tensor_bytes": self.tensor_bytes, "size_bytes": self.path.stat().st_size if self.path.exists() else None,
            "seconds": round(self.seconds, 2), "tensor_seconds": round(self.tensor_seconds, 2),
            "tensor_mb_per_s": round(self.tensor_bytes / 1e6 / self.tensor_seconds, 1) if self.tensor_seconds else None,
            "vocab": self.vocab, "notes": self.notes,
        }


def _rope(config: dict[str, Any]) -> dict[str, Any]:
    # transformers 5 writes rope_parameters; older configs rope_theta + rope_scaling.
    rope = dict(config.get("rope_parameters") or {})
    scaling = config.get("rope_scaling") or {}
    for k, v in scaling.items():
        rope.setdefault("rope_type" if k == "type" else k, v)
    rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    rope.setdefault("rope_type", "default")
    return rope


def llama3_rope_factors(rope: dict[str, Any], head_dim: int) -> list[float]:
    """Per-frequency RoPE divisors of llama3 scaling (as llama.cpp's converter computes them)."""
    base = float(rope.get("rope_theta", 10000.0))
    factor = float(rope.get("factor", 8.0))
    low = float(rope.get("low_freq_factor", 1.0))
    high = float(rope.get("high_freq_factor", 4.0))
    old_ctx = float(rope.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    out = []
    for i in range(0, head_dim, 2):
        freq = 1.0 / (base ** (i / head_dim))
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return out


def permute_qk(w: Any, n_head: int) -> Any:
    """HF rotate-half → GGML interleaved row order for a Q or K projection (weight or bias)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _stablelm_hparams(writer: Any, config: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """StableLM metadata exactly as llama.cpp's StableLMModel.set_gguf_parameters writes it.

    ``partial_rotary_factor`` (transformers; ``rope_pct`` in the original ``stablelm_epoch`` configs, and
    inside ``rope_parameters`` in transformers 5) sets how many of each head's dimensions rotate.
    """
    rope = _rope(config)
    if str(rope.get("rope_type", "default")).lower() != "default":
        raise JaftError(f"RoPE scaling type '{rope['rope_type']}' is not supported by llama.cpp's StableLM")
    if config.get("qk_layernorm"):
        raise JaftError("StableLM with qk_layernorm (stablelm-2-12b) is not written by jaft; convert the merged "
                        "model with llama.cpp's convert_hf_to_gguf.py, or export japanese-stablelm-3b-4e1t")
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    factor = next((float(v) for v in (config.get("partial_rotary_factor"), config.get("rope_pct"),
                                       rope.get("partial_rotary_factor")) if v is not None), None)
    if factor is None:
        raise JaftError("config.json has no partial_rotary_factor / rope_pct; is this a StableLM model?")
    eps = config.get("layer_norm_eps", config.get("norm_eps"))
    if eps is None:
        raise JaftError("config.json has no layer_norm_eps / norm_eps; is this a StableLM model?")
    writer.add_context_length(int(config["max_position_embeddings"]))
    writer.add_embedding_length(hidden)
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_rope_dimension_count(int(factor * (hidden // n_head)))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_parallel_residual(bool(config.get("use_parallel_residual", True)))
    writer.add_layer_norm_eps(float(eps))
    theta = float(rope.get("rope_theta", 10000.0))
    if theta != 10000.0:  # llama.cpp's converter leaves it out (its default is 10000); keep a different one
        writer.add_rope_freq_base(theta)
        notes.append(f"rope_freq_base {theta:g} written (llama.cpp's StableLM converter assumes 10000)")
    return {"n_head": n_head, "n_kv": n_kv, "head_dim": hidden // n_head, "rope": rope, "rope_kind": "default"}


def _hparams(writer: Any, config: dict[str, Any], arch: str, notes: list[str]) -> dict[str, Any]:
    import gguf

    if arch == "stablelm":
        return _stablelm_hparams(writer, config, notes)
    n_head = int(config["num_attention_heads"])
    n_kv = int(config.get("num_key_value_heads") or n_head)
    hidden = int(config["hidden_size"])
    head_dim = int(config.get("head_dim") or hidden // n_head)
    writer.add_context_length(int(config.get("max_position_embeddings", 4096)))
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(int(config["intermediate_size"]))
    writer.add_block_count(int(config["num_hidden_layers"]))
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(float(config.get("rms_norm_eps", 1e-6)))
    if config.get("head_dim") is not None:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    rope = _rope(config)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    kind = str(rope.get("rope_type", "default")).lower()
    if arch == "llama":
        writer.add_vocab_size(int(config["vocab_size"]))
        writer.add_rope_dimension_count(head_dim)
    if kind == "linear":
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif kind == "yarn":
        writer.add_rope_scaling_type(gguf.RopeScalingType.YARN)
        writer.add_rope_scaling_factor(float(rope["factor"]))
        writer.add_rope_scaling_orig_ctx_len(int(rope["original_max_position_embeddings"]))
    elif kind == "llama3" and arch == "llama":
        notes.append("llama3 RoPE scaling written as the rope_freqs tensor")
    elif kind != "default":
        raise JaftError(f"RoPE scaling type '{kind}' is not supported by jaft's GGUF writer for {arch}")
    if config.get("use_sliding_window"):
        notes.append("use_sliding_window is on in config.json; llama.cpp's qwen2 uses full attention")
    return {"n_head": n_head, "n_kv": n_kv, "head_dim": head_dim, "rope": rope, "rope_kind": kind}


def _plan_tensors(model_dir: Path, arch: str, n_layers: int) -> list[tuple[str, str, Path, list[int]]]:
    """(HF name, GGUF name, shard, shape) for every tensor, in checkpoint order."""
    import gguf
    from safetensors import safe_open

    tmap = gguf.get_tensor_name_map(_GGUF_ARCH[arch](gguf), n_layers)
    plan = []
    for shard in weight_files(model_dir):
        with safe_open(str(shard), framework="pt") as f:
            for name in f.keys():  # noqa: SIM118
                if name.endswith(_SKIP_SUFFIXES):
                    continue
                new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
                if new is None:
                    raise JaftError(f"{shard.name}: tensor {name} has no GGUF counterpart for {arch}; is it a {arch} model?")
                plan.append((name, new, shard, list(f.get_slice(name).get_shape())))
    return plan


def _tensor_for_gguf(name: str, shard: Path, span: TensorSpan, handle: Any, permute: int | None) -> Any | None:
    """The tensor as GGUF stores it (F16 matrices, F32 vectors), or None when the file's bytes already
    are that (they are then copied file to file). Conversions go in row blocks into one output array,
    so memory holds one tensor, never a shard."""
    import numpy as np
    import torch

    target = np.float16 if len(span.shape) >= 2 else np.float32
    view = numpy_view(shard, span)
    if view is not None and view.dtype == target and permute is None:
        return None  # the bytes in the file are already what GGUF stores
    sl = handle.get_slice(name)
    ttarget = torch.float16 if target == np.float16 else torch.float32
    if permute is not None or len(span.shape) < 2:
        t = sl[:]
        t = permute_qk(t, permute) if permute is not None else t
        blocks = [(slice(None), t)]
    else:
        step = max(1, (64 << 20) // max(1, math.prod(span.shape[1:]) * 4))
        blocks = ((slice(i, i + step), None) for i in range(0, span.shape[0], step))
    out = np.empty(span.shape, dtype=target)
    for rows, t in blocks:
        block = t if t is not None else sl[rows]
        conv = block.to(ttarget)
        if ttarget == torch.float16 and block.dtype != torch.float16 and conv.numel():
            lo, hi = torch.aminmax(conv)
            if not (torch.isfinite(lo) and torch.isfinite(hi)) and bool(torch.isfinite(block.float()).all()):
                raise JaftError(f"{name}: values overflow float16; GGUF F16 cannot hold this model")
        out[rows] = conv.numpy()
    return out


def add_tokenizer(writer: Any, vocab: Any) -> None:
    """Write the ``tokenizer.ggml.*`` keys and the chat template of ``vocab`` (jaft.export.vocab) to a
    ``gguf.GGUFWriter``: byte-level BPE ("gpt2"), llama.cpp's pre-tokenizer name, tokens, types, merges,
    special ids and BOS/EOS flags, as llama.cpp's convert_hf_to_gguf.py writes them."""
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    # What gguf.SpecialVocab.add_to_gguf writes, from the loaded tokenizer (SpecialVocab would parse
    # tokenizer.json again, seconds for a 150k vocabulary).
    writer.add_token_merges(vocab.merges)
    for kind, tid in vocab.special_ids.items():
        getattr(writer, f"add_{kind}_token_id")(tid)
    writer.add_add_bos_token(vocab.add_bos)
    writer.add_add_eos_token(vocab.add_eos)
    if vocab.chat_template:
        writer.add_chat_template(vocab.chat_template)


def convert_to_gguf(
    model_dir: str | Path, out: str | Path, *, tokenizer_dir: str | Path | None = None, name: str | None = None,
    family: str | None = None, pre: str | None = None, progress: Progress | None = None,
) -> GgufResult:
    """Write ``model_dir`` (a Hugging Face llama/qwen2/stablelm directory) as a GGUF F16 file at ``out``."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    from jaft.export.vocab import build_vocab

    t0 = time.perf_counter()
    model_dir, out = Path(model_dir), Path(out)
    config = read_json(model_dir / "config.json")
    arch = check_gguf_supported(str(config.get("model_type", "")), model_dir)
    n_layers = int(config["num_hidden_layers"])
    plan = _plan_tensors(model_dir, arch, n_layers)
    rows = next((shape[0] for hf, _, _, shape in plan if hf.endswith("embed_tokens.weight")), None)
    if rows is None:
        raise JaftError(f"{model_dir}: no embed_tokens weight in the checkpoint")
    vocab = build_vocab(tokenizer_dir or model_dir, int(rows), arch=arch, family=family, pre=pre)
    notes = list(vocab.notes)

    writer = gguf.GGUFWriter(None, arch)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name or model_dir.resolve().name)
    hp = _hparams(writer, config, arch, notes)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    add_tokenizer(writer, vocab)

    extra: list[tuple[str, Any]] = []
    if hp["rope_kind"] == "llama3" and arch == "llama":
        factors = np.asarray(llama3_rope_factors(hp["rope"], hp["head_dim"]), dtype=np.float32)
        extra.append((gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors))
    total = 0
    sizes: dict[str, int] = {}
    for _hf, new, _, shape in plan:
        dtype = np.dtype(np.float16 if len(shape) >= 2 else np.float32)
        sizes[new] = math.prod(shape) * dtype.itemsize
        writer.add_tensor_info(new, shape, dtype, sizes[new])
        total += sizes[new]
    for new, arr in extra:
        writer.add_tensor_info(new, arr.shape, arr.dtype, arr.nbytes)

    handles: dict[Path, Any] = {}
    layouts: dict[Path, dict[str, TensorSpan]] = {}
    try:
        with disk_errors(out, total), atomic_path(out) as tmp:
            writer.write_header_to_file(tmp)
            writer.write_kv_data_to_file()
            writer.write_ti_data_to_file()
            # Tensor data in the declared order, each aligned as GGUFWriter.write_tensor_data aligns it;
            # written here so unchanged tensors go file to file (copy_file_range) instead of via memory.
            fout = writer.fout[0]
            t_tensors = time.perf_counter()
            for hf_name, new_name, shard, _shape in plan:
                if shard not in handles:
                    for h in handles.values():
                        h.__exit__(None, None, None)
                    handles = {shard: safe_open(str(shard), framework="pt").__enter__()}
                    layouts = {shard: tensor_layout(shard)}
                permute = None
                if arch == "llama" and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
                    permute = hp["n_head"]
                elif arch == "llama" and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
                    permute = hp["n_kv"]
                span = layouts[shard][hf_name]
                arr = _tensor_for_gguf(hf_name, shard, span, handles[shard], permute)
                writer.write_padding(fout, fout.tell())
                if arr is None:
                    copy_bytes(shard, span.offset, span.nbytes, fout)
                    n = span.nbytes
                else:
                    arr.tofile(fout)
                    n = arr.nbytes
                if n != sizes[new_name]:
                    raise RuntimeError(f"{hf_name}: wrote {n} bytes, declared {sizes[new_name]}")
                writer.write_padding(fout, n)
                if progress:
                    progress(n)
                del arr
            for _, arr in extra:
                writer.write_padding(fout, fout.tell())
                arr.tofile(fout)
                writer.write_padding(fout, arr.nbytes)
            fsync(fout)  # durable before the rename: a crash never exposes a half-written final file
            writer.close()
            t_tensors = time.perf_counter() - t_tensors
    finally:
        for h in handles.values():
            h.__exit__(None, None, None)
        writer.close()
    return GgufResult(out, arch, len(plan) + len(extra), total, time.perf_counter() - t0, vocab.summary(), notes,
                      tensor_seconds=t_tensors)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Scalar and string metadata of a GGUF file (arrays summarised by length), without loading tensors."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as e:
        raise JaftError(f"{path}: not a readable GGUF file ({type(e).__name__}: {str(e)[:120]})") from None
    out: dict[str, Any] = {}
    for key, f in reader.fields.items():
        if not f.types:
            continue
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            out[key] = {"array": len(f.data)}
        else:
            out[key] = f.contents()
    out["_n_tensors"] = len(reader.tensors)
    return out


def read_tokens(path: str | Path) -> list[str]:
    import gguf

    return list(gguf.GGUFReader(str(path)).fields["tokenizer.ggml.tokens"].contents())
