"""GRPO (seed 004): group sampling with Japanese-aware rewards, via TRL's GRPOTrainer.

Runs from an SFT run directory (its adapter keeps training; TRL freezes a copy of it as the KL
reference) or from a model. The prompt is rendered with the model's chat template plus a Japanese
instruction asking for <think> and <answer>; the sampling temperature anneals from
``initial_temperature`` to ``final_temperature`` over training.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from rich.console import Console

from jaft.config import RunConfig
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.rundir import RunDir
from jaft.train.strategy import Applied


def resolve_rewards(spec: dict[str, float], max_completion_length: int = 1024) -> tuple[list[Any], list[float]]:
    """Reward functions and weights from names or dotted paths; fails before any model loads."""
    from jaft.rewards import resolve_reward

    if not spec:
        raise JaftError("grpo.rewards is empty; name at least one reward, e.g. --reward format=1 --reward accuracy=1")
    funcs, weights = [], []
    for name, weight in spec.items():
        # The overlong penalty counts against the completion budget GRPO actually samples with.
        params = {"max_length": max_completion_length, "cache": max(1, max_completion_length // 4)} if name == "length" else {}
        funcs.append(resolve_reward(name, **params))
        weights.append(float(weight))
    return funcs, weights


def prompt_rows(records: list[Record], answer_column: str = "answer") -> tuple[list[dict[str, str]], int]:
    """(problem, gold answer) pairs; records without a gold answer are counted, not used."""
    rows, skipped = [], 0
    for r in records:
        answer = r.answer if answer_column == "answer" else r.meta.get(answer_column)
        problem = r.prompt if r.kind == "prompt_completion" else next(
            (m.content for m in (r.messages or []) if m.role == "user"), None)
        if answer is None or not problem:
            skipped += 1
            continue
        rows.append({"problem": problem, "answer": str(answer)})
    return rows, skipped


class _AnnealingTrainerMixin:
    """Lets the sampling temperature change during training, in generation and in the log-probs alike."""

    def set_temperature(self, t: float) -> None:
        from accelerate.utils import is_peft_model as _is_peft
        from trl.trainer.utils import add_fused_lm_head

        self.temperature = t
        if getattr(self, "generation_config", None) is not None:
            self.generation_config.temperature = t
        if isinstance(getattr(self, "generation_kwargs", None), dict):
            self.generation_kwargs["temperature"] = t
        vllm = getattr(self, "vllm_generation", None)
        if vllm is not None and hasattr(vllm, "temperature"):
            vllm.temperature = t
        # The fused LM head closes over the temperature: re-patch it from the class's own forward.
        targets = [self.model.get_base_model() if _is_peft(self.model) else self.model]
        if getattr(self, "ref_model", None) is not None:
            targets.append(self.ref_model)
        for i, m in enumerate(targets):
            m.forward = types.MethodType(type(m).forward, m)
            add_fused_lm_head(m, temperature=t, cast_lm_head_to_fp32=self.args.cast_lm_head_to_fp32,
                              outputs=("log_probs", "entropy") if i == 0 else ("log_probs",))


class _TimedStepsMixin:
    """Seconds of each optimizer step spent generating, scoring (reward functions) and training, logged as
    ``time/generation_s``, ``time/scoring_s``, ``time/training_s`` with ``generation/tokens_per_s``.

    Scoring runs inside generation's caller and both inside ``training_step``: training is the step's time
    less the other two. CUDA is synchronised at each boundary so queued kernels land in the right part.
    """

    _spent: dict[str, float] | None = None

    def _clock(self) -> float:
        import time

        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return time.perf_counter()

    def _add(self, part: str, seconds: float) -> None:
        if self._spent is None:
            self._spent = {"generation": 0.0, "scoring": 0.0, "tokens": 0.0}
        self._spent[part] += seconds

    def _generate(self, prompts):
        t = self._clock()
        out = super()._generate(prompts)
        self._add("generation", self._clock() - t)
        self._add("tokens", float(sum(len(ids) for ids in out[1])))  # out[1]: completion ids per sample
        return out

    def _calculate_rewards(self, *args, **kwargs):
        t = self._clock()
        out = super()._calculate_rewards(*args, **kwargs)
        self._add("scoring", self._clock() - t)
        return out

    def training_step(self, model, inputs, num_items_in_batch):
        if self._spent is None:
            self._add("generation", 0.0)
        if getattr(self, "_step_t0", None) is None:
            self._step_t0 = self._clock()
        out = super().training_step(model, inputs, num_items_in_batch)
        if self._step % self.current_gradient_accumulation_steps == 0:  # TRL counts micro-steps in _step
            total = self._clock() - self._step_t0
            s = self._spent
            m = self._metrics["train"]
            m["time/generation_s"].append(s["generation"])
            m["time/scoring_s"].append(s["scoring"])
            m["time/training_s"].append(max(0.0, total - s["generation"] - s["scoring"]))
            if s["generation"] > 0:
                m["generation/tokens_per_s"].append(s["tokens"] / s["generation"])
            self._spent, self._step_t0 = None, None
        return out


def generation_backend(cfg: RunConfig, hw: Any, load_in: str) -> tuple[dict[str, Any], Applied]:
    """GRPOConfig settings for generation, and why: vLLM, transformers' continuous batching, or ``generate``.

    vLLM when asked for, or (by default) colocated when it is installed on CUDA. Else continuous batching
    (TRL's ``use_transformers_continuous_batching``: paged attention, finished sequences replaced at once)
    on CUDA for 16-bit weights; TRL casts the model to bf16 for it, which a 4-bit bitsandbytes model refuses.
    Elsewhere one padded ``generate`` call.
    """
    import importlib.util

    g = cfg.grpo
    cuda = getattr(hw, "backend", "cpu") == "cuda"
    has_vllm = importlib.util.find_spec("vllm") is not None
    use_vllm = g.use_vllm if g.use_vllm is not None else (cuda and has_vllm)
    if use_vllm:
        mode = g.vllm_mode or "colocate"
        source = "config" if g.use_vllm else "strategy"
        why = "set by you" if g.use_vllm else "vLLM is installed: colocated in this process (no server to start)"
        return ({"use_vllm": True, "vllm_mode": mode, "vllm_server_host": g.vllm_server_host,
                 "vllm_server_port": g.vllm_server_port}, Applied(f"vllm ({mode})", source, why))
    if g.continuous_batching is not None:
        on, source, why = g.continuous_batching, "config", "set by you"
    elif not cuda:
        on, source, why = False, "strategy", "continuous batching needs CUDA; one padded generate call"
    elif load_in in ("4bit", "8bit"):
        on, source, why = False, "strategy", "TRL casts the model to bf16 for continuous batching; a quantized base cannot"
    else:
        on, source, why = True, "strategy", ("no vLLM: transformers' continuous batching (paged KV cache, a finished "
                                             "completion's slot refilled at once) instead of padded generate")
    return ({"use_vllm": False, "use_transformers_continuous_batching": on},
            Applied("continuous batching" if on else "generate", source, why))


def annealed(step: int, total: int, t0: float, t1: float) -> float:
    """Linear schedule from t0 (step 0) to t1 (last step)."""
    if total <= 1:
        return t1
    return t0 + (t1 - t0) * min(step, total - 1) / (total - 1)


def _default_run_dir(cfg: RunConfig, from_run: str | None) -> Path:
    import datetime as dt

    label = (Path(from_run).name if from_run else cfg.model.model_type
             or Path(cfg.model.model_name or "auto").name or "model")
    return Path("runs") / f"{label}-grpo-{dt.datetime.now():%Y%m%d-%H%M%S}"


def run_grpo(
    cfg: RunConfig,
    *,
    from_run: str | None = None,
    data: list[str] | None = None,
    records: list[Record] | None = None,
    console: Console | None = None,
) -> RunDir:
    console = console or Console(stderr=True)
    from jaft.hardware import apply_gpu_tuning, detect
    from jaft.models.trained import resolve_trained
    from jaft.selection import select_model
    from jaft.train.common import (
        choose_model,
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
        # The recorded config names base, adapter and data: a resumed run asks nothing again.
        run, resume_ckpt, cfg = resume_target(cfg)
        from_run = None
    continue_from = cfg.train.continue_from
    g = cfg.grpo
    # Everything that can be wrong with the request is checked before a model loads.
    if from_run and not Path(from_run).is_dir():
        raise JaftError(f"{from_run}: no such run directory; --from wants the --output of a `jaft train` run")
    reward_funcs, reward_weights = resolve_rewards(g.rewards, g.max_completion_length)
    if g.use_vllm:  # asked for explicitly (by default vLLM is only used when installed)
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise JaftError("grpo.use_vllm needs vLLM: pip install vllm (CUDA), then start `trl vllm-serve --model "
                            "MODEL` for server mode, or set grpo.vllm_mode=colocate")
    if not resume_ckpt and not cfg.train.output_dir:
        cfg.train.output_dir = str(_default_run_dir(cfg, from_run))
    if records is None:
        from jaft.train.data import load_records

        train_recs, _, data_source = load_records(cfg, data, Path(cfg.train.output_dir), console)
    else:
        train_recs, data_source = records, "records passed in"
    rows, skipped = prompt_rows(train_recs, g.answer_column)
    if not rows:
        raise JaftError(f"no record has a gold '{g.answer_column}' (GRPO scores answers against it); use math "
                        f"problems with answers, e.g. problem/solution records with <answer>…</answer>")

    sft_source = None
    if from_run:
        sft_source = resolve_trained(from_run)
        choice = select_model(model_name=sft_source.base)
        continue_from = sft_source.adapter
        if sft_source.run_method and not cfg.train.method:
            cfg.train.method = "qlora" if sft_source.run_method == "qlora" else (
                "lora" if sft_source.adapter else cfg.train.method)
        cfg.train.continue_from = continue_from
        # Record the resolved base so the run directory stands on its own (resume, eval, export).
        cfg.model.model_name, cfg.model.model_type, cfg.model.auto = sft_source.base, None, False
    else:
        choice = choose_model(cfg, interactive=False)
    hw = detect(cfg.train.output_dir or ".")
    tuning = apply_gpu_tuning(hw)
    res = resolve_training(cfg, choice, hw, tuning)
    res.learning_rate = g.learning_rate
    res.batch_size = g.batch_size
    res.gradient_accumulation = g.gradient_accumulation
    for k, v in (("learning_rate", g.learning_rate), ("batch_size", g.batch_size),
                 ("gradient_accumulation", g.gradient_accumulation)):
        res.applied[k] = Applied(v, "config", "grpo section (GRPO steps are small; R1 uses ~1e-6 … 3e-6)")
    res.applied["rewards"] = Applied(dict(g.rewards), "config", "name → weight")
    res.applied["temperature"] = Applied(f"{g.initial_temperature} → {g.final_temperature}", "config",
                                         "annealed linearly over training (seed 004)")
    if sft_source is not None:
        res.applied["from_run"] = Applied(str(from_run), "config", f"continues {sft_source.describe()}")
    if not resume_ckpt:
        run = RunDir(cfg.train.output_dir)
        ensure_new_run(run)
    cfg.train.output_dir = str(run.path)
    if is_main_process():
        print_applied(console, choice, res, hw)
        console.print(f"[bold]data[/]: {data_source}: {len(rows)} problems with answers"
                      + (f", {skipped} records without a gold answer not used" if skipped else ""))

    bundle = load_for_training(cfg, choice, res, hw, console, continue_from=continue_from)
    model, tokenizer = bundle.model, bundle.tokenizer
    from datasets import Dataset

    from jaft.models.chat import grpo_prompt

    dataset = Dataset.from_list(
        [{"prompt": grpo_prompt(tokenizer, r["problem"], g.system_prompt), g.answer_column: r["answer"]}
         for r in rows])
    facts = {"model_path": choice.path, "data": data_source, "problems": len(rows),
             "skipped_without_answer": skipped}
    if is_main_process():
        record_run(run, "grpo", cfg, res, hw, status="running", **facts)

    trainer = _make_trainer(cfg, res, hw, model, tokenizer, dataset, reward_funcs, reward_weights, run)
    result, seconds = train_guarded(trainer, res, run, resume_ckpt, "lower grpo.learning_rate")
    if not is_main_process():
        return run
    target = save_final_weights(trainer.model, tokenizer, res.method, run)

    metrics_rows = run.read_metrics()
    reward_keys = sorted({k for r in metrics_rows for k in r if k.startswith("rewards/") and k.endswith("/mean")})
    first = next((r for r in metrics_rows if "reward" in r), {})
    last = next((r for r in reversed(metrics_rows) if "reward" in r), {})
    summary: dict[str, Any] = {
        "model": choice.path + (f" + {continue_from}" if continue_from else ""),
        "method": res.method,
        "steps": trainer.state.global_step,
        "train seconds": round(seconds, 1),
        "problems": len(rows),
        "first reward (mean)": round(first.get("reward", float("nan")), 4) if first else "—",
        "last reward (mean)": round(last.get("reward", float("nan")), 4) if last else "—",
        "output": str(target),
    }
    for k in reward_keys:
        summary[f"last {k}"] = round(last.get(k, float("nan")), 4) if last else "—"
    summary.update(step_time_split(metrics_rows))
    samples = [s for r in metrics_rows for s in r.get("samples", [])][-4:]
    sections = {}
    if samples:
        lines = ["| completion | rewards |", "|---|---|"]
        for s in samples:
            text = s["completion"].replace("|", "\\|").replace("\n", "⏎")[:300]
            lines.append(f"| {text} | {s['rewards']} |")
        sections["Sample completions (last log steps)"] = "\n".join(lines)
    from jaft.train.report import write_report

    write_report(run, title=f"jaft GRPO: {choice.entry.key} ({res.method})", summary=summary,
                 applied=res.applied_dict(), sections=sections,
                 curve_keys=("reward", "reward_std", *reward_keys))
    record_run(run, "grpo", cfg, res, hw, status="finished", **facts,
               metrics={k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
               notes=bundle.notes)
    console.print(f"[green]done[/]: {run.path} (report: {run.report_file})")
    return run


def step_time_split(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean seconds per logged step in generation, scoring and training, and generated tokens per second."""
    out: dict[str, Any] = {}
    for key, label in (("time/generation_s", "generation s / step"), ("time/scoring_s", "scoring s / step"),
                       ("time/training_s", "training s / step"), ("generation/tokens_per_s", "generated tokens / s")):
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
        if vals:
            out[label] = round(sum(vals) / len(vals), 3 if key.startswith("time") else 1)
    return out


def _make_trainer(cfg, res, hw, model, tokenizer, dataset, reward_funcs, reward_weights, run: RunDir):
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from transformers.trainer_callback import ProgressCallback as HFProgress
    from trl import GRPOConfig, GRPOTrainer

    from jaft.train.callbacks import MetricsCallback, NanGuard, ProgressCallback

    g, t = cfg.grpo, cfg.train

    class Trainer(_TimedStepsMixin, _AnnealingTrainerMixin, GRPOTrainer):
        pass

    gen_args, res.applied["generation"] = generation_backend(cfg, hw, res.load_in)
    import dataclasses

    known = {f.name for f in dataclasses.fields(GRPOConfig)}
    if gen_args.pop("use_transformers_continuous_batching", False):
        # TRL < 1.2 calls it use_transformers_paged.
        gen_args["use_transformers_continuous_batching" if "use_transformers_continuous_batching" in known
                 else "use_transformers_paged"] = True

    args = GRPOConfig(
        output_dir=str(run.checkpoints_dir),
        per_device_train_batch_size=g.batch_size,
        gradient_accumulation_steps=g.gradient_accumulation,
        num_generations=g.num_generations,
        max_completion_length=g.max_completion_length,
        beta=g.beta,
        learning_rate=g.learning_rate,
        num_train_epochs=g.epochs,
        max_steps=g.max_steps,
        temperature=g.initial_temperature,
        reward_weights=reward_weights,
        logging_steps=t.logging_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        bf16=res.precision == "bf16",
        fp16=res.precision == "fp16",
        gradient_checkpointing=False,  # applied to the model before PEFT (load_for_training)
        use_cpu=not hw.has_gpu,
        report_to=list(t.report_to) or "none",
        seed=t.seed,
        disable_tqdm=True,
        log_completions=False,
        optim=res.optimizer,
        ddp_find_unused_parameters=False,
        **gen_args,
    )
    holder: dict[str, Any] = {}

    def samples(state) -> dict[str, Any]:
        tr = holder.get("trainer")
        if tr is None or not g.log_completions:
            return {}
        logs = tr._logs
        comps = list(logs["completion"])[-g.log_completions:]
        names = list(logs["rewards"])
        rewards = {n: list(logs["rewards"][n])[-g.log_completions:] for n in names}
        return {"samples": [{"completion": str(c), "rewards": {n: round(rewards[n][i], 3) for n in names}}
                            for i, c in enumerate(comps)]}

    class Anneal(TrainerCallback):
        def on_step_begin(self, args_, state, control, **kw):
            tr = holder.get("trainer")
            if tr is not None:
                tr.set_temperature(annealed(state.global_step, state.max_steps, g.initial_temperature,
                                            g.final_temperature))

        def on_log(self, args_, state, control, logs=None, **kw):
            if logs is not None and holder.get("trainer") is not None:
                logs["temperature"] = holder["trainer"].temperature

    trainer = Trainer(
        model=model,
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[Anneal(), MetricsCallback(run, extra=samples), ProgressCallback("GRPO"), NanGuard(model)],
    )
    holder["trainer"] = trainer
    for cb in (PrinterCallback, HFProgress):
        trainer.remove_callback(cb)
    return trainer
