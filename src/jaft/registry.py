"""Supported models as data (``registry.yaml``), and strategies derived for models not listed there.

Field names follow the seed's ``ModelStrategy`` (``recommended_batch_size`` …) plus ``key`` and
``model_name`` so that ``jaft models --json`` is the seed's table, machine-readable.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from jaft.errors import JaftError, did_you_mean

Family = Literal["qwen2", "llama", "stablelm", "gpt_neox", "mistral", "other"]
# Chat-template families jaft knows how to train on and export (templates live in models/templates/).
TemplateFamily = Literal["deepseek-r1", "llama3", "chatml", "stablelm-ja", "rinna", "unknown"]


class ArchSpec(BaseModel):
    """The config.json numbers that decide memory: enough to count parameters and activations."""

    model_config = ConfigDict(extra="forbid")

    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool = False
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    qkv_bias: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of every linear layer of one decoder block, by its usual module name."""
        h, kv = self.hidden_size, self.num_key_value_heads * self.head_dim
        shapes = {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h)}
        if self.mlp == "swiglu":
            i = self.intermediate_size
            shapes |= {"gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}
        else:
            shapes |= {"up_proj": (h, self.intermediate_size), "down_proj": (self.intermediate_size, h)}
        return shapes

    def parameter_count(self) -> int:
        per_layer = sum(i * o for i, o in self.linear_shapes().values()) + 2 * self.hidden_size
        if self.qkv_bias:
            per_layer += self.hidden_size + 2 * self.num_key_value_heads * self.head_dim
        embed = self.vocab_size * self.hidden_size
        head = 0 if self.tie_word_embeddings else embed
        return embed + head + self.num_hidden_layers * per_layer + self.hidden_size


class ModelEntry(BaseModel):
    """One supported model and its training strategy."""

    model_config = ConfigDict(extra="forbid")

    key: str
    model_name: str
    family: Family
    parameters_b: float = Field(description="parameter count, billions")
    chat_template: TemplateFamily
    recommended_batch_size: int
    recommended_gradient_accumulation: int
    recommended_learning_rate: float
    recommended_lora_r: int
    recommended_lora_alpha: int
    recommended_max_seq_length: int
    memory_requirements_gb: float
    vram_optimized: bool = False
    default: bool = False
    fallback_only: bool = False
    description_ja: str = ""
    description_en: str = ""
    arch: ArchSpec
    derived: bool = Field(default=False, description="strategy derived from config.json, not curated")

    @property
    def gguf_supported(self) -> bool:
        return self.family in ("qwen2", "llama")

    def strategy(self) -> dict[str, Any]:
        """The seed's ``ModelStrategy`` fields, exactly."""
        return {
            "model_name": self.model_name,
            "recommended_batch_size": self.recommended_batch_size,
            "recommended_gradient_accumulation": self.recommended_gradient_accumulation,
            "recommended_learning_rate": self.recommended_learning_rate,
            "recommended_lora_r": self.recommended_lora_r,
            "recommended_lora_alpha": self.recommended_lora_alpha,
            "memory_requirements_gb": self.memory_requirements_gb,
            "vram_optimized": self.vram_optimized,
        }


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[ModelEntry]
    fallback_models: list[str] = []

    def keys(self) -> list[str]:
        return [m.key for m in self.models]

    def get(self, key: str) -> ModelEntry:
        for m in self.models:
            if m.key == key:
                return m
        raise JaftError(
            f"unknown model key '{key}'{did_you_mean(key, self.keys())} "
            f"(valid: {', '.join(self.keys())}; `jaft models` lists them)"
        )

    def find_by_name(self, name: str) -> ModelEntry | None:
        """The entry whose Hub id is ``name`` (case-insensitive: the seed spells 1.5B in lower case)."""
        lowered = name.lower().rstrip("/")
        return next((m for m in self.models if m.model_name.lower() == lowered), None)

    def default(self) -> ModelEntry:
        return next(m for m in self.models if m.default)

    def candidates(self) -> list[ModelEntry]:
        """Models ``--auto`` may choose: not load-only fallbacks."""
        return [m for m in self.models if not m.fallback_only]


@functools.cache
def load_registry() -> Registry:
    import yaml

    text = resources.files("jaft").joinpath("registry.yaml").read_text(encoding="utf-8")
    return Registry.model_validate(yaml.safe_load(text))


# Size bands for models not in the registry: (upper bound in billions, batch, grad-accum, lr, r, alpha,
# max seq len). They interpolate the seed's three curated strategies.
_BANDS: list[tuple[float, int, int, float, int, int, int]] = [
    (3.0, 8, 2, 2e-4, 8, 16, 2048),
    (10.0, 4, 4, 1e-4, 16, 32, 2048),
    (22.0, 2, 8, 8e-5, 32, 64, 2048),
    (float("inf"), 1, 16, 5e-5, 64, 128, 1024),
]

_FAMILY_BY_MODEL_TYPE: dict[str, Family] = {
    "qwen2": "qwen2",
    "llama": "llama",
    "stablelm": "stablelm",
    "gpt_neox": "gpt_neox",
    "mistral": "mistral",
}


def arch_from_config(config: dict[str, Any]) -> ArchSpec:
    """Read the planner's numbers from a Hugging Face ``config.json`` dict."""
    try:
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        mt = config.get("model_type", "")
        return ArchSpec(
            hidden_size=hidden,
            num_hidden_layers=int(config["num_hidden_layers"]),
            intermediate_size=int(config.get("intermediate_size") or 4 * hidden),
            num_attention_heads=heads,
            num_key_value_heads=int(config.get("num_key_value_heads") or heads),
            vocab_size=int(config["vocab_size"]),
            tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
            mlp="gelu" if mt == "gpt_neox" else "swiglu",
            qkv_bias=mt == "qwen2" or bool(config.get("attention_bias", False)),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise JaftError(
            f"config.json lacks the field {e} needed to size the model; pass --model-type for a registry model"
        ) from None


def detect_template_family(chat_template: str | None) -> TemplateFamily:
    """Name the chat-template family from the template text itself."""
    if not chat_template:
        return "unknown"
    if "<｜User｜>" in chat_template or "<｜Assistant｜>" in chat_template:
        return "deepseek-r1"
    if "<|start_header_id|>" in chat_template:
        return "llama3"
    if "<|im_start|>" in chat_template:
        return "chatml"
    if "### 指示" in chat_template:
        return "stablelm-ja"
    return "unknown"


def entry_from_config(
    name: str, config: dict[str, Any], chat_template: str | None = None
) -> ModelEntry:
    """A strategy for a model the registry does not list, from its ``config.json`` parameter count."""
    arch = arch_from_config(config)
    params = arch.parameter_count()
    billions = params / 1e9
    _, batch, accum, lr, r, alpha, seq = next(b for b in _BANDS if billions < b[0])
    family = _FAMILY_BY_MODEL_TYPE.get(str(config.get("model_type", "")), "other")
    return ModelEntry(
        key=Path(name).name.lower(),
        model_name=name,
        family=family,
        parameters_b=round(billions, 3),
        chat_template=detect_template_family(chat_template),
        recommended_batch_size=batch,
        recommended_gradient_accumulation=accum,
        recommended_learning_rate=lr,
        recommended_lora_r=r,
        recommended_lora_alpha=alpha,
        recommended_max_seq_length=min(seq, int(config.get("max_position_embeddings") or seq)),
        memory_requirements_gb=round(params * 2 / 1e9, 2),
        vram_optimized=billions >= 22,
        description_ja="config.jsonから導出した戦略",
        description_en="strategy derived from config.json",
        arch=arch,
        derived=True,
    )


def read_local_config(path: Path) -> tuple[dict[str, Any], str | None]:
    """``config.json`` and the chat template of a local model directory (clear errors otherwise)."""
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise JaftError(
            f"{path}: no config.json here; point --model-name at a Hugging Face model directory "
            "(one that from_pretrained loads) or use --model-type"
        )
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise JaftError(f"{cfg_file}:{e.lineno}: invalid JSON ({e.msg}); re-save the model directory") from None
    template = None
    tc = path / "tokenizer_config.json"
    if tc.is_file():
        try:
            template = json.loads(tc.read_text(encoding="utf-8")).get("chat_template")
        except json.JSONDecodeError:
            template = None
    jinja = path / "chat_template.jinja"
    if template is None and jinja.is_file():
        template = jinja.read_text(encoding="utf-8")
    if isinstance(template, list):  # several named templates: the default one is what chat uses
        template = next((t.get("template") for t in template if t.get("name") == "default"), None)
    return config, template
