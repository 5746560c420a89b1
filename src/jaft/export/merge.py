"""Merge a LoRA / QLoRA adapter into its base, in 16-bit, one safetensors shard at a time.

The base is always read in 16-bit (or wider) from its safetensors files, never from a 4-bit load:
merging a QLoRA adapter into 4-bit weights throws the fine-tune away (seed 002's trap). Merging shard
by shard keeps peak RAM near one shard instead of the whole model (a 32B merge needs 32-40 GB
otherwise). Adapters the shard merge does not cover (DoRA, embedding LoRA, tied-weight edits) go
through PEFT's ``merge_and_unload`` with ``low_cpu_mem_usage`` and an optional offload folder.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.export.source import TOKENIZER_FILES, read_json, weight_files
from jaft.fsutil import atomic_dir

PREFIX = "base_model.model."
# Adapter features the shard merge implements exactly; anything else is PEFT's job.
_UNSUPPORTED_FLAGS = ("use_dora", "lora_bias", "fan_in_fan_out", "trainable_token_indices", "layer_replication",
                      "target_parameters", "alora_invocation_tokens", "use_qalora")

Progress = Callable[[int], None]


@dataclass
class MergeResult:
    path: Path
    method: str  # "shard" or "peft"
    dtype: str
    lora_modules: int
    replaced: list[str]
    vocab_size: int | None
    seconds: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "method": self.method, "dtype": self.dtype, "lora_modules": self.lora_modules,
            "replaced_modules": self.replaced, "vocab_size": self.vocab_size, "seconds": round(self.seconds, 2),
            "notes": self.notes,
        }


@dataclass
class _Lora:
    a: Any
    b: Any
    scale: float
    used: bool = False


def _torch_dtype(name: str):
    import torch

    try:
        return {"float16": torch.float16, "bfloat16": torch.bfloat16}[name]
    except KeyError:
        raise JaftError(f"merge dtype '{name}': use float16 or bfloat16") from None


def _adapter_tensors(adapter_dir: Path) -> dict[str, Any]:
    st = adapter_dir / "adapter_model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(str(st))
    import torch

    return torch.load(adapter_dir / "adapter_model.bin", map_location="cpu", weights_only=True)


def plan_shard_merge(adapter_dir: Path, base_keys: set[str]) -> tuple[dict[str, _Lora], dict[str, Any]] | str:
    """LoRA pairs by base weight name and full replacements (modules_to_save), or why PEFT must merge."""
    cfg = read_json(adapter_dir / "adapter_config.json")
    for flag in _UNSUPPORTED_FLAGS:
        if cfg.get(flag):
            return f"adapter uses {flag}"
    tensors = _adapter_tensors(adapter_dir)
    pairs: dict[str, dict[str, Any]] = {}
    replaced: dict[str, Any] = {}
    trained: dict[str, Any] = {}  # modules_to_save: the trained copy wins over any saved base copy
    for key, t in tensors.items():
        name = key[len(PREFIX):] if key.startswith(PREFIX) else key
        for part in ("lora_A", "lora_B"):
            tag = f".{part}.weight"
            if name.endswith(tag):
                pairs.setdefault(name[: -len(tag)], {})[part] = t
                break
        else:
            if ".lora_" in name:
                return f"adapter tensor {key} is not a linear LoRA pair"
            if ".original_module." in name:
                continue  # PEFT's copy of the untouched base module
            if ".modules_to_save." in name:
                trained[name.replace(".modules_to_save.", ".")] = t
            else:
                # modules_to_save without the wrapper, or save_embedding_layers' resized embeddings
                replaced[name] = t
    replaced.update(trained)
    rank_pattern = cfg.get("rank_pattern") or {}
    alpha_pattern = cfg.get("alpha_pattern") or {}
    if rank_pattern or alpha_pattern:
        from peft.utils.other import get_pattern_key  # PEFT's own matching (importing peft costs seconds)
    else:
        def get_pattern_key(keys: list[str], name: str) -> str:
            return name
    loras: dict[str, _Lora] = {}
    for module, ab in pairs.items():
        if set(ab) != {"lora_A", "lora_B"}:
            return f"adapter module {module} lacks lora_A or lora_B"
        r = int(rank_pattern.get(get_pattern_key(list(rank_pattern), module), cfg.get("r", 8)))
        alpha = float(alpha_pattern.get(get_pattern_key(list(alpha_pattern), module), cfg.get("lora_alpha", 8)))
        if ab["lora_A"].shape[0] != r:
            return f"adapter module {module} has rank {ab['lora_A'].shape[0]}, config says {r}"
        scale = alpha / math.sqrt(r) if cfg.get("use_rslora") else alpha / r
        loras[module + ".weight"] = _Lora(ab["lora_A"], ab["lora_B"], scale)
    missing = [k for k in [*loras, *replaced] if k not in base_keys]
    if missing:
        return f"adapter weight {missing[0]} has no counterpart in the base checkpoint"
    return loras, replaced


_NON_FLOAT = ("I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64")
_CHUNK = 64 << 20  # bytes of a tensor converted at a time: memory stays flat whatever the model size


def _rows_per_chunk(shape: tuple[int, ...], itemsize: int) -> int:
    row = math.prod(shape[1:]) * itemsize if len(shape) > 1 else itemsize
    return max(1, _CHUNK // max(1, row))


def _check_overflow(name: str, out: Any, src: Any) -> None:
    """Raise if casting ``src`` to float16 produced inf/nan that ``src`` did not have."""
    import torch

    if out.dtype != torch.float16 or src.dtype == torch.float16 or out.numel() == 0:
        return
    lo, hi = torch.aminmax(out)  # a reduction, ~20x cheaper than isfinite over the tensor
    if torch.isfinite(lo) and torch.isfinite(hi):
        return
    slo, shi = torch.aminmax(src.float())
    if torch.isfinite(slo) and torch.isfinite(shi):
        raise JaftError(f"{name}: values overflow float16 after merging; rerun with --merge-dtype bfloat16")


def _write_tensor(writer: Any, name: str, source: Any, lora: _Lora | None, dtype: Any) -> None:
    """Write one output tensor in row blocks: ``source`` is a safe_open slice or an in-memory tensor."""
    import torch

    shape = tuple(source.get_shape()) if hasattr(source, "get_shape") else tuple(source.shape)
    if lora is not None and shape != (lora.b.shape[0], lora.a.shape[1]):
        raise JaftError(
            f"adapter does not fit the base: {name} is {shape} but the LoRA delta is "
            f"{(lora.b.shape[0], lora.a.shape[1])}; was it trained on another model?"
        )
    if len(shape) < 2:
        block = source[:] if hasattr(source, "get_shape") else source
        out = block.to(dtype) if block.is_floating_point() else block
        _check_overflow(name, out, block)
        writer.write(name, out)
        return
    if lora is not None:
        a32, b32 = lora.a.to(torch.float32), lora.b.to(torch.float32)
    step = _rows_per_chunk(shape, 4)
    for i in range(0, shape[0], step):
        block = source[i:i + step]
        if lora is not None:
            # W + s·B·A in float32, rounded once: merging in 16-bit arithmetic would round twice.
            work = block.to(torch.float32).addmm_(b32[i:i + step], a32, alpha=lora.scale)
        else:
            work = block
        out = work.to(dtype) if work.is_floating_point() else work
        _check_overflow(name, out, work)
        writer.write(name, out)
    if lora is not None:
        lora.used = True


def _copy_side_files(base: Path, tokenizer_dir: Path, out: Path, dtype: str, vocab_size: int | None) -> None:
    config = read_json(base / "config.json")
    config.pop("quantization_config", None)
    config["dtype" if "dtype" in config or "torch_dtype" not in config else "torch_dtype"] = dtype
    if vocab_size is not None:
        config["vocab_size"] = vocab_size
    import json

    (out / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if (base / "generation_config.json").is_file():
        shutil.copy2(base / "generation_config.json", out / "generation_config.json")
    src = tokenizer_dir if any((tokenizer_dir / n).is_file() for n in TOKENIZER_FILES) else base
    for n in TOKENIZER_FILES:
        if (src / n).is_file():
            shutil.copy2(src / n, out / n)


def shard_merge(
    base: Path, adapter: Path, out: Path, *, dtype: str, tokenizer_dir: Path,
    plan: tuple[dict[str, _Lora], dict[str, Any]], progress: Progress | None = None,
) -> MergeResult:
    """Stream the base shard by shard and tensor by tensor: merge the LoRA deltas into each weight in
    row blocks and write the output shard as it goes (nothing the size of a shard is held in memory)."""
    from safetensors import safe_open

    from jaft.export.safetensors_io import StreamingWriter, fsync, tensor_layout, torch_dtype_name

    t0 = time.perf_counter()
    loras, replaced = plan
    tdtype = _torch_dtype(dtype)
    out_name = torch_dtype_name(tdtype)
    shards = weight_files(base)
    index_in = base / "model.safetensors.index.json"
    weight_map: dict[str, str] = {}
    total = 0
    embed_rows: dict[str, int] = {}
    vocab_size = None
    for name, t in replaced.items():
        if name.endswith(("embed_tokens.weight", "lm_head.weight")):
            vocab_size = int(t.shape[0])
    with atomic_dir(out) as tmp:
        for shard in shards:
            layout = tensor_layout(shard)
            names = sorted(layout, key=lambda n: layout[n].offset)
            specs = []
            for name in names:
                shape = tuple(replaced[name].shape) if name in replaced else layout[name].shape
                src_dtype = layout[name].dtype
                specs.append((name, src_dtype if src_dtype in _NON_FLOAT else out_name, shape))
                if name.endswith(("embed_tokens.weight", "lm_head.weight")):
                    embed_rows[name] = int(shape[0])
            with safe_open(str(shard), framework="pt") as f, (tmp / shard.name).open("wb") as fout:
                writer = StreamingWriter(fout, specs)
                for name in names:
                    span = layout[name]
                    if name not in replaced and name not in loras and span.dtype in (out_name, *_NON_FLOAT):
                        writer.copy(name, shard, span)  # unchanged bytes: file to file
                    else:
                        source = replaced[name] if name in replaced else f.get_slice(name)
                        _write_tensor(writer, name, source, loras.get(name), tdtype)
                    weight_map[name] = shard.name
                writer.close()
                fsync(fout)
                total += writer.total
            if progress:
                progress(shard.stat().st_size)
        if len(set(embed_rows.values())) > 1:
            raise JaftError(
                f"adapter resizes the vocabulary inconsistently ({embed_rows}); save both embed_tokens and lm_head "
                "with the adapter (PEFT save_embedding_layers=True)"
            )
        unused = [k for k, lo in loras.items() if not lo.used]
        if unused:
            raise JaftError(f"adapter weight {unused[0]} was not merged; the base checkpoint lacks it")
        if index_in.is_file():
            import json

            index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
            (tmp / index_in.name).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        _copy_side_files(base, tokenizer_dir, tmp, dtype, vocab_size)
    return MergeResult(out, "shard", dtype, len(loras), sorted(replaced), vocab_size, time.perf_counter() - t0)


def peft_merge(
    base: Path, adapter: Path, out: Path, *, dtype: str, tokenizer_dir: Path, reason: str,
    offload_folder: str | None = None, progress: Progress | None = None,
) -> MergeResult:
    """PEFT's merge for adapters the shard merge does not cover; the base still loads in 16-bit."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    kw: dict[str, Any] = {"dtype": _torch_dtype(dtype), "low_cpu_mem_usage": True}
    if offload_folder:
        import psutil

        Path(offload_folder).mkdir(parents=True, exist_ok=True)
        kw |= {"device_map": "auto", "offload_folder": offload_folder,
               "max_memory": {"cpu": int(psutil.virtual_memory().available * 0.7)}}
    # Deliberately no quantization_config: a QLoRA adapter is merged into the 16-bit base.
    model = AutoModelForCausalLM.from_pretrained(str(base), **kw)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    rows = model.get_input_embeddings().weight.shape[0]
    # An extended vocabulary: the adapter carries the resized embeddings; match their size first.
    saved_rows = [int(t.shape[0]) for k, t in _adapter_tensors(adapter).items()
                  if k.endswith(("embed_tokens.weight", "lm_head.weight")) and t.dim() == 2]
    target = max([*saved_rows, len(tok)])
    if target > rows:
        model.resize_token_embeddings(target, mean_resizing=False)
    with torch.no_grad():
        peft_model = PeftModel.from_pretrained(model, str(adapter))
        # Counted before merge_and_unload, which replaces every LoRA layer by a plain one (jaft issue 11).
        n_lora = sum(1 for n, _ in peft_model.named_modules() if n.endswith("lora_A"))
        merged = peft_model.merge_and_unload(safe_merge=True)
    with atomic_dir(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True, max_shard_size="2GB")
        tok.save_pretrained(str(tmp))
        for n in ("chat_template.jinja",):
            if (tokenizer_dir / n).is_file() and not (tmp / n).is_file():
                shutil.copy2(tokenizer_dir / n, tmp / n)
    if progress:
        progress(sum(f.stat().st_size for f in weight_files(base)))
    vocab = merged.get_input_embeddings().weight.shape[0]
    return MergeResult(out, "peft", dtype, n_lora, [], int(vocab), time.perf_counter() - t0,
                       notes=[f"merged with PEFT merge_and_unload ({reason})"])


def merge_adapter(
    base: str | Path, adapter: str | Path, out: str | Path, *, dtype: str = "float16",
    tokenizer_dir: str | Path | None = None, offload_folder: str | None = None,
    progress: Progress | None = None,
) -> MergeResult:
    """Merge ``adapter`` into ``base`` and write a Hugging Face directory at ``out`` (atomically).

    The result loads with ``from_pretrained`` and holds no adapter modules.
    """
    from safetensors import safe_open

    base, adapter, out = Path(base), Path(adapter), Path(out)
    tok_dir = Path(tokenizer_dir) if tokenizer_dir else adapter
    keys: set[str] = set()
    for shard in weight_files(base):
        with safe_open(str(shard), framework="pt") as f:
            keys.update(f.keys())
    plan = plan_shard_merge(adapter, keys)
    if isinstance(plan, str):
        return peft_merge(base, adapter, out, dtype=dtype, tokenizer_dir=tok_dir, reason=plan,
                          offload_folder=offload_folder, progress=progress)
    return shard_merge(base, adapter, out, dtype=dtype, tokenizer_dir=tok_dir, plan=plan, progress=progress)
