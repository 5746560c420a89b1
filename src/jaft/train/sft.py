"""Supervised fine-tuning: LoRA, QLoRA or full, through TRL's SFTTrainer.

The run directory gets jaft_run.yaml (resolved config + what was applied and why), adapter/ or model/
(with the tokenizer), checkpoints/, metrics.jsonl and report.md with a loss curve and a generation test.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

from jaft.config import RunConfig
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.rundir import RunDir
from jaft.train.strategy import Applied


def run_sft(
    cfg: RunConfig,
    *,
    console: Console | None = None,
    interactive: bool = False,
    data: list[str] | None = None,
    records: tuple[list[Record], list[Record]] | None = None,
    generation_test: bool | None = None,
    examples: list[dict[str, list[int]]] | None = None,
) -> RunDir:
    """Train, save, test and report.

    ``data``: a prepared dir or raw files (default: ``cfg.data.path``, else the execution mode's data).
    ``records`` bypasses data loading (for library use and tests).
    ``examples``: already tokenized examples (``input_ids`` and ``completion_mask``, equal lengths, each within
    the sequence length), trained in the given order, ``batch_size`` at a time, neither shuffled nor regrouped:
    a benchmark gives jaft exactly the batches its baseline gets (bench/gpu.py). "packed" batching then
    flattens each batch padding-free instead of packing across batches.
    """
    console = console or Console(stderr=True)
    from jaft.hardware import apply_gpu_tuning, detect
    from jaft.train.common import (
        choose_model,
        default_output,
        ensure_new_run,
        is_main_process,
        load_for_training,
        print_applied,
        quiet_libraries,
        record_run,
        resume_target,
        save_final_weights,
        train_guarded,
    )
    from jaft.train.strategy import resolve_training

    quiet_libraries()

    resume_ckpt = None
    if cfg.train.resume:
        run, resume_ckpt, cfg = resume_target(cfg)
        console.print(f"[bold]resuming[/] {run.path} from {resume_ckpt}")
    choice = choose_model(cfg, interactive)
    hw = detect(cfg.train.output_dir or ".")
    tuning = apply_gpu_tuning(hw)
    res = resolve_training(cfg, choice, hw, tuning)
    if not resume_ckpt:
        if interactive:
            _ask_settings(cfg, res, choice, console)
        run = RunDir(cfg.train.output_dir or default_output(choice, res.method, "sft"))
        ensure_new_run(run)
    cfg.train.output_dir = str(run.path)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        console.print(f"rank {os.environ.get('RANK', '0')} of {world} ready (only rank 0 writes {run.path})")
    if is_main_process():
        print_applied(console, choice, res, hw)

    # Data ---------------------------------------------------------------------------------------------
    if examples is not None:
        train_recs, val_recs, data_source = [], [], f"{len(examples)} tokenized examples passed in (fixed order)"
    elif records is None:
        from jaft.train.data import load_records

        train_recs, val_recs, data_source = load_records(cfg, data, run.path, console)
    else:
        train_recs, val_recs = records
        data_source = "records passed in"

    bundle = load_for_training(cfg, choice, res, hw, console, continue_from=cfg.train.continue_from)
    model, tokenizer = bundle.model, bundle.tokenizer
    if bundle.template_note:
        res.applied["chat_template"] = Applied(bundle.template_note, "default", "the tokenizer had no chat template")

    from jaft.train.data import build_dataset

    system = cfg.train.system_prompt
    strict = cfg.data.strict or cfg.data.mode == "production"
    if examples is not None:
        train_ds, train_stats = _fixed_examples(examples, res.max_seq_length)
    else:
        train_ds, train_stats = build_dataset(train_recs, tokenizer, res.max_seq_length, system, strict=strict,
                                              console=console)
    eval_ds, eval_stats = (build_dataset(val_recs, tokenizer, res.max_seq_length, system, strict=strict,
                                         console=console) if val_recs else (None, None))
    if is_main_process():
        console.print(f"[bold]data[/]: {data_source}: {train_stats['records']} records → {train_stats['examples']} "
                      f"examples ({train_stats['completion_tokens']:,} trained tokens, {train_stats['truncated']} "
                      f"truncated, {train_stats['dropped_no_completion']} with no completion left"
                      + (f", rejected {train_stats['rejected']}" if train_stats["rejected"] else "") + ")"
                      + (f"; validation {eval_stats['examples']} examples" if eval_stats else ""))
    facts = {"world_size": world, "model_path": choice.path, "data": data_source,
             "data_stats": {"train": train_stats, "validation": eval_stats}}
    if is_main_process():
        record_run(run, "sft", cfg, res, hw, status="running", **facts)

    trainer = _make_trainer(cfg, res, hw, model, tokenizer, train_ds, eval_ds, run, fixed_order=examples is not None)
    result, seconds = train_guarded(trainer, res, run, resume_ckpt,
                                    "lower --lr, raise warmup (--set train.warmup_ratio=0.1) or check the data")
    if not is_main_process():
        return run

    metrics = dict(result.metrics)
    if eval_ds is not None:
        metrics.update(trainer.evaluate())
    save_final_weights(trainer.model, tokenizer, res.method, run)
    generations = []
    if generation_test if generation_test is not None else cfg.train.generation_test:
        from jaft.models.generate import generate_texts

        console.print("[bold]generation test[/] (seed prompts)")
        # Asked the way the run trained and deploys: with its instruction as the system prompt.
        generations = generate_texts(trainer.model, tokenizer, max_new_tokens=40, system=system)
        for g in generations:
            console.print(f"  {g['prompt']} → {g['output'][:80]!r}", markup=False)
    rows = run.read_metrics()
    losses = [r["loss"] for r in rows if isinstance(r.get("loss"), (int, float))]
    summary = {
        "model": choice.path,
        "method": res.method,
        "steps": trainer.state.global_step,
        "train seconds": round(seconds, 1),
        "first logged loss": round(losses[0], 4) if losses else "—",
        "last logged loss": round(losses[-1], 4) if losses else "—",
        "eval loss": round(metrics["eval_loss"], 4) if "eval_loss" in metrics else "—",
        "tokens / s (non-pad)": _tokens_per_second(rows, metrics),
        "data": data_source,
        "output": str(run.final_weights()[1]),
    }
    from jaft.train.report import write_report

    write_report(run, title=f"jaft SFT: {choice.entry.key} ({res.method})", summary=summary,
                 applied=res.applied_dict(), generations=generations)
    record_run(run, "sft", cfg, res, hw, status="finished", **facts,
               metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))},
               generation_test=generations, notes=bundle.notes)
    console.print(f"[green]done[/]: {run.path} (report: {run.report_file})")
    return run


def _fixed_examples(examples: list[dict[str, list[int]]], max_length: int):
    """A dataset of already tokenized examples, checked, with the same counts as build_dataset's."""
    from datasets import Dataset

    rows = []
    for i, ex in enumerate(examples):
        ids, mask = list(ex["input_ids"]), list(ex["completion_mask"])
        if len(ids) != len(mask) or not 0 < len(ids) <= max_length:
            raise JaftError(f"example {i}: input_ids and completion_mask must have one equal length in 1..{max_length}")
        rows.append({"input_ids": ids, "completion_mask": mask})
    stats = {"records": len(rows), "examples": len(rows), "truncated": 0, "dropped_no_completion": 0, "rejected": 0,
             "tokens": sum(len(r["input_ids"]) for r in rows),
             "completion_tokens": sum(sum(r["completion_mask"]) for r in rows)}
    return Dataset.from_list(rows), stats


def _make_trainer(cfg, res, hw, model, tokenizer, train_ds, eval_ds, run: RunDir, fixed_order: bool = False):
    from trl import SFTConfig, SFTTrainer

    from jaft.train.callbacks import MetricsCallback, NanGuard, ProgressCallback
    t = cfg.train
    packed = res.batching == "packed"
    # Fixed batches (a benchmark's): "packed" flattens each batch as given instead of packing across batches.
    pack_across = packed and not fixed_order
    if fixed_order:
        sampling = "sequential"
    else:
        sampling = "random" if packed else "group_by_length"
    args = SFTConfig(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=res.batch_size,
        per_device_eval_batch_size=res.batch_size,
        gradient_accumulation_steps=res.gradient_accumulation,
        learning_rate=res.learning_rate,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        warmup_steps=t.warmup_ratio,
        lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=t.eval_steps or t.save_steps,
        bf16=res.precision == "bf16",
        fp16=res.precision == "fp16",
        # Checkpointing is applied to the model before PEFT wraps it (see load_for_training).
        gradient_checkpointing=False,
        # Padding-free without packing does not truncate: fixed examples are checked against the length instead.
        max_length=None if packed and fixed_order else res.max_seq_length,
        packing=pack_across,
        packing_strategy="bfd",
        padding_free=packed,
        train_sampling_strategy=sampling,
        completion_only_loss=True,
        report_to=list(t.report_to) or "none",
        seed=t.seed,
        data_seed=t.seed,
        use_liger_kernel=res.use_liger,
        optim=res.optimizer,
        torch_compile=res.torch_compile,
        disable_tqdm=True,
        use_cpu=not hw.has_gpu,
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
    )
    class Trainer(SFTTrainer):
        def log(self, logs, start_time=None):
            if not res.token_metrics:
                for metrics in self._metrics.values():
                    metrics.pop("entropy", None)
                    metrics.pop("mean_token_accuracy", None)
            super().log(logs, start_time)

    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        callbacks=[MetricsCallback(run), ProgressCallback("SFT"), NanGuard(model)],
    )
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as HFProgress

    for cb in (PrinterCallback, HFProgress):
        trainer.remove_callback(cb)
    if not res.token_metrics:
        _log_probs_only(trainer.model)
    return trainer


