"""Load a RunConfig from YAML plus overrides, turning every failure into one actionable line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from jaft.errors import JaftError, did_you_mean


def _yaml_load(path: Path) -> tuple[dict[str, Any], Any]:
    """Parsed mapping and its node tree (for line numbers)."""
    import yaml

    if not path.exists():
        raise JaftError(f"{path}: config file not found; list presets with `ls configs/`")
    if path.is_dir():
        raise JaftError(f"{path}: is a directory; pass a YAML file such as configs/qwen-1.5b/lora.yaml")
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise JaftError(f"{where}: YAML syntax error ({problem}); check indentation and quoting there") from None
    if data is None:
        return {}, None
    if not isinstance(data, dict):
        raise JaftError(f"{path}:1: the config must be a mapping of sections (model:, data:, train:, …)")
    return data, node


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the key at ``loc`` in a composed YAML node tree."""
    import yaml

    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key, value in node.value:
            if key.value == str(part):
                line, node = key.start_mark.line + 1, value
                break
        else:
            break
    return line


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Valid keys of the (sub)model that ``loc`` points into."""
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return list(getattr(current, "model_fields", {}))


def format_validation_error(
    err: ValidationError, model: type[BaseModel], source: str = "config", node: Any = None
) -> str:
    """The first problem of a pydantic error as ``source:line: key: problem; fix``."""
    e = err.errors()[0]
    loc = tuple(e["loc"])
    key = ".".join(str(p) for p in loc)
    line = _line_of(node, loc) if node is not None else None
    where = f"{source}:{line}" if line else source
    if e["type"] == "extra_forbidden":
        parent, name = loc[:-1], str(loc[-1])
        valid = _fields_at(model, parent)
        hint = did_you_mean(name, valid) or f"; valid keys: {', '.join(valid)}"
        return f"{where}: {key}: unknown key{hint}"
    got = e.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, dict) else ""
    return f"{where}: {key}: {e['msg']}{shown}"


def parse_override(item: str) -> tuple[str, Any]:
    """``train.learning_rate=1e-4`` → (``train.learning_rate``, 1e-4); the value is read as YAML."""
    import yaml

    if "=" not in item:
        raise JaftError(f"override '{item}' must look like section.key=value (e.g. train.epochs=1)")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys in a nested dict; ``None`` values are ignored (flag not given)."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        parts = dotted.split(".")
        cur = data
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = {}
                cur[p] = nxt
            cur = nxt
        cur[parts[-1]] = value
    return data


def load_run_config(
    path: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
):
    """A validated :class:`RunConfig` from an optional YAML file, ``--set`` items and flag overrides.

    Precedence, lowest first: defaults, YAML file, ``--set key=value``, dedicated flags.
    """
    from jaft.config.run import RunConfig

    data: dict[str, Any] = {}
    node = None
    source = "command line"
    if path is not None:
        data, node = _yaml_load(Path(path))
        source = str(path)
    if sets:
        apply_overrides(data, dict(parse_override(s) for s in sets))
    if overrides:
        apply_overrides(data, overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise JaftError(format_validation_error(err, RunConfig, source, node)) from None


def dump_run_config(config: Any) -> dict[str, Any]:
    """JSON/YAML-ready dict of a RunConfig (defaults included: the snapshot is the resolved config)."""
    return config.model_dump(mode="json")
