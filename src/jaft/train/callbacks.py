"""Trainer callbacks: metrics.jsonl, a rich progress bar, and the NaN guard."""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

from jaft.rundir import RunDir


class MetricsCallback(TrainerCallback):
    """One JSON line per log step (rank 0 only), plus anything ``extra`` adds (GRPO samples)."""

    def __init__(self, run: RunDir, extra: Any = None) -> None:
        self.run = run
        self.t0 = time.perf_counter()
        self.extra = extra  # callable(state) -> dict merged into each row (e.g. sample completions)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4),
               "elapsed_s": round(time.perf_counter() - self.t0, 2)}
        for k, v in logs.items():
            if isinstance(v, (int, float, str)) or v is None:
                row[k] = v
        if self.extra is not None and "loss" in logs:
            row.update(self.extra(state))
        self.run.append_metrics(row)


class ProgressCallback(TrainerCallback):
    """A rich progress bar with the latest loss; replaces transformers' tqdm bars."""

    def __init__(self, description: str = "training") -> None:
        self.description = description
        self.progress = None
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=state.max_steps, info="",
                                           completed=state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is not None and logs:
            key = next((k for k in ("loss", "reward", "eval_loss") if k in logs), None)
            if key:
                self.progress.update(self.task, info=f"{key} {logs[key]:.4g}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)
            self.progress.stop()
            self.progress = None


class NanGuard(TrainerCallback):
    """Stop when the loss or the trained weights stop being finite, before a bad checkpoint is saved.

    The loss is checked at every log; the trainable weights before every save (cheap for LoRA), so the
    newest checkpoint on disk is always the last good one.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.bad_step: int | None = None
        self.reason = ""

    def _weights_finite(self) -> bool:
        import torch

        for p in self.model.parameters():
            if p.requires_grad and not torch.isfinite(p.detach()).all():
                return False
        return True

    def on_log(self, args, state, control, logs=None, **kwargs):
        loss = (logs or {}).get("loss")
        if isinstance(loss, float) and not math.isfinite(loss):
            self._stop(state, control, f"loss is {loss}")

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save and not self._weights_finite():
            self._stop(state, control, "trained weights contain NaN/inf")

    def _stop(self, state, control, reason: str) -> None:
        if self.bad_step is None:
            self.bad_step, self.reason = state.global_step, reason
        control.should_save = False
        control.should_training_stop = True
