"""Forms → the ``jaft …`` command line, checked before anything starts.

Each builder returns a :class:`Command` (argv starting with ``"jaft"``, the directory it writes, and
its kind); the UI shows ``argv`` as the equivalent command and the job manager runs exactly it. Checks
that the CLI itself makes (config ranges, unknown keys, model sources) go through the same
``load_run_config`` the command calls, so the UI says what the CLI would say, before a process starts;
checks only the UI needs (a path that does not exist, an output already holding a run, a job already
writing there) are here. Every failure is a :class:`~jaft.errors.JaftError` with a message in the UI's
language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.studio.i18n import msg, t
from jaft.studio.jobs import JobManager

MODES = ("trial", "development", "production")
METHODS = ("auto", "lora", "qlora", "full")
QUANTS = ("q4_k_m", "q5_k_m", "q6_k", "q8_0", "f16")


@dataclass
class Command:
    kind: str  # prepare | train | grpo | eval | export | init-tiny
    argv: list[str]
    output: str | None  # the directory the job writes, as given (relative to the working directory)


def _num(value: Any, what: str, lo: float, hi: float, lang: str, *, integer: bool = False) -> float | int:
    """``value`` as a number in [lo, hi]; the UI's words for ``what`` name it in the error."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise JaftError(msg("range", lang, what=what, lo=lo, hi=hi, value=value)) from None
    if not lo <= v <= hi or (integer and v != int(v)):
        raise JaftError(msg("range", lang, what=what, lo=lo, hi=hi, value=value))
    return int(v) if integer else v


def _text(value: Any) -> str:
    return str(value or "").strip()


def _existing(jobs: JobManager, path: str, what: str, lang: str) -> str:
    if not path:
        raise JaftError(msg("required", lang, what=what))
    if not jobs.resolve(path).exists():
        raise JaftError(msg("missing", lang, what=what, path=path))
    return path


def _fresh_output(jobs: JobManager, path: str, lang: str, marker: str) -> None:
    """Refuse an output a job is writing, or one that already holds a finished stage's ``marker``."""
    if not path:
        return
    if (busy := jobs.busy(path)) is not None:
        raise JaftError(msg("busy", lang, path=path, job=busy.id))
    if (jobs.resolve(path) / marker).exists():
        raise JaftError(msg("exists", lang, path=path))


def _validate_config(overrides: dict[str, Any], sets: list[str] | None = None) -> None:
    """The CLI's own config check (ranges, types, model source) on the values the command will get."""
    from jaft.config import load_run_config

    load_run_config(None, overrides=overrides, sets=sets)


def _model_args(model: str, jobs: JobManager, lang: str) -> list[str]:
    """``--model-type KEY`` for a registry key, else ``--model-name`` (a Hub id or a local directory)."""
    if not model:
        raise JaftError(msg("required", lang, what=t("model", lang)))
    from jaft.registry import load_registry

    if model in [m.key for m in load_registry().models]:
        return ["--model-type", model]
    local = jobs.resolve(model)
    looks_local = model.startswith((".", "/", "~")) or local.exists() or model.count("/") != 1
    if looks_local and not local.exists():
        raise JaftError(msg("missing", lang, what=t("model", lang), path=model))
    return ["--model-name", str(local) if looks_local else model]


def prepare_command(jobs: JobManager, *, inputs: str, samples: list[str], mode: str, out: str, augment: Any,
                    val_ratio: Any, seed: Any, lang: str = "ja") -> Command:
    """``jaft data prepare [FILES…] --mode MODE --out OUT --augment N --val-ratio R --seed S``.

    ``inputs`` is one path per line; ``samples`` names bundled datasets (text, chat, qa, …) added as
    files. With neither, the mode picks its files (trial: the bundled samples).
    """
    from jaft.data.samples import sample_file

    out = _text(out)
    if not out:
        raise JaftError(msg("required", lang, what=t("data_out", lang)))
    if mode not in MODES:
        raise JaftError(msg("required", lang, what=t("mode", lang)))
    files = [ln.strip() for ln in (inputs or "").splitlines() if ln.strip()]
    for f in files:
        _existing(jobs, f, t("inputs", lang), lang)
    files += [str(sample_file(s)) for s in samples or []]
    n_aug = _num(augment, t("augment", lang), 0, 10, lang, integer=True)
    ratio = _num(val_ratio, t("val_ratio", lang), 0, 0.5, lang)
    n_seed = _num(seed, t("seed", lang), 0, 2**31 - 1, lang, integer=True)
    _fresh_output(jobs, out, lang, "report.json")
    argv = ["jaft", "data", "prepare", *files, "--mode", mode, "--out", out, "--augment", str(n_aug),
            "--val-ratio", f"{ratio:g}", "--seed", str(n_seed)]
    return Command("prepare", argv, out)


