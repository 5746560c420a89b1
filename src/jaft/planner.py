"""Memory estimates per weight format and training method, and a recommendation for this hardware.

Everything here is arithmetic on :class:`~jaft.registry.ArchSpec`, so it is testable without a GPU and
comparable to measured peaks (``bench/gpu.py``). Sizes are decimal GB (1e9 bytes), as in the seed's
table (32B: fp32 128, fp16 64, int8 32, 4-bit 16).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from jaft.hardware import Hardware
from jaft.registry import ArchSpec, ModelEntry

Method = Literal["full", "lora", "qlora"]
Precision = Literal["bf16", "fp16", "fp32"]
GB = 1e9

BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "int8": 1.0, "nf4": 0.5}
# NF4 with double quantization stores 4 bits plus ~0.127 bits of block constants per weight.
NF4_EFFECTIVE = (4 + 0.127) / 8
# Q4_K_M averages ~4.85 bits per weight in llama.cpp's own tables.
Q4_K_M_BYTES = 4.85 / 8
# The CUDA context and kernels live outside PyTorch's allocator: counted against the device, never in
# `torch.cuda.max_memory_allocated` (what bench/gpu.py measures).
CUDA_CONTEXT_GB = 0.8
# TRL's fused LM head (trl/trainer/utils.py add_fused_lm_head, trl/kernels/chunked_logprob.py) projects
# TOKEN_CHUNK_SIZE = 4096 tokens × _CHUNKED_LOGPROB_CHUNK_SIZE = 32768 vocabulary rows per tile in the compute
# dtype and accumulates the hidden-state gradient in fp32: the whole logits tensor never exists.
FUSED_HEAD_TILE = (4096, 32768)
# 22B and up train in 4-bit by default (seed 002: "32B/22B → 4bit").
QLORA_THRESHOLD_B = 22.0
MIN_SEQ_LEN = 256


def weight_memory_gb(parameters: float, fmt: str) -> float:
    """Weights alone in one format: ``parameters × bytes``."""
    return parameters * BYTES_PER_PARAM[fmt] / GB


def weight_table(parameters: float) -> dict[str, float]:
    return {fmt: round(weight_memory_gb(parameters, fmt), 2) for fmt in ("fp32", "bf16", "int8", "nf4")}


def lora_trainable_parameters(arch: ArchSpec, r: int, targets: list[str] | None = None) -> int:
    """LoRA adds ``r × (in + out)`` parameters to every targeted linear of every layer."""
    shapes = arch.linear_shapes()
    names = targets or list(shapes)
    return arch.num_hidden_layers * sum(r * (i + o) for n, (i, o) in shapes.items() if n in names)


@dataclass
class Estimate:
    """Bytes (as GB) of one training step's peak, by component."""

    method: Method
    weights_gb: float
    trainable_parameters: int
    trainable_weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    logits_gb: float
    context_gb: float
    # With checkpointing, the one block recomputed during backward (part of ``activations_gb``). It and the
    # LM head's transient never coexist: the head's tensors are freed before backward reaches the blocks.
    recompute_gb: float = 0.0

    @property
    def allocated_gb(self) -> float:
        """What the framework allocates at the step's peak: comparable to ``torch.cuda.max_memory_allocated``."""
        return (
            self.weights_gb
            + self.trainable_weights_gb
            + self.gradients_gb
            + self.optimizer_gb
            + self.activations_gb
            + self.logits_gb
            - min(self.logits_gb, self.recompute_gb)
        )

    @property
    def total_gb(self) -> float:
        """The device's peak: ``allocated_gb`` plus the CUDA context."""
        return self.allocated_gb + self.context_gb

    def to_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        d["allocated_gb"] = round(self.allocated_gb, 3)
        d["total_gb"] = round(self.total_gb, 3)
        return d


def activation_bytes_per_token_per_layer(arch: ArchSpec, method: Method, bytes_per_elem: float) -> float:
    """Tensors autograd keeps for one token in one decoder block (SDPA/flash: no s² attention matrix).

    Norm inputs/outputs, q/k/v, attention output, residuals (~11h + 3kv), the MLP's gate/up/act/product
    (4I for SwiGLU, 2I for GELU), and for LoRA the dropout copies of each adapted input (~6h + I).
    """
    h, i = arch.hidden_size, arch.intermediate_size
    kv = arch.num_key_value_heads * arch.head_dim
    elems = 11 * h + 3 * kv + (4 * i if arch.mlp == "swiglu" else 2 * i)
    if method != "full":
        elems += 6 * h + i
    return elems * bytes_per_elem


