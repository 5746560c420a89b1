"""What SFT and GRPO share: run setup, model + tokenizer loading with PEFT, and error translation."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from jaft.config import RunConfig
from jaft.errors import JaftError
from jaft.hardware import Hardware
from jaft.rundir import RunDir
from jaft.selection import ModelChoice, select_model
from jaft.train.strategy import Applied, Resolved


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def choose_model(cfg: RunConfig, interactive: bool) -> ModelChoice:
    m = cfg.model
    if cfg.train.continue_from and not (m.model_type or m.model_name or m.auto):
        from jaft.models.trained import adapter_base

        base = adapter_base(cfg.train.continue_from)
        return select_model(model_name=base)
    return select_model(m.model_type, m.model_name, m.auto, interactive=interactive)


def default_output(choice: ModelChoice, method: str, stage: str) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{choice.entry.key}-{stage}-{method}-{stamp}"


def print_applied(console: Console, choice: ModelChoice, res: Resolved, hw: Hardware) -> None:
    from rich.table import Table

    console.print(f"[bold]model[/]: {choice.describe()}")
    where = ", ".join(f"{g.name} {g.total_gb:.0f} GB" for g in hw.gpus) or f"CPU ({hw.cpu_count} cores)"
    console.print(f"[bold]hardware[/]: {hw.backend}: {where}")
    table = Table(title="settings applied", show_lines=False)
    for col in ("setting", "value", "from", "why"):
        table.add_column(col)
    for k, a in res.applied.items():
        table.add_row(k, str(a.value), a.source, a.why)
    console.print(table)
    for w in res.plan.warnings:
        console.print(f"[yellow]warning[/]: {w}")


@dataclass
class ModelBundle:
    model: Any
    tokenizer: Any
    notes: list[str]
    template_note: str | None


def load_for_training(
    cfg: RunConfig, choice: ModelChoice, res: Resolved, hw: Hardware, console: Console,
    *, continue_from: str | None = None,
) -> ModelBundle:
    """Tokenizer + model with the method applied: LoRA / QLoRA adapters, or full weights."""
    from transformers import set_seed

    # LoRA's A matrices are drawn at random: seed before they exist, or two runs with the same seed
    # (an uninterrupted one and a resumed one) start from different adapters.
    set_seed(cfg.train.seed)
    from jaft.models.chat import ensure_chat_template
    from jaft.models.loader import LoadSpec, load_model, load_tokenizer
    from jaft.models.lora import detect_target_modules
    from jaft.registry import load_registry

    tok_src = continue_from if continue_from and (Path(continue_from) / "tokenizer_config.json").is_file() else choice.path
    tokenizer = load_tokenizer(tok_src, cfg.model.trust_remote_code, cfg.model.revision)
    template_note = ensure_chat_template(tokenizer, choice.entry.chat_template, cfg.model.chat_template,
                                         log=lambda s: console.print(s, markup=False))
    load_in = {"4bit": "4bit", "8bit": "8bit", "32bit": "32bit"}.get(res.load_in, "16bit")
    if res.method == "full" and load_in in ("4bit", "8bit"):
        raise JaftError("full fine-tuning cannot train quantized weights; use --method lora/qlora or load in 16-bit")
    device_map = res.device_map
    if device_map == "auto" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # Under DDP each process holds a whole copy on its own GPU.
        device_map = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    fallbacks = cfg.model.fallback_models if cfg.model.fallback_models is not None else load_registry().fallback_models
    spec = LoadSpec(
        choice.path,
        load_in=load_in,  # type: ignore[arg-type]
        dtype={"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[res.precision],
        device_map=device_map if hw.has_gpu else ("cpu" if load_in in ("4bit", "8bit") else None),
        max_memory=res.max_memory,
        offload_folder=cfg.model.offload_folder,
        trust_remote_code=cfg.model.trust_remote_code,
        revision=cfg.model.revision,
        attn_implementation=res.attn_implementation,
        fallback_models=[] if continue_from else list(fallbacks),
        allow_4bit_fallback=res.method != "full",
    )
    loaded = load_model(spec, log=lambda s: console.print(f"[yellow]{s}[/]"))
    model = loaded.model
    model.config.use_cache = False
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id

    if res.method == "full":
        if res.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        return ModelBundle(model, tokenizer, loaded.notes, template_note)

    from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training

    if loaded.load_in in ("4bit", "8bit"):
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=res.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif res.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    if continue_from:
        model = PeftModel.from_pretrained(model, continue_from, is_trainable=True)
        return ModelBundle(model, tokenizer, [*loaded.notes, f"continuing adapter {continue_from}"], template_note)
    targets = cfg.lora.target_modules
    if targets == "auto":
        targets = detect_target_modules(model)
        res.applied["lora_target_modules"] = Applied(
            targets, "detected", "every linear layer inside the transformer blocks (seed 001)")
    extra: dict[str, Any] = {}
    modules_to_save = list(cfg.lora.modules_to_save)
    if Path(choice.path).is_dir():
        from jaft.tokenizer.extend import read_extension

        ext = read_extension(choice.path)
        if ext:
            # Rows added by `jaft tokenizer extend` start as means of old rows and must learn; LoRA alone never
            # touches embeddings. Only the new input rows train (old ones stay bit-identical). TRL computes
            # log-probs from lm_head.weight directly, bypassing any adapter on the head, so an untied head
            # trains as a whole copy (modules_to_save) instead of per-token deltas.
            ids = [int(i) for i in ext["new_token_ids"]]
            why = "vocabulary extended by jaft tokenizer extend"
            if ext.get("tied_embeddings", False):
                # A tied head would get a per-token wrapper too, which TRL's head bypasses: train the shared
                # matrix whole instead, keeping the tie.
                if "embed_tokens" not in modules_to_save:
                    modules_to_save.append("embed_tokens")
                extra["ensure_weight_tying"] = True
                why += "; tied embeddings train whole (modules_to_save, tie kept)"
            else:
                extra["trainable_token_indices"] = {"embed_tokens": ids}
                if "lm_head" not in modules_to_save:
                    modules_to_save.append("lm_head")
                why += "; new input rows only, the untied lm_head trains whole (modules_to_save)"
            res.applied["new_token_rows"] = Applied(f"{len(ids)} new tokens trainable", "detected", why)
    lora = LoraConfig(
        r=res.lora_r,
        lora_alpha=res.lora_alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=list(targets),
        modules_to_save=modules_to_save or None,
        task_type="CAUSAL_LM",
        **extra,
    )
    model = get_peft_model(model, lora)
    return ModelBundle(model, tokenizer, loaded.notes, template_note)


@contextlib.contextmanager
def translate_oom(res: Resolved) -> Iterator[None]:
    """Out-of-memory during training → the seed's troubleshooting list plus the planner's suggestion."""
    from jaft.models.loader import is_oom

    try:
        yield
    except Exception as e:
        if not is_oom(e):
            raise
        tips = [f"--set train.batch_size={max(1, res.batch_size // 2)} --set train.gradient_accumulation="
                f"{res.gradient_accumulation * 2} (same effective batch)"]
        if res.method != "qlora":
            tips.append("--method qlora")
        if not res.gradient_checkpointing:
            tips.append("--set train.gradient_checkpointing=true")
        tips.append(f"--set train.max_seq_length={max(128, res.max_seq_length // 2)}")
        raise JaftError(
            f"out of memory at batch {res.batch_size}, seq {res.max_seq_length} ({res.method}); try "
            + ", then ".join(tips)
            + f" — `jaft plan --model ... --method {res.method}` estimates each option"
        ) from None


def latest_checkpoint(run: RunDir) -> str | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not run.checkpoints_dir.is_dir():
        return None
    return get_last_checkpoint(str(run.checkpoints_dir))


def resume_target(cfg: RunConfig) -> tuple[RunDir, str, RunConfig]:
    """Run dir, checkpoint and recorded config for ``--resume [CHECKPOINT]``."""
    resume = cfg.train.resume or "latest"
    if resume != "latest":
        ckpt = Path(resume)
        if not (ckpt / "trainer_state.json").is_file():
            raise JaftError(f"{ckpt}: not a checkpoint (no trainer_state.json); pass a checkpoints/checkpoint-N dir")
        run = RunDir(cfg.train.output_dir or ckpt.parent.parent)
    else:
        if not cfg.train.output_dir:
            raise JaftError("--resume needs the run to resume: pass --output RUN_DIR (or a checkpoint path)")
        run = RunDir(cfg.train.output_dir)
        found = latest_checkpoint(run)
        if found is None:
            raise JaftError(f"{run.path}: no checkpoint to resume from in checkpoints/; start a new run instead")
        ckpt = Path(found)
    recorded = run.read_config()
    recorded.train.resume = str(ckpt)
    recorded.train.output_dir = str(run.path)
    return run, str(ckpt), recorded


def ensure_new_run(run: RunDir) -> None:
    """Refuse to start over a run that already has checkpoints (that is what --resume is for)."""
    if is_main_process() and run.exists() and latest_checkpoint(run):
        raise JaftError(f"{run.path} already holds a run with checkpoints; use --resume to continue it or "
                        f"choose another --output")


def save_final_weights(model: Any, tokenizer: Any, method: str, run: RunDir) -> Path:
    """adapter/ (only the trained "default" adapter) or model/ for full fine-tuning, with the tokenizer."""
    from jaft.fsutil import atomic_dir

    target = run.model_dir if method == "full" else run.adapter_dir
    with atomic_dir(target) as tmp:
        if method == "full":
            model.save_pretrained(tmp, safe_serialization=True)
        else:
            # TRL's GRPO adds a frozen "ref" copy of the adapter as KL reference: it stays behind.
            model.save_pretrained(tmp, safe_serialization=True, selected_adapters=["default"])
        tokenizer.save_pretrained(tmp)
    return target


def record_run(run: RunDir, stage: str, cfg: RunConfig, res: Resolved, hw: Hardware, **extra: Any) -> None:
    """jaft_run.yaml for a training stage: config, what was applied and why, hardware, and ``extra``."""
    run.write_run_file(stage=stage, config=cfg, applied=res.applied_dict(), hardware=hw.to_dict(), extra=extra)


def train_guarded(trainer: Any, res: Resolved, run: RunDir, resume_ckpt: str | None, advice: str) -> tuple[Any, float]:
    """``trainer.train()`` with out-of-memory translated and the NaN guard's stop turned into an error.

    Returns (train output, seconds). ``advice`` is what to try when the loss stops being finite.
    """
    import time

    from jaft.train.callbacks import NanGuard

    guard = next(c for c in trainer.callback_handler.callbacks if isinstance(c, NanGuard))
    t0 = time.perf_counter()
    with translate_oom(res):
        result = trainer.train(resume_from_checkpoint=resume_ckpt)
    if guard.bad_step is not None:
        raise JaftError(
            f"training stopped at step {guard.bad_step}: {guard.reason}; the last good checkpoint is "
            f"{latest_checkpoint(run) or '(none yet)'} — {advice}"
        )
    return result, time.perf_counter() - t0


def quiet_libraries() -> None:
    """Our own progress bars and messages replace the libraries' per-call tqdm bars and notices."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*MatMul8bitLt.*")
    try:
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("trl").setLevel(logging.ERROR)
    logging.getLogger("peft").setLevel(logging.ERROR)
