from __future__ import annotations

from typing import Literal

from pydantic import Field

from jaft.config.base import StrictModel

Quant = Literal["f16", "q8_0", "q6_k", "q5_k_m", "q4_k_m"]


class ExportSection(StrictModel):
    quant: list[Quant] = Field(default_factory=lambda: ["q4_k_m"])
    merge_dtype: Literal["float16", "bfloat16"] = "float16"
    ollama_name: str | None = None
    verify: bool = True
    min_top1_agreement: float = Field(0.99, ge=0, le=1)
    offload_folder: str | None = None