def estimate_training(
    arch: ArchSpec,
    method: Method,
    *,
    batch_size: int,
    seq_len: int,
    gradient_checkpointing: bool = True,
    lora_r: int = 16,
    lora_targets: list[str] | None = None,
    precision: Precision = "bf16",
    fused_cross_entropy: bool = False,
    on_gpu: bool = True,
) -> Estimate:
    """Peak memory of one training step of ``method`` on one device holding the whole model."""
    p = arch.parameter_count()
    embed = arch.vocab_size * arch.hidden_size * (1 if arch.tie_word_embeddings else 2)
    linear = p - embed
    act_bytes = 4.0 if precision == "fp32" else 2.0
    param_bytes = 4.0 if precision == "fp32" else 2.0

    if method == "qlora":
        weights = linear * NF4_EFFECTIVE + embed * 2.0  # bitsandbytes leaves embeddings and lm_head 16-bit
    else:
        weights = p * param_bytes
    if method == "full":
        trainable = p
        trainable_w = 0.0  # the weights themselves are trained
        grads = p * param_bytes
        optim = 2 * p * param_bytes  # AdamW m and v in the parameters' dtype
    else:
        trainable = lora_trainable_parameters(arch, lora_r, lora_targets)
        trainable_w = trainable * 4.0  # adapters train in fp32
        grads = trainable * 4.0
        optim = trainable * 8.0

    tokens = batch_size * seq_len
    per_layer = activation_bytes_per_token_per_layer(arch, method, act_bytes) * tokens
    recompute = 0.0
    if gradient_checkpointing:
        # Only each block's input survives; one block is recomputed at a time during backward.
        recompute = per_layer
        acts = arch.num_hidden_layers * tokens * arch.hidden_size * act_bytes + per_layer
    else:
        acts = arch.num_hidden_layers * per_layer
    if fused_cross_entropy:
        # One tile of logits in the compute dtype plus the fp32 gradient of the final hidden states.
        tile_tokens, tile_vocab = FUSED_HEAD_TILE
        logits = min(tokens, tile_tokens) * min(arch.vocab_size, tile_vocab) * act_bytes + tokens * arch.hidden_size * 4.0
    else:
        # Logits, their fp32 upcast for the loss and its gradient: the 152k vocabulary makes this big.
        logits = tokens * arch.vocab_size * (act_bytes + 4.0 + 2.0)
    return Estimate(
        method=method,
        weights_gb=weights / GB,
        trainable_parameters=trainable,
        trainable_weights_gb=trainable_w / GB,
        gradients_gb=grads / GB,
        optimizer_gb=optim / GB,
        activations_gb=acts / GB,
        logits_gb=logits / GB,
        context_gb=CUDA_CONTEXT_GB if on_gpu else 0.0,
        recompute_gb=recompute / GB,
    )


@dataclass
class Plan:
    model: str
    method: Method
    precision: Precision
    load_in: Literal["16bit", "4bit", "32bit"]
    batch_size: int
    gradient_accumulation: int
    seq_len: int
    gradient_checkpointing: bool
    device_map: str | None
    max_memory: dict[str, str] | None
    estimate: Estimate
    budget_gb: float
    fits: bool
    weights_by_format_gb: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["estimate"] = self.estimate.to_dict()
        d["budget_gb"] = round(self.budget_gb, 2)
        return d


def _precision(hw: Hardware) -> Precision:
    if not hw.has_gpu:
        return "fp32"
    return "bf16" if hw.bf16 else "fp16"


