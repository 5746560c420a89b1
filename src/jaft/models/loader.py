"""One way to load a model: the planner's dtype / quantization / placement, with a fallback chain.

On an out-of-memory error during a 16-bit load the loader retries in 4-bit, then moves to the next
model of the fallback list (seed 002/003), and says each thing it did.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from jaft.errors import JaftError

LoadIn = Literal["32bit", "16bit", "8bit", "4bit"]


@dataclass
class LoadSpec:
    name_or_path: str
    load_in: LoadIn = "16bit"
    dtype: str = "bfloat16"  # compute dtype; 32bit loads use float32
    device_map: str | dict[str, Any] | None = None
    max_memory: dict[str, str] | None = None
    offload_folder: str | None = None
    trust_remote_code: bool = False
    revision: str | None = None
    attn_implementation: str | None = None
    fallback_models: list[str] = field(default_factory=list)
    allow_4bit_fallback: bool = True


@dataclass
class Loaded:
    model: Any
    name_or_path: str
    load_in: LoadIn
    notes: list[str]


def torch_dtype(name: str):
    import torch

    try:
        return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32,
                "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]
    except KeyError:
        raise JaftError(f"unknown dtype '{name}'; use bfloat16, float16 or float32") from None


def quantization_config(load_in: LoadIn, compute_dtype: str = "bfloat16"):
    """bitsandbytes settings: NF4 with double quantization (QLoRA), or LLM.int8."""
    if load_in not in ("4bit", "8bit"):
        return None
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise JaftError(f"{load_in} loading needs bitsandbytes: pip install bitsandbytes") from None
    from transformers import BitsAndBytesConfig

    if load_in == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch_dtype(compute_dtype),
            llm_int8_enable_fp32_cpu_offload=True,
        )
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_enable_fp32_cpu_offload=True)


def is_oom(err: BaseException) -> bool:
    import torch

    if isinstance(err, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(err).lower()
    return "out of memory" in text or "cuda error: out of memory" in text or "hip out of memory" in text


def check_model_source(name_or_path: str) -> None:
    """Fail early, in one line, on a local path that is not a model directory."""
    p = Path(name_or_path).expanduser()
    looks_local = p.exists() or name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if not looks_local:
        return
    if not p.exists():
        raise JaftError(f"{p}: no such model directory; check the path (or give a Hub id like owner/name)")
    if p.is_file():
        raise JaftError(f"{p}: is a file; pass the model directory that holds config.json")
    if not (p / "config.json").is_file():
        hint = " (it is a LoRA adapter: use --continue-from or --adapter)" if (p / "adapter_config.json").is_file() else ""
        raise JaftError(f"{p}: no config.json, so this is not a model directory{hint}")


def _kwargs(spec: LoadSpec) -> dict[str, Any]:
    kw: dict[str, Any] = {"trust_remote_code": spec.trust_remote_code}
    if spec.revision:
        kw["revision"] = spec.revision
    if spec.attn_implementation:
        kw["attn_implementation"] = spec.attn_implementation
    if spec.load_in == "32bit":
        kw["dtype"] = torch_dtype("float32")
    else:
        kw["dtype"] = torch_dtype(spec.dtype)
    q = quantization_config(spec.load_in, spec.dtype)
    if q is not None:
        kw["quantization_config"] = q
    if spec.device_map is not None:
        kw["device_map"] = spec.device_map
    elif q is not None:
        kw["device_map"] = _default_device()
    if spec.max_memory:
        kw["max_memory"] = {(int(k) if str(k).isdigit() else k): v for k, v in spec.max_memory.items()}
    if spec.offload_folder:
        os.makedirs(spec.offload_folder, exist_ok=True)
        kw["offload_folder"] = spec.offload_folder
    kw["low_cpu_mem_usage"] = True
    return kw


def _default_device() -> str:
    import torch

    return "auto" if torch.cuda.is_available() else "cpu"


def _from_pretrained(spec: LoadSpec):
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(spec.name_or_path, **_kwargs(spec))
    except OSError as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise JaftError(
            f"could not load '{spec.name_or_path}': {msg}; check the id/path, your network, or `huggingface-cli login`"
        ) from None
    except ValueError as e:
        if "trust_remote_code" in str(e):
            raise JaftError(
                f"'{spec.name_or_path}' ships its own model code; rerun with --trust-remote-code only if you trust it"
            ) from None
        raise


def load_model(spec: LoadSpec, log: Callable[[str], None] = print) -> Loaded:
    """Load ``spec``; on OOM retry in 4-bit, then each fallback model, recording what happened."""
    check_model_source(spec.name_or_path)
    notes: list[str] = []
    attempts: list[LoadSpec] = [spec]
    if spec.allow_4bit_fallback and spec.load_in in ("16bit", "32bit"):
        attempts.append(replace(spec, load_in="4bit"))
    for fb in spec.fallback_models:
        if fb == spec.name_or_path:
            continue
        attempts.append(replace(spec, name_or_path=fb))
        if spec.allow_4bit_fallback and spec.load_in in ("16bit", "32bit"):
            attempts.append(replace(spec, name_or_path=fb, load_in="4bit"))
    last: BaseException | None = None
    for i, attempt in enumerate(attempts):
        try:
            model = _from_pretrained(attempt)
        except JaftError:
            raise
        except Exception as e:
            if not is_oom(e):
                raise
            last = e
            nxt = attempts[i + 1] if i + 1 < len(attempts) else None
            what = f"{attempt.name_or_path} ({attempt.load_in})"
            if nxt is None:
                break
            step = (f"retrying in {nxt.load_in}" if nxt.name_or_path == attempt.name_or_path
                    else f"falling back to {nxt.name_or_path} ({nxt.load_in})")
            note = f"out of memory loading {what}: {step}"
            notes.append(note)
            log(note)
            import gc

            gc.collect()
            try:
                import torch

                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            except Exception:
                pass
            continue
        if i > 0:
            notes.append(f"loaded {attempt.name_or_path} in {attempt.load_in}")
        return Loaded(model, attempt.name_or_path, attempt.load_in, notes)
    raise JaftError(
        f"out of memory loading {spec.name_or_path} even in 4-bit and with every fallback model "
        f"({type(last).__name__}); free GPU memory, set --offload-folder, or choose a smaller model"
    )


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False, revision: str | None = None):
    from transformers import AutoTokenizer

    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision:
        kw["revision"] = revision
    try:
        tok = AutoTokenizer.from_pretrained(name_or_path, **kw)
    except OSError as e:
        raise JaftError(f"could not load the tokenizer of '{name_or_path}': {str(e).splitlines()[0]}") from None
    if tok.pad_token is None:
        # Padding with EOS is what R1-Distill does; losses mask by attention, not by pad id.
        tok.pad_token = tok.eos_token
    return tok
