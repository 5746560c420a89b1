from __future__ import annotations

from typing import Literal

from pydantic import Field

from jaft.config.base import StrictModel


class TrainSection(StrictModel):
    """SFT settings. ``None`` means: take it from the registry strategy or the planner."""

    method: Literal["lora", "qlora", "full"] | None = None
    epochs: float = Field(3.0, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use epochs)")
    learning_rate: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=1)
    gradient_accumulation: int | None = Field(None, ge=1)
    max_seq_length: int | None = Field(None, ge=16)
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    lr_scheduler: str = "linear"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    gradient_checkpointing: bool | None = None
    packing: bool | None = Field(
        None,
        description="padding-free packing (default: on with flash-attention, else length-grouped batches)",
    )
    use_liger: bool | None = Field(
        None, description="Liger RMSNorm/SwiGLU/RoPE kernels (default: on CUDA when liger-kernel is installed)")
    torch_compile: bool | None = Field(None, description="torch.compile the model (default: off)")
    optimizer: str | None = Field(
        None, description="transformers optimizer name (default: adamw_torch_fused on CUDA and CPU, adamw_torch elsewhere)")
    token_metrics: bool | None = Field(
        None, description="TRL's per-step entropy and token accuracy in metrics.jsonl (default: off, they cost time)")
    logging_steps: int = Field(10, ge=1)
    eval_steps: int | None = Field(None, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int = Field(2, ge=1)
    seed: int = 42
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    output_dir: str | None = None
    continue_from: str | None = Field(None, description="adapter directory to keep training")
    resume: str | None = Field(None, description="checkpoint dir, or 'latest'")
    num_processes: int = Field(1, ge=1)
    generation_test: bool = True
    system_prompt: str | None = Field(
        None,
        description="instruction for records without one (use grpo.system_prompt's text to train the "
        "<think>/<answer> format that GRPO and eval ask for); folded into the user turn for R1 models",
    )


class LoraSection(StrictModel):
    r: int | None = Field(None, ge=1)
    alpha: int | None = Field(None, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["auto"] = "auto"
    modules_to_save: list[str] = Field(default_factory=list)