def plan_training(
    entry: ModelEntry,
    hw: Hardware,
    *,
    method: Method | None = None,
    seq_len: int | None = None,
    batch_size: int | None = None,
    gradient_accumulation: int | None = None,
    gradient_checkpointing: bool | None = None,
    lora_r: int | None = None,
    fused_cross_entropy: bool = False,
) -> Plan:
    """Choose method, precision, batch, accumulation and sequence length that fit ``hw``.

    Shrinks in the order the seed's troubleshooting recommends: gradient checkpointing, then a smaller
    batch with more accumulation (same effective batch), then a shorter sequence, then QLoRA.
    """
    arch = entry.arch
    reasons: list[str] = []
    warnings: list[str] = []
    precision = _precision(hw)
    r = lora_r or entry.recommended_lora_r
    budget_per_gpu = [max(g.total_gb * 0.92 - CUDA_CONTEXT_GB, 0.0) for g in hw.gpus]
    # On CPU the RAM is the budget; keep a quarter for the OS and the data pipeline.
    budget = max(budget_per_gpu) if budget_per_gpu else hw.ram_available_gb * 0.75
    total_budget = sum(budget_per_gpu) if budget_per_gpu else budget

    user_method = method is not None
    if method is None:
        if entry.parameters_b >= QLORA_THRESHOLD_B:
            method = "qlora"
            reasons.append(f"{entry.parameters_b:g}B ≥ {QLORA_THRESHOLD_B:g}B: QLoRA 4-bit by default (seed 002)")
        else:
            method = "lora"
            reasons.append("LoRA by default below 22B")
    if method == "qlora" and not hw.has_gpu:
        warnings.append("QLoRA on CPU works (bitsandbytes CPU backend) but is slow; use it only for tiny models")

    batch = batch_size or entry.recommended_batch_size
    accum = gradient_accumulation or entry.recommended_gradient_accumulation
    effective = batch * accum
    seq = seq_len or entry.recommended_max_seq_length
    # Checkpointing recomputes every block's forward during backward (about a third more compute per step,
    # measured in bench/gpu.py): on only when the estimate says memory needs it (below).
    gc = False if gradient_checkpointing is None else gradient_checkpointing

    def est(m: Method, b: int, s: int, g: bool) -> Estimate:
        return estimate_training(
            arch, m, batch_size=b, seq_len=s, gradient_checkpointing=g, lora_r=r,
            precision=precision, fused_cross_entropy=fused_cross_entropy, on_gpu=hw.has_gpu,
        )

    def fits(e: Estimate) -> bool:
        # The budget already leaves out the CUDA context: compare what the allocator will hold.
        if e.allocated_gb <= budget:
            return True
        # Model parallel across GPUs (seed 003): weights split, activations on each device in turn.
        return len(budget_per_gpu) > 1 and e.allocated_gb <= total_budget * 0.9

    e = est(method, batch, seq, gc)
    if not fits(e) and not gc and gradient_checkpointing is None:
        prev = e.allocated_gb
        gc = True
        e = est(method, batch, seq, gc)
        reasons.append(f"gradient checkpointing on: {prev:.1f} GB without it exceeds the {budget:.1f} GB budget")
    while not fits(e) and batch > 1 and batch_size is None:
        batch //= 2
        accum = max(1, effective // batch)
        e = est(method, batch, seq, gc)
        reasons.append(f"batch {batch} × accumulation {accum} (effective {batch * accum}) to fit memory")
    # QLoRA before shortening sequences: a 4-bit base keeps the full context.
    if not fits(e) and method == "lora" and not user_method:
        method = "qlora"
        e = est(method, batch, seq, gc)
        reasons.append("LoRA in 16-bit does not fit: QLoRA 4-bit")
    while not fits(e) and seq > MIN_SEQ_LEN and seq_len is None:
        seq //= 2
        e = est(method, batch, seq, gc)
        reasons.append(f"sequence length {seq} to fit memory")
    ok = fits(e)
    if not ok:
        tips = ["--method qlora"] if method != "qlora" else []
        tips += ["a smaller --seq-len", "a smaller LoRA r (--set lora.r=8)", "a smaller model"]
        warnings.append(
            f"estimated {e.allocated_gb:.1f} GB exceeds the {budget:.1f} GB available"
            + (f" per GPU ({total_budget:.1f} GB across {len(hw.gpus)})" if len(hw.gpus) > 1 else "")
            + ": try " + ", ".join(tips)
        )

    device_map: str | None = None
    max_memory: dict[str, str] | None = None
    if hw.has_gpu:
        device_map = "auto"
        if len(hw.gpus) > 1 and e.allocated_gb > budget:
            max_memory = {str(g.index): f"{int(b)}GB" for g, b in zip(hw.gpus, budget_per_gpu, strict=True)}
            max_memory["cpu"] = f"{int(hw.ram_total_gb * 0.5)}GB"
            reasons.append(f"model parallel over {len(hw.gpus)} GPUs with max_memory per GPU")
        elif len(hw.gpus) > 1:
            reasons.append(f"fits one GPU: data parallel with `jaft train --num-processes {len(hw.gpus)}`")

    if not hw.has_gpu:
        load_in = "4bit" if method == "qlora" else "32bit"
    else:
        load_in = "4bit" if method == "qlora" else "16bit"

    p = arch.parameter_count()
    merge_ram = p * 2 / GB * 1.1
    if merge_ram > hw.ram_total_gb:
        warnings.append(
            f"merging needs ~{merge_ram:.0f} GB of system RAM (16-bit weights) but this machine has "
            f"{hw.ram_total_gb:.0f} GB: add swap or use the offload folder (jaft export uses it)"
        )
    export_disk = p * (2 + 2 + Q4_K_M_BYTES) / GB
    if export_disk > hw.disk_free_gb:
        warnings.append(
            f"export needs ~{export_disk:.0f} GB of disk (merged model, F16 GGUF, Q4_K_M) but "
            f"{hw.disk_free_gb:.0f} GB is free at {hw.disk_path}"
        )
    return Plan(
        model=entry.model_name,
        method=method,
        precision=precision,
        load_in=load_in,
        batch_size=batch,
        gradient_accumulation=accum,
        seq_len=seq,
        gradient_checkpointing=gc,
        device_map=device_map,
        max_memory=max_memory,
        estimate=e,
        budget_gb=budget,
        fits=ok,
        weights_by_format_gb=weight_table(p),
        reasons=reasons,
        warnings=warnings,
    )


def best_fitting(entries: list[ModelEntry], hw: Hardware) -> tuple[ModelEntry, Plan]:
    """``--auto``: the largest model whose plan fits this machine; the smallest when there is no GPU."""
    ordered = sorted(entries, key=lambda m: m.parameters_b)
    if not hw.has_gpu:
        return ordered[0], plan_training(ordered[0], hw)
    for entry in reversed(ordered):
        plan = plan_training(entry, hw)
        if plan.fits:
            return entry, plan
    return ordered[0], plan_training(ordered[0], hw)
