from __future__ import annotations

from typing import Literal

from pydantic import Field

from jaft.config.base import StrictModel


class ModelSection(StrictModel):
    """Which model, and how to load it. Selection flags map here (`--model-type`, `--model-name`, `--auto`)."""

    model_type: str | None = Field(None, description="registry key (jaft models)")
    model_name: str | None = Field(None, description="Hub id or local directory")
    auto: bool = Field(False, description="pick the best registry model for this hardware")
    trust_remote_code: bool = Field(False, description="run model code from the Hub; only if you trust it")
    revision: str | None = None
    load_in: Literal["auto", "32bit", "16bit", "8bit", "4bit"] = Field(
        "auto", description="auto: the planner decides (4-bit for QLoRA and >=22B)"
    )
    attn_implementation: str | None = Field(None, description="sdpa (default), flash_attention_2, eager")
    offload_folder: str | None = Field(None, description="spill weights here when GPU+RAM are short")
    chat_template: str | None = Field(
        None, description="for a tokenizer without one: a family (chatml, llama3, deepseek-r1, stablelm-ja) or a "
        ".jinja file; default: chosen from the vocabulary's special tokens"
    )
    fallback_models: list[str] | None = Field(
        None, description="tried in order when loading runs out of memory (default: the registry's)"
    )
