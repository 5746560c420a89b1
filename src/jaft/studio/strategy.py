"""The Train form prefilled from the model's strategy, without turning the strategy into overrides.

The values and their sources come from :func:`jaft.train.strategy.resolve_training` on the config
``load_run_config`` builds, the same decision ``jaft train`` makes and records under ``applied`` in
``jaft_run.yaml`` (the model is not loaded). The form remembers, per field, the value the strategy
gives it (the *baseline*); only a field the user moved away from its baseline goes into the command
line, so an untouched form gives the same command, and the same ``jaft_run.yaml``, as before.
"""

from __future__ import annotations

import math
from typing import Any

from jaft.errors import JaftError
from jaft.studio.jobs import JobManager

# Form field → (config key the CLI sets, key in Resolved.applied).
FIELDS: dict[str, tuple[str, str]] = {
    "method": ("train.method", "method"),
    "lr": ("train.learning_rate", "learning_rate"),
    "batch": ("train.batch_size", "batch_size"),
    "grad_accum": ("train.gradient_accumulation", "gradient_accumulation"),
    "lora_r": ("lora.r", "lora_r"),
    "lora_alpha": ("lora.alpha", "lora_alpha"),
    "max_seq_length": ("train.max_seq_length", "max_seq_length"),
}
# What a field holds when the strategy decides (the form's empty value).
UNSET: dict[str, Any] = {"method": "auto", **{f: 0 for f in FIELDS if f != "method"}}


def same(a: Any, b: Any) -> bool:
    """Equal values (numbers to 1e-9 relative: a learning rate read back from a form field)."""
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=0.0)
    return a == b


def _is_unset(field: str, value: Any) -> bool:
    if value is None or value == "":
        return True
    if field == "method":
        return value == "auto"
    try:
        return float(value) == 0
    except (TypeError, ValueError):
        return False


def user_changes(values: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The strategy fields of ``values`` the user moved away from the strategy's value.

    ``baseline`` maps a field to the strategy's value for it (empty before a model is chosen). A field
    at its empty value (0, ``auto``) or equal to its baseline is the strategy's, not an override.
    """
    return {f: v for f, v in values.items()
            if f in FIELDS and not _is_unset(f, v) and not (f in baseline and same(v, baseline[f]))}


def overrides_only(values: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """``values`` with every strategy field the user did not change set back to its empty value, which
    :func:`jaft.studio.commands.train_command` leaves off the command line."""
    changed = user_changes(values, baseline)
    return {**values, **{f: changed.get(f, UNSET[f]) for f in FIELDS if f in values}}


def model_overrides(jobs: JobManager, model: str, *, fetch_hub: bool = True) -> dict[str, Any]:
    """``model.model_name`` (a local directory or a Hub id) or ``model.model_type`` (a registry key).

    With ``fetch_hub`` False, a Hub id the registry does not know raises instead of reading its
    config.json from the Hub (a half-typed id must not start a download per keystroke).
    """
    from jaft.registry import load_registry

    model = str(model or "").strip()
    if not model:
        raise JaftError("no model")
    local = jobs.resolve(model)
    if local.exists():
        return {"model.model_name": str(local)}
    registry = load_registry()
    if "/" not in model:
        return {"model.model_type": model}
    if not fetch_hub and registry.find_by_name(model) is None:
        raise JaftError(f"{model}: not read from the Hub while typing")
    return {"model.model_name": model}


def resolve_applied(jobs: JobManager, workdir: str, model: str, overrides: dict[str, Any] | None = None, *,
                    fetch_hub: bool = True) -> dict[str, Any]:
    """``Resolved.applied`` (setting → :class:`~jaft.train.strategy.Applied`: value, source, why) for
    ``model`` on this machine with the config ``overrides`` (dotted keys), as ``jaft train`` decides it.
    JaftError for a model or value the CLI would refuse."""
    from jaft.config import load_run_config
    from jaft.hardware import detect
    from jaft.selection import select_model
    from jaft.train.strategy import resolve_training

    cfg = load_run_config(None, overrides={**model_overrides(jobs, model, fetch_hub=fetch_hub), **(overrides or {})})
    choice = select_model(cfg.model.model_type, cfg.model.model_name, False, interactive=False)
    return resolve_training(cfg, choice, detect(workdir)).applied


def config_value(field: str, value: Any) -> Any:
    """A form field's value as its config key wants it (method: text, lr: float, the rest: int)."""
    if field == "method":
        return value
    return float(value) if field == "lr" else int(value)


def prefill(jobs: JobManager, workdir: str, model: str, values: dict[str, Any], baseline: dict[str, Any], *,
            fetch_hub: bool = True) -> tuple[dict[str, Any], dict[str, Any], dict[str, tuple[str, str]]]:
    """What the form shows for ``model``: ``(shown, new_baseline, sources)``.

    ``values`` are the form's strategy fields now, ``baseline`` the strategy's values they were filled
    with. Fields the user changed keep their value; the others take the strategy's value given what the
    user did set (a batch size the user chose can change the planner's accumulation). ``new_baseline``
    holds, per field, the strategy's value when that field is left to it; ``sources`` the
    ``(source, why)`` of the value the run would apply (``config`` for a field the user set).
    """
    changed = user_changes(values, baseline)
    config = {FIELDS[f][0]: config_value(f, v) for f, v in changed.items()}
    applied = resolve_applied(jobs, workdir, model, config, fetch_hub=fetch_hub)
    shown, base, sources = {}, {}, {}
    for field, (key, name) in FIELDS.items():
        a = applied[name]
        sources[field] = (a.source, a.why)
        if field in changed:
            shown[field] = changed[field]
            rest = {k: v for k, v in config.items() if k != key}
            base[field] = resolve_applied(jobs, workdir, model, rest, fetch_hub=fetch_hub)[name].value
        else:
            shown[field] = base[field] = a.value
    return shown, base, sources
