from __future__ import annotations

from pydantic import Field, model_validator

from jaft.config.base import StrictModel

DEFAULT_SYSTEM_PROMPT = (
    "あなたは日本語で考える数学アシスタントです。まず<think>と</think>の間で日本語で順を追って考え、"
    "次に<answer>と</answer>の間に最終的な答えだけを書いてください。"
)


class GrpoSection(StrictModel):
    """GRPO (seed 004): group sampling, rewards by name with weights, temperature annealing."""

    rewards: dict[str, float] = Field(
        default_factory=lambda: {"format": 1.0, "accuracy": 1.0, "language_consistency": 0.5},
        description="reward name (jaft.rewards) or dotted path -> weight",
    )
    num_generations: int = Field(4, ge=2)
    max_prompt_length: int = Field(256, ge=8)
    max_completion_length: int = Field(256, ge=8)
    beta: float = Field(0.04, ge=0)
    learning_rate: float = Field(1e-6, gt=0)
    batch_size: int = Field(4, ge=1, description="prompts×generations per device step")
    gradient_accumulation: int = Field(1, ge=1)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    initial_temperature: float = Field(1.0, gt=0)
    final_temperature: float = Field(0.1, gt=0)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    answer_column: str = "answer"
    log_completions: int = Field(2, ge=0, description="sample completions logged per log step")
    use_vllm: bool | None = Field(
        None, description="vLLM generation (default: colocate when vllm is installed on CUDA)")
    vllm_mode: str | None = Field(
        None, pattern="^(server|colocate)$",
        description="server (`trl vllm-serve --model ...` running) or colocate (default: colocate)")
    continuous_batching: bool | None = Field(
        None, description="transformers' continuous batching for generation without vLLM (default: on CUDA)")
    vllm_server_host: str = "127.0.0.1"
    vllm_server_port: int = 8000

    @model_validator(mode="after")
    def _divides(self) -> GrpoSection:
        if self.batch_size % self.num_generations:
            raise ValueError(
                f"num_generations ({self.num_generations}) must divide batch_size ({self.batch_size}): "
                f"each prompt's group of completions must fit one batch"
            )
        return self
