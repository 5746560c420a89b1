from __future__ import annotations

from typing import Literal

from pydantic import Field

from jaft.config.base import StrictModel

Quant = Literal["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]


class ExportSection(StrictModel):
    """`jaft export`: merge → GGUF F16 → quantize → verify → Ollama (flags override these keys)."""

    quant: list[Quant] = Field(default_factory=lambda: ["q4_k_m"], description="GGUF types to write besides F16")
    merge_dtype: Literal["float16", "bfloat16"] = Field("float16", description="dtype of the merged model")
    ollama_name: str | None = Field(None, description="run `ollama create NAME` when ollama is installed")
    verify: bool = Field(True, description="compare GGUF logits and tokenization with the HF model")
    min_top1_agreement: float = Field(0.99, ge=0, le=1, description="F16 vs HF top-1 agreement required")
    offload_folder: str | None = Field(None, description="spill weights here if a PEFT merge runs short of RAM")
    pre_tokenizer: Literal["qwen2", "deepseek-r1-qwen", "llama-bpe"] | None = Field(
        None, description="force tokenizer.ggml.pre when the tokenizer's regex is not recognised (verified)"
    )
    threads: int | None = Field(None, ge=1, description="llama.cpp threads for quantization (default: all)")
