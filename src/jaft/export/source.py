"""What to export: a run directory, or a model directory with an optional adapter, resolved to paths.

Bad input fails here, before any work: no adapter or model in a run, an adapter whose base cannot be
found, a base stored in 4-bit, weights that are not safetensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

# HF model_type → GGUF architecture. stablelm_epoch: the original remote-code StableLM configs
# (japanese-stablelm-3b-4e1t), same tensors as transformers' stablelm.
SUPPORTED_GGUF = {"qwen2": "qwen2", "llama": "llama", "stablelm": "stablelm", "stablelm_epoch": "stablelm"}
# Registry families without a GGUF path, and what to use instead.
NOT_YET = {
    "gpt_neox": (
        "GPT-NeoX (rinna) models use a SentencePiece-unigram tokenizer that llama.cpp's GPT-NeoX support "
        "cannot carry (its converter only reads byte-level BPE); for a GGUF, fine-tune stablelm-3b "
        "(japanese-stablelm-3b-4e1t-instruct) or qwen-1.5b instead"
    ),
}
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json",
)


@dataclass
class ExportSource:
    """Resolved inputs of an export."""

    model_dir: Path  # HF directory with safetensors weights: the base when there is an adapter
    adapter_dir: Path | None
    tokenizer_dir: Path  # the adapter's tokenizer when training saved one (extended vocab, template)
    base_ref: str  # the base as configured (Hub id or path), for the report
    run_dir: Path | None
    trained_4bit: bool  # QLoRA: the adapter was trained against 4-bit base weights
    model_type: str
    config: Any  # RunConfig

    @property
    def name(self) -> str:
        src = self.run_dir or self.adapter_dir or self.model_dir
        return src.resolve().name

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "adapter_dir": str(self.adapter_dir) if self.adapter_dir else None,
            "tokenizer_dir": str(self.tokenizer_dir),
            "base": self.base_ref,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "trained_4bit": self.trained_4bit,
            "model_type": self.model_type,
        }


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise JaftError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise JaftError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); re-save that directory") from None
    if not isinstance(data, dict):
        raise JaftError(f"{path}: expected a JSON object")
    return data


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors shards of a model directory, in index order."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index).get("weight_map") or {}
        names = list(dict.fromkeys(weight_map.values()))
        missing = [n for n in names if not (model_dir / n).is_file()]
        if missing:
            raise JaftError(f"{index}: shard {missing[0]} is missing; re-download or re-save the model")
        return [model_dir / n for n in names]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    if any(model_dir.glob("pytorch_model*.bin")):
        raise JaftError(
            f"{model_dir}: weights are .bin (pickle) files; re-save with "
            "model.save_pretrained(dir, safe_serialization=True) so they can be streamed"
        )
    raise JaftError(f"{model_dir}: no model.safetensors or model.safetensors.index.json here")


def check_model_dir(path: Path, what: str = "model") -> dict[str, Any]:
    if not path.exists():
        raise JaftError(f"{path}: no such {what} directory; check the path")
    if path.is_file():
        raise JaftError(f"{path}: is a file; pass the {what} directory that holds config.json")
    if not (path / "config.json").is_file():
        if (path / "adapter_config.json").is_file():
            raise JaftError(f"{path}: is a LoRA adapter, not a model; pass it as --adapter with --model BASE_DIR")
        raise JaftError(f"{path}: no config.json, so this is not a Hugging Face {what} directory")
    config = read_json(path / "config.json")
    q = config.get("quantization_config") or {}
    if q.get("load_in_4bit") or q.get("load_in_8bit") or q.get("quant_method") in ("bitsandbytes", "gptq", "awq"):
        raise JaftError(
            f"{path}: weights are stored quantized ({q.get('quant_method') or 'bitsandbytes'}); merging into "
            "quantized weights loses the fine-tune: point --model at the 16-bit base model"
        )
    weight_files(path)
    return config


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()


def locate_model(ref: str, revision: str | None = None, *, adapter: Path | None = None) -> Path:
    """A local directory for a model reference: the path itself, or the Hub cache (downloading if allowed)."""
    p = Path(ref).expanduser()
    hint = (
        f"pass --model BASE_DIR --adapter {adapter}" if adapter else "pass a local model directory"
    )
    if p.exists() or ref.startswith((".", "/", "~")) or ref.count("/") != 1:
        if not p.exists():
            raise JaftError(f"base model '{ref}' cannot be found (no such directory); {hint}")
        return p
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(
            ref, revision=revision,
            allow_patterns=["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"],
        )
    except Exception as e:  # offline, gated, missing: all mean the same to the user
        first = (str(e).splitlines() or [type(e).__name__])[0][:200]
        raise JaftError(
            f"base model '{ref}' cannot be found ({type(e).__name__}: {first}); log in / go online, or {hint}"
        ) from None
    return Path(local)


def resolve_source(
    run: str | None = None, model: str | None = None, adapter: str | None = None, config: Any = None
) -> ExportSource:
    """Resolve ``--run`` or ``--model [--adapter]`` to an :class:`ExportSource`."""
    from jaft.config import RunConfig
    from jaft.rundir import RunDir

    if run and (model or adapter):
        raise JaftError("give --run, or --model [--adapter], not both")
    if not run and not model:
        raise JaftError("nothing to export: pass --run RUN_DIR (a training output) or --model MODEL_DIR")
    run_dir: Path | None = None
    adapter_dir: Path | None = None
    trained_4bit = False
    if run:
        run_dir = Path(run).expanduser()
        if not run_dir.is_dir():
            raise JaftError(f"{run_dir}: no such run directory; pass the --output of `jaft train`")
        from jaft.models.trained import resolve_trained

        cfg = RunDir(run_dir).read_config()
        # The same reading of a run that eval uses: base, adapter, tokenizer and the method actually
        # applied (the planner may have chosen QLoRA where the config left the method open).
        trained = resolve_trained(run_dir)
        trained_4bit = trained.run_method == "qlora"
        if trained.adapter is None:
            model_dir, base_ref = Path(trained.base), trained.base
        else:
            adapter_dir = Path(trained.adapter)
            base_ref = trained.base
            model_dir = locate_model(base_ref, cfg.model.revision, adapter=adapter_dir)
    else:
        cfg = config if config is not None else RunConfig()
        model_dir = Path(str(model)).expanduser()
        base_ref = str(model)
        if adapter:
            adapter_dir = Path(adapter).expanduser()
            if not (adapter_dir / "adapter_config.json").is_file():
                raise JaftError(f"{adapter_dir}: no adapter_config.json, so this is not a PEFT adapter directory")
    if config is not None and run:
        cfg = cfg.model_copy(update={"export": config.export})
    hf_config = check_model_dir(model_dir, "base model" if adapter_dir else "model")
    if adapter_dir is not None:
        peft_type = read_json(adapter_dir / "adapter_config.json").get("peft_type", "LORA")
        if peft_type != "LORA":
            raise JaftError(f"{adapter_dir}: {peft_type} adapters cannot be merged by jaft; only LoRA/QLoRA")
        if not any((adapter_dir / n).is_file() for n in ("adapter_model.safetensors", "adapter_model.bin")):
            raise JaftError(f"{adapter_dir}: adapter_config.json but no adapter_model.safetensors; training did not finish")
    tok_dir = adapter_dir if adapter_dir is not None and _has_tokenizer(adapter_dir) else model_dir
    return ExportSource(
        model_dir=model_dir,
        adapter_dir=adapter_dir,
        tokenizer_dir=tok_dir,
        base_ref=base_ref,
        run_dir=run_dir,
        trained_4bit=trained_4bit,
        model_type=str(hf_config.get("model_type", "")),
        config=cfg,
    )


def check_gguf_supported(model_type: str, where: Path | str) -> str:
    """The GGUF architecture name for a HF ``model_type``, or a clear refusal."""
    if model_type in SUPPORTED_GGUF:
        return SUPPORTED_GGUF[model_type]
    if model_type in NOT_YET:
        raise JaftError(
            f"{where}: no GGUF export for {model_type}: {NOT_YET[model_type]}; `jaft export merge` still "
            "writes the merged Hugging Face model"
        )
    raise JaftError(
        f"{where}: unsupported architecture '{model_type or 'unknown'}' for GGUF export; jaft writes llama, "
        "qwen2 and stablelm"
    )
