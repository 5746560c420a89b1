"""Decide every training setting and record why: registry strategy, planner, or the user.

The result is printed at start and stored under ``applied`` in ``jaft_run.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jaft.config import RunConfig
from jaft.hardware import Hardware
from jaft.planner import Plan, plan_training
from jaft.selection import ModelChoice


@dataclass
class Applied:
    value: Any
    source: str  # config | registry | planner | strategy | hardware | detected | default
    why: str = ""


@dataclass
class Resolved:
    method: str
    load_in: str
    batch_size: int
    gradient_accumulation: int
    learning_rate: float
    lora_r: int
    lora_alpha: int
    max_seq_length: int
    gradient_checkpointing: bool
    attn_implementation: str
    batching: str  # "packed" (padding-free) or "grouped" (length-grouped batches)
    plan: Plan
    use_liger: bool = False
    torch_compile: bool = False
    optimizer: str = "adamw_torch"
    token_metrics: bool = False
    applied: dict[str, Applied] = field(default_factory=dict)

    # Placement and precision are the planner's, unchanged: read them from the plan.
    @property
    def precision(self) -> str:
        return self.plan.precision

    @property
    def device_map(self) -> Any:
        return self.plan.device_map

    @property
    def max_memory(self) -> dict[str, str] | None:
        return self.plan.max_memory

    def applied_dict(self) -> dict[str, dict[str, Any]]:
        return {k: {"value": a.value, "source": a.source, "why": a.why} for k, a in self.applied.items()}


def flash_attention_available(hw: Hardware) -> bool:
    import importlib.util

    return hw.backend == "cuda" and importlib.util.find_spec("flash_attn") is not None


def flash_attention_3_available(hw: Hardware) -> bool:
    """FlashAttention-3 (Hopper) ships as ``flash_attn_interface``; transformers calls it ``flash_attention_3``."""
    import importlib.util

    return hw.backend == "cuda" and importlib.util.find_spec("flash_attn_interface") is not None


# Attention implementations with variable-length kernels: a padding-free batch (one row, position_ids restarting
# per example) runs as separate sequences. SDPA and flex_attention instead get a block-diagonal mask over the
# whole row (transformers masking_utils.find_packed_sequence_indices): SDPA then pays for the full square, and
# transformers compiles flex_attention with max-autotune once per new shape.
VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")


def attention_implementation(cfg: RunConfig, hw: Hardware) -> str:
    if cfg.model.attn_implementation:
        return cfg.model.attn_implementation
    if flash_attention_3_available(hw):
        return "flash_attention_3"
    return "flash_attention_2" if flash_attention_available(hw) else "sdpa"


def batching(cfg: RunConfig, attn_implementation: str) -> str:
    """"packed" (padding-free) or "grouped" (length-grouped batches with dynamic padding).

    Padding-free packing only pays off with variable-length attention kernels (flash-attention): with
    SDPA or eager attention the packed row becomes one long sequence under a block mask, and attention
    cost grows with its square. Elsewhere, batching records of similar length wastes almost nothing.
    """
    if cfg.train.packing is not None:
        return "packed" if cfg.train.packing else "grouped"
    return "packed" if attn_implementation in VARLEN_ATTENTION else "grouped"


def liger_available(hw: Hardware) -> bool:
    import importlib.util

    return hw.backend == "cuda" and importlib.util.find_spec("liger_kernel") is not None


def speed_levers(cfg: RunConfig, hw: Hardware, applied: dict[str, Applied]) -> dict[str, Any]:
    """Liger kernels, torch.compile, the optimizer and TRL's per-step metrics, each with its reason.

    Returns the Resolved fields ``use_liger``, ``torch_compile``, ``optimizer``, ``token_metrics``. Each one is
    measured on its own by ``bench/gpu.py`` (docs/benchmarks.md, GPU section).
    """
    t = cfg.train
    cuda = hw.backend == "cuda"
    out: dict[str, Any] = {}

    def lever(name: str, user: Any, value: Any, why: str) -> None:
        if user is not None:
            out[name] = user
            applied[name] = Applied(user, "config", "set by you")
        else:
            out[name] = value
            applied[name] = Applied(value, "strategy", why)

    if liger_available(hw):
        liger_why = ("Liger's Triton RMSNorm, SwiGLU and RoPE kernels (fewer launches, less activation memory); "
                     "the loss already goes through TRL's fused LM head")
    else:
        liger_why = "liger-kernel is not installed" if cuda else "Liger's kernels are Triton kernels for CUDA"
    lever("use_liger", t.use_liger, liger_available(hw), liger_why)
    lever("torch_compile", t.torch_compile, False,
          "compilation costs minutes per run and recompiles for every new padded length")
    # torch ships fused AdamW for CUDA and CPU (torch >= 2.4); elsewhere (MPS, ROCm builds) the plain loop.
    fused = hw.backend in ("cuda", "cpu")
    lever("optimizer", t.optimizer, "adamw_torch_fused" if fused else "adamw_torch",
          "one fused kernel updates every adapter tensor" if fused else f"fused AdamW is not built for {hw.backend}")
    lever("token_metrics", t.token_metrics, False,
          "TRL's per-step entropy and token accuracy cost an extra pass over each logits tile; the loss is logged")
    return out


# Full fine-tuning steps are smaller than LoRA's (seed 003: 2e-5 full vs 1e-4 … 3e-4 LoRA).
FULL_LR_SCALE = 0.2


def resolve_training(cfg: RunConfig, choice: ModelChoice, hw: Hardware, tuning: list[str] | None = None) -> Resolved:
    entry = choice.entry
    t, lc = cfg.train, cfg.lora
    plan = plan_training(
        entry,
        hw,
        method=t.method,
        seq_len=t.max_seq_length,
        batch_size=t.batch_size,
        gradient_accumulation=t.gradient_accumulation,
        gradient_checkpointing=t.gradient_checkpointing,
        lora_r=lc.r,
        # TRL (SFT and GRPO alike) scores through its fused, tiled LM head: whole logits never exist.
        fused_cross_entropy=True,
    )
    planner_why = "; ".join(plan.reasons)
    applied: dict[str, Applied] = {}
    src = f"registry '{entry.key}'" if not entry.derived else "derived from config.json"

    def pick(name: str, user: Any, strategy: Any, planned: Any = None, why: str = "") -> Any:
        if user is not None:
            applied[name] = Applied(user, "config", "set by you")
            return user
        if planned is not None and planned != strategy:
            applied[name] = Applied(planned, "planner", why or planner_why)
            return planned
        applied[name] = Applied(strategy, "registry", src)
        return strategy

    method = t.method or plan.method
    applied["method"] = Applied(method, "config" if t.method else "planner", "set by you" if t.method else planner_why)
    # A model loaded in 4-bit by the user's choice also means QLoRA.
    load_in = cfg.model.load_in if cfg.model.load_in != "auto" else plan.load_in
    if method == "qlora":
        load_in = "4bit"
    elif load_in == "4bit" and method == "lora":
        method = "qlora"
        applied["method"] = Applied(method, "config", "model.load_in is 4bit")
    applied["load_in"] = Applied(load_in, "config" if cfg.model.load_in != "auto" else "planner",
                                 "QLoRA trains a 4-bit NF4 base" if load_in == "4bit" else f"{plan.precision} weights")
    applied["precision"] = Applied(plan.precision, "planner",
                                   {"bf16": "GPU supports bf16", "fp16": "GPU lacks bf16", "fp32": "no GPU"}[plan.precision])
    batch = pick("batch_size", t.batch_size, entry.recommended_batch_size, plan.batch_size)
    accum = pick("gradient_accumulation", t.gradient_accumulation, entry.recommended_gradient_accumulation,
                 plan.gradient_accumulation)
    base_lr = entry.recommended_learning_rate
    if method == "full" and t.learning_rate is None:
        lr = base_lr * FULL_LR_SCALE
        applied["learning_rate"] = Applied(lr, "registry", f"{src} × {FULL_LR_SCALE} for full fine-tuning")
    else:
        lr = pick("learning_rate", t.learning_rate, base_lr)
    r = pick("lora_r", lc.r, entry.recommended_lora_r)
    alpha = pick("lora_alpha", lc.alpha, entry.recommended_lora_alpha)
    seq = pick("max_seq_length", t.max_seq_length, entry.recommended_max_seq_length, plan.seq_len)
    gc = plan.gradient_checkpointing if t.gradient_checkpointing is None else t.gradient_checkpointing
    gc_why = next((r for r in plan.reasons if r.startswith("gradient checkpointing on")),
                  f"off: the estimate ({plan.estimate.allocated_gb:.1f} GB) fits without it, and it recomputes "
                  "every block's forward during backward")
    applied["gradient_checkpointing"] = Applied(
        gc, "config" if t.gradient_checkpointing is not None else "planner",
        "set by you" if t.gradient_checkpointing is not None else gc_why)
    if plan.max_memory:
        applied["max_memory"] = Applied(plan.max_memory, "planner", "model parallel across GPUs (seed 003)")
    if tuning:
        applied["gpu_tuning"] = Applied(tuning, "hardware", "set only where the device is present")
    attn = attention_implementation(cfg, hw)
    mode = batching(cfg, attn)
    applied["batching"] = Applied(
        mode, "config" if t.packing is not None else "planner",
        f"padding-free packing with {attn}'s variable-length kernels" if mode == "packed"
        else "length-grouped batches: no varlen attention kernel here, so packing would cost more than padding")
    levers = speed_levers(cfg, hw, applied)
    return Resolved(
        method=method,
        load_in=load_in,
        batch_size=batch,
        gradient_accumulation=accum,
        learning_rate=float(lr),
        lora_r=r,
        lora_alpha=alpha,
        max_seq_length=seq,
        gradient_checkpointing=gc,
        attn_implementation=attn,
        batching=mode,
        plan=plan,
        applied=applied,
        **levers,
    )
