"""Load what training produced: a merged model dir, a base + adapter, or a jaft run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError


@dataclass
class TrainedSource:
    base: str  # model directory or Hub id that from_pretrained loads
    adapter: str | None  # LoRA adapter directory applied on top, if any
    tokenizer: str  # where the tokenizer (and chat template) is read from
    trust_remote_code: bool = False
    run_method: str | None = None  # "qlora" when the adapter was trained on a 4-bit base
    run_stage: str | None = None  # "sft" / "grpo" when loaded from a run directory
    run_system_prompt: str | None = None  # the instruction that run trained with, if any

    def describe(self) -> str:
        return f"{self.base} + adapter {self.adapter}" if self.adapter else self.base


def resolve_trained(path: str | Path, adapter: str | Path | None = None) -> TrainedSource:
    """Work out base, adapter and tokenizer for ``path`` (run dir, adapter dir, or model dir)."""
    from jaft.rundir import RUN_FILE, RunDir

    p = Path(path)
    if (p / RUN_FILE).is_file() and not (p / "config.json").is_file():
        run = RunDir(p)
        kind, weights = run.final_weights()
        record = run.read_run_file()
        cfg = run.read_config()
        method = cfg.train.method or (record.get("applied", {}).get("method", {}) or {}).get("value")
        stage = record.get("stage")
        system = cfg.grpo.system_prompt if stage == "grpo" else cfg.train.system_prompt
        extra = {"run_method": method, "run_stage": stage, "run_system_prompt": system}
        if kind == "model":
            return TrainedSource(str(weights), None, str(weights), cfg.model.trust_remote_code, **extra)
        base = record.get("model_path") or _configured_base(cfg) or adapter_base(weights)
        tok = str(weights) if (weights / "tokenizer_config.json").is_file() else base
        return TrainedSource(str(base), str(weights), tok, cfg.model.trust_remote_code, **extra)
    if (p / "adapter_config.json").is_file() and adapter is None:
        base = adapter_base(p)
        tok = str(p) if (p / "tokenizer_config.json").is_file() else base
        return TrainedSource(base, str(p), tok)
    if p.exists() and not (p / "config.json").is_file():
        raise JaftError(f"{p}: neither a model directory (config.json), a LoRA adapter (adapter_config.json) "
                        f"nor a jaft run directory (jaft_run.yaml)")
    if adapter is not None:
        a = Path(adapter)
        if not (a / "adapter_config.json").is_file():
            raise JaftError(f"{a}: no adapter_config.json; --adapter wants a LoRA adapter directory")
        tok = str(a) if (a / "tokenizer_config.json").is_file() else str(path)
        return TrainedSource(str(path), str(a), tok)
    return TrainedSource(str(path), None, str(path))


def _configured_base(cfg) -> str | None:
    """The base a run's config names (model_name, else the registry id of model_type)."""
    if cfg.model.model_name:
        return str(cfg.model.model_name)
    if cfg.model.model_type:
        from jaft.registry import load_registry

        return load_registry().get(cfg.model.model_type).model_name
    return None


def adapter_base(adapter_dir: str | Path) -> str:
    """The base model an adapter was trained on (its adapter_config.json)."""
    import json

    p = Path(adapter_dir)
    cfg = p / "adapter_config.json"
    if not cfg.is_file():
        raise JaftError(f"{p}: no adapter_config.json; pass a LoRA adapter directory (a run's adapter/ folder)")
    try:
        base = json.loads(cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
    except json.JSONDecodeError as e:
        raise JaftError(f"{cfg}:{e.lineno}: invalid JSON; the adapter directory is damaged") from None
    if not base:
        raise JaftError(f"{cfg}: base_model_name_or_path is empty; pass the base model explicitly")
    return str(base)


def load_trained(source: TrainedSource, *, dtype: str = "auto") -> tuple[Any, Any]:
    """(model, tokenizer) in eval mode; adapters are applied, not merged (evaluation is read-only)."""
    import torch
    from transformers import AutoModelForCausalLM

    from jaft.models.loader import check_model_source, load_tokenizer

    check_model_source(source.base)
    tokenizer = load_tokenizer(source.tokenizer, source.trust_remote_code)
    if dtype == "auto":
        dt = torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else (
            torch.float16 if torch.cuda.is_available() else torch.float32)
    else:
        from jaft.models.loader import torch_dtype

        dt = torch_dtype(dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.base, dtype=dt, trust_remote_code=source.trust_remote_code,
            device_map="auto" if torch.cuda.is_available() else None,
        )
    except OSError as e:
        raise JaftError(f"could not load '{source.base}': {str(e).splitlines()[0]}") from None
    if source.adapter:
        from peft import PeftModel

        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            model.resize_token_embeddings(len(tokenizer))
        model = PeftModel.from_pretrained(model, source.adapter)
    model.eval()
    return model, tokenizer