def train_command(jobs: JobManager, *, model: str, data: str, out: str, method: str, epochs: Any, max_steps: Any,
                  lr: Any, batch: Any, logging_steps: Any, system_prompt: str, grad_accum: Any = 0, lora_r: Any = 0,
                  lora_alpha: Any = 0, max_seq_length: Any = 0, lang: str = "ja") -> Command:
    """``jaft train --model-… M --data D [--output O] [--method X] --epochs E [--max-steps N] …``.

    ``method`` ``auto`` and a strategy number at 0 (lr, batch, grad_accum, lora_r, lora_alpha,
    max_seq_length) are left to the model's strategy: not on the command line. The Train tab passes
    here only what the user changed from the strategy's prefilled values
    (:func:`jaft.studio.strategy.overrides_only`).
    """
    model, data, out = _text(model), _text(data), _text(out)
    margs = _model_args(model, jobs, lang)
    _existing(jobs, data, t("data_dir", lang), lang)
    n_epochs = _num(epochs, t("epochs", lang), 0.01, 1000, lang)
    steps = _num(max_steps, t("max_steps", lang), -1, 10**7, lang, integer=True)
    rate = _num(lr, t("lr", lang), 0, 1, lang)
    n_batch = _num(batch, t("batch", lang), 0, 4096, lang, integer=True)
    n_accum = _num(grad_accum, t("grad_accum", lang), 0, 4096, lang, integer=True)
    n_r = _num(lora_r, t("lora_r", lang), 0, 4096, lang, integer=True)
    n_alpha = _num(lora_alpha, t("lora_alpha", lang), 0, 65536, lang, integer=True)
    n_seq = _num(max_seq_length, t("max_seq_length", lang), 0, 10**6, lang, integer=True)
    every = _num(logging_steps, t("logging_steps", lang), 1, 10**5, lang, integer=True)
    if steps == 0:
        raise JaftError(msg("range", lang, what=t("max_steps", lang), lo=-1, hi=10**7, value=0))
    _fresh_output(jobs, out, lang, "jaft_run.yaml")
    argv = ["jaft", "train", *margs, "--data", data]
    if out:
        argv += ["--output", out]
    if method and method != "auto":
        argv += ["--method", method]
    argv += ["--epochs", f"{n_epochs:g}"]
    if steps > 0:
        argv += ["--max-steps", str(steps)]
    if rate > 0:
        argv += ["--lr", f"{rate:g}"]
    sets = [f"train.logging_steps={every}"]
    for key, n in (("train.batch_size", n_batch), ("train.gradient_accumulation", n_accum), ("lora.r", n_r),
                   ("lora.alpha", n_alpha), ("train.max_seq_length", n_seq)):
        if n > 0:
            sets.append(f"{key}={n}")
    if _text(system_prompt):
        # JSON-quoted: a valid YAML string whatever the prompt holds (colons, brackets, quotes).
        sets.append("train.system_prompt=" + json.dumps(_text(system_prompt), ensure_ascii=False))
    _validate_config({"train.method": None if method == "auto" else method, "train.epochs": n_epochs,
                      "train.max_steps": steps, "train.learning_rate": rate or None},
                     sets=sets)
    for s in sets:
        argv += ["--set", s]
    return Command("train", argv, out or None)


def grpo_command(jobs: JobManager, *, from_run: str, data: str, out: str, max_steps: Any, num_generations: Any,
                 lr: Any, beta: Any, logging_steps: Any, lang: str = "ja") -> Command:
    """``jaft grpo --from SFT_RUN [--data D] [--output O] --max-steps N --num-generations G …``."""
    from_run, data, out = _text(from_run), _text(data), _text(out)
    _existing(jobs, from_run, t("from_run", lang), lang)
    if data:
        _existing(jobs, data, t("data_dir", lang), lang)
    steps = _num(max_steps, t("max_steps", lang), 1, 10**7, lang, integer=True)
    gens = _num(num_generations, t("num_generations", lang), 2, 64, lang, integer=True)
    rate = _num(lr, t("lr", lang), 0, 1, lang)
    kl = _num(beta, t("beta", lang), 0, 10, lang)
    every = _num(logging_steps, t("logging_steps", lang), 1, 10**5, lang, integer=True)
    _fresh_output(jobs, out, lang, "jaft_run.yaml")
    argv = ["jaft", "grpo", "--from", from_run]
    if data:
        argv += ["--data", data]
    if out:
        argv += ["--output", out]
    argv += ["--max-steps", str(steps), "--num-generations", str(gens), "--beta", f"{kl:g}"]
    if rate > 0:
        argv += ["--lr", f"{rate:g}"]
    argv += ["--set", f"train.logging_steps={every}"]
    _validate_config({"grpo.max_steps": steps, "grpo.num_generations": gens, "grpo.beta": kl,
                      "grpo.learning_rate": rate or None}, sets=[f"train.logging_steps={every}"])
    return Command("grpo", argv, out or None)