def _log_probs_only(model: Any) -> None:
    """Re-patch TRL's fused LM head to compute only log-probabilities, not entropy and top-1 (logging only).

    TRL's SFTTrainer reads ``outputs.entropy`` and ``outputs.is_top1`` for its metrics: they become zeros of
    the right shape (no vocabulary pass), and ``Trainer.log`` above drops the two meaningless averages.
    """
    import functools
    import types

    import torch
    from accelerate.utils import is_peft_model

    try:
        from trl.trainer.utils import add_fused_lm_head
    except ImportError:  # a TRL without the fused head computes its metrics from full logits: nothing to skip
        return

    base = model.get_base_model() if is_peft_model(model) else model
    base.forward = types.MethodType(type(base).forward, base)
    add_fused_lm_head(base, outputs=("log_probs",))
    fused = base.forward

    @functools.wraps(fused)
    def forward(*args, **kwargs):
        out = fused(*args, **kwargs)
        if kwargs.get("fused_lm_head") and getattr(out, "entropy", 0) is None:
            out.entropy = torch.zeros_like(out.log_probs)
            out.is_top1 = torch.zeros_like(out.log_probs, dtype=torch.bool)
        return out

    base.forward = forward


def _tokens_per_second(rows: list[dict[str, Any]], metrics: dict[str, Any]) -> float | str:
    seen = [r["num_tokens"] for r in rows if isinstance(r.get("num_tokens"), (int, float))]
    runtime = metrics.get("train_runtime")
    return round(seen[-1] / runtime, 1) if seen and runtime else "—"


def _ask_settings(cfg: RunConfig, res: Any, choice: Any, console: Console) -> None:
    """The seed's interactive settings: epochs, learning rate and output name, defaults offered."""
    from rich.prompt import FloatPrompt, Prompt

    from jaft.train.common import default_output

    epochs = FloatPrompt.ask("エポック数 / epochs", default=cfg.train.epochs, console=console)
    lr = FloatPrompt.ask("学習率 / learning rate", default=res.learning_rate, console=console)
    out = Prompt.ask("出力名 / output", default=str(cfg.train.output_dir or default_output(choice, res.method, "sft")),
                     console=console)
    if epochs <= 0 or lr <= 0:
        raise JaftError("epochs and learning rate must be positive")
    cfg.train.epochs = epochs
    if lr != res.learning_rate:
        res.learning_rate = lr
        res.applied["learning_rate"] = Applied(lr, "config", "entered interactively")
    cfg.train.output_dir = out