def resume_command(jobs: JobManager, run: str, lang: str = "ja") -> Command:
    """``jaft train|grpo --resume --output RUN``: the stage is the one the run records."""
    run = _text(run)
    _existing(jobs, run, t("run_out", lang), lang)
    from jaft.rundir import RunDir

    stage = RunDir(jobs.resolve(run)).read_run_file().get("stage")
    if stage not in ("sft", "grpo"):
        raise JaftError(f"{run}: stage '{stage}' cannot be resumed (only sft and grpo runs)")
    if (busy := jobs.busy(run)) is not None:
        raise JaftError(msg("busy", lang, path=run, job=busy.id))
    kind = "train" if stage == "sft" else "grpo"
    return Command(kind, ["jaft", kind, "--resume", "--output", run], run)


def eval_command(jobs: JobManager, *, model: str, limit: Any, max_new_tokens: Any, out: str,
                 lang: str = "ja") -> Command:
    """``jaft eval --model M --task math --limit N --max-new-tokens T --out PRED.jsonl --json``."""
    model = _text(model)
    _existing(jobs, model, t("model", lang), lang)
    n = _num(limit, t("limit", lang), 1, 100_000, lang, integer=True)
    tokens = _num(max_new_tokens, t("max_new_tokens", lang), 1, 8192, lang, integer=True)
    argv = ["jaft", "eval", "--model", model, "--task", "math", "--limit", str(n), "--max-new-tokens",
            str(tokens), "--out", out, "--json"]
    return Command("eval", argv, None)


def export_command(jobs: JobManager, *, run: str, out: str, quants: list[str], ollama_name: str,
                   lang: str = "ja") -> Command:
    """``jaft export --run RUN [--out OUT] --quant Q[,Q…] [--ollama-name NAME]``."""
    run, out = _text(run), _text(out)
    _existing(jobs, run, t("export_run", lang), lang)
    bad = [q for q in quants or [] if q not in QUANTS]
    if bad or not quants:
        raise JaftError(msg("required", lang, what=t("quant", lang)))
    target = out or str(Path(run) / "export")
    if (busy := jobs.busy(target)) is not None:
        raise JaftError(msg("busy", lang, path=target, job=busy.id))
    # An existing export is not refused: the CLI reuses each still-valid stage and redoes the rest.
    argv = ["jaft", "export", "--run", run, "--quant", ",".join(quants)]
    if out:
        argv += ["--out", out]
    if _text(ollama_name):
        argv += ["--ollama-name", _text(ollama_name)]
    return Command("export", argv, target)


def init_tiny_command(jobs: JobManager, out: str, lang: str = "ja") -> Command:
    """``jaft init-tiny --out OUT`` (a random-weight test model)."""
    out = _text(out)
    if not out:
        raise JaftError(msg("required", lang, what=t("tiny_out", lang)))
    _fresh_output(jobs, out, lang, "config.json")
    return Command("init-tiny", ["jaft", "init-tiny", "--out", out], out)


# Flag → form field, for reading a job's command back into the Train form.
_TRAIN_FLAGS = {"--model-name": "model", "--model-type": "model", "--from": "from_run", "--data": "data",
                "--output": "out", "--method": "method", "--epochs": "epochs", "--max-steps": "max_steps", "--lr": "lr",
                "--num-generations": "num_generations", "--beta": "beta"}
_TRAIN_SETS = {"train.logging_steps": "logging_steps", "train.batch_size": "batch", "train.system_prompt": "system_prompt",
               "train.gradient_accumulation": "grad_accum", "lora.r": "lora_r", "lora.alpha": "lora_alpha",
               "train.max_seq_length": "max_seq_length"}


def train_form_from_argv(argv: list[str]) -> dict[str, Any]:
    """The Train form's values that ``argv`` (from :func:`train_command` / :func:`grpo_command`) was built from.

    Used to show a running job's settings again after the page was reloaded or reopened. Numbers come
    back as numbers; the system prompt is JSON-decoded. Fields the command does not carry are absent.
    """
    form: dict[str, Any] = {"stage": "GRPO" if argv[1:2] == ["grpo"] else "SFT"}
    i = 2
    while i < len(argv):
        flag = argv[i]
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if flag in _TRAIN_FLAGS:
            form[_TRAIN_FLAGS[flag]] = value
            i += 2
        elif flag == "--set":
            key, _, raw = value.partition("=")
            if key in _TRAIN_SETS:
                form[_TRAIN_SETS[key]] = json.loads(raw) if raw.startswith('"') else raw
            i += 2
        else:
            i += 1
    for key in ("epochs", "lr", "beta"):
        if key in form:
            form[key] = float(form[key])
    for key in ("max_steps", "num_generations", "logging_steps", "batch", "grad_accum", "lora_r", "lora_alpha",
                "max_seq_length"):
        if key in form:
            form[key] = int(form[key])
    return form
