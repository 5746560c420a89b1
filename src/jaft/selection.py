"""Model selection shared by every command that takes a model.

``--model-type KEY`` (registry), ``--model-name HUB_ID_OR_PATH`` (registry match, else a strategy
derived from its config.json), ``--auto`` (best fit for this hardware), else an interactive picker
on a TTY, else a clear error naming the flags.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.hardware import Hardware
from jaft.registry import ModelEntry, entry_from_config, load_registry, read_local_config


@dataclass
class ModelChoice:
    entry: ModelEntry
    path: str  # what from_pretrained receives: a Hub id or a local directory
    how: str  # model-type | model-name | auto | interactive

    def describe(self) -> str:
        origin = "derived from config.json" if self.entry.derived else f"registry '{self.entry.key}'"
        return f"{self.path} ({origin}, chosen by {self.how})"


def _hub_config(name: str) -> tuple[dict[str, Any], str | None]:
    """config.json (and chat template) of a Hub model not in the registry. Needs network."""
    import json

    try:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
    except ImportError as e:  # pragma: no cover - transformers depends on huggingface_hub
        raise JaftError(f"huggingface_hub is missing ({e}); pip install huggingface_hub") from None
    try:
        cfg_path = hf_hub_download(name, "config.json")
    except RepositoryNotFoundError:
        raise JaftError(
            f"'{name}' is neither a local directory nor a model on the Hugging Face Hub; "
            f"check the spelling, or `huggingface-cli login` for a private/gated model"
        ) from None
    except EntryNotFoundError:
        raise JaftError(f"'{name}' on the Hub has no config.json; it is not a transformers model") from None
    except Exception as e:  # offline, proxy, auth: one line, not a traceback
        raise JaftError(
            f"could not fetch config.json of '{name}' from the Hub ({type(e).__name__}); "
            f"download the model first and pass its directory to --model-name"
        ) from None
    config = json.loads(Path(cfg_path).read_text(encoding="utf-8"))
    template = None
    try:
        tc = hf_hub_download(name, "tokenizer_config.json")
        template = json.loads(Path(tc).read_text(encoding="utf-8")).get("chat_template")
    except Exception:
        template = None
    return config, template


def resolve_model_name(name: str) -> ModelEntry:
    """Registry entry for a Hub id or path; for anything else, a strategy from its config.json."""
    registry = load_registry()
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise JaftError(f"{path}: is a file; --model-name wants a model directory or a Hub id")
        config, template = read_local_config(path)
        # A local copy of a registry model keeps the curated strategy.
        origin = config.get("_name_or_path") or ""
        known = registry.find_by_name(str(origin)) if origin else None
        entry = entry_from_config(str(path), config, template)
        if known is not None:
            entry = known.model_copy(update={"model_name": str(path)})
        return entry
    known = registry.find_by_name(name)
    if known is not None:
        return known
    if name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise JaftError(
            f"{name}: no such directory, and not a Hub id (owner/name); "
            f"fix the path or pick a registry model with --model-type (see `jaft models`)"
        )
    config, template = _hub_config(name)
    return entry_from_config(name, config, template)


def select_model(
    model_type: str | None = None,
    model_name: str | None = None,
    auto: bool = False,
    *,
    hardware: Hardware | None = None,
    interactive: bool | None = None,
    read_key: Callable[[], str] | None = None,
) -> ModelChoice:
    """Resolve the model a command runs on (see module docstring for the order)."""
    given = [f for f, v in (("--model-type", model_type), ("--model-name", model_name), ("--auto", auto)) if v]
    if len(given) > 1:
        raise JaftError(f"{' and '.join(given)} are exclusive; pass only one of them")
    registry = load_registry()
    if model_type:
        entry = registry.get(model_type)
        return ModelChoice(entry, entry.model_name, "model-type")
    if model_name:
        entry = resolve_model_name(model_name)
        return ModelChoice(entry, model_name, "model-name")
    if auto:
        from jaft.hardware import detect
        from jaft.planner import best_fitting

        hw = hardware or detect()
        entry, _ = best_fitting(registry.candidates(), hw)
        return ModelChoice(entry, entry.model_name, "auto")
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if not interactive:
        raise JaftError(
            "no model chosen: pass --model-type KEY (see `jaft models`), --model-name HUB_ID_OR_PATH, or --auto"
        )
    entry = pick_interactively(registry.candidates(), read_key=read_key)
    return ModelChoice(entry, entry.model_name, "interactive")


# Interactive picker ------------------------------------------------------------------------------------

UP, DOWN, ENTER = "up", "down", "enter"


def _read_key_tty() -> str:
    """One key press from the terminal in raw mode: 'up', 'down', 'enter', a digit, or 'q'."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        ch = sys.stdin.read(1)
        if ch == "\x1b":
            seq = sys.stdin.read(2)
            return {"[A": UP, "[B": DOWN}.get(seq, "")
        if ch in ("\r", "\n"):
            return ENTER
        if ch in ("\x03", "\x04"):
            return "q"
        return ch
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def picker_step(index: int, key: str, count: int, typed: str) -> tuple[int, str, bool]:
    """Apply one key to the picker state: (index, typed digits, done)."""
    if key == UP:
        return (index - 1) % count, "", False
    if key == DOWN:
        return (index + 1) % count, "", False
    if key.isdigit():
        typed = (typed + key)[-2:]
        n = int(typed)
        if 1 <= n <= count:
            return n - 1, typed, False
        return index, key, False
    if key == ENTER:
        return index, typed, True
    if key == "q":
        raise JaftError("no model chosen (picker cancelled); pass --model-type KEY or --auto")
    return index, typed, False


def models_table(entries: Iterable[ModelEntry], highlight: int | None = None):
    from rich.table import Table

    table = Table(title="jaft models", show_lines=False)
    for col in ("#", "key", "model", "params", "memory (16-bit)", "batch×accum", "lr", "LoRA r/α", "説明"):
        table.add_column(col)
    for i, m in enumerate(entries):
        style = "reverse" if highlight == i else None
        table.add_row(
            str(i + 1), m.key, m.model_name, f"{m.parameters_b:g}B", f"{m.memory_requirements_gb:g} GB",
            f"{m.recommended_batch_size}×{m.recommended_gradient_accumulation}",
            f"{m.recommended_learning_rate:g}", f"{m.recommended_lora_r}/{m.recommended_lora_alpha}",
            m.description_ja, style=style,
        )
    return table


def pick_interactively(entries: list[ModelEntry], read_key: Callable[[], str] | None = None) -> ModelEntry:
    """A table, then ↑/↓ or a number, Enter to confirm."""
    from rich.console import Console

    console = Console(stderr=True)
    read = read_key or _read_key_tty
    index = next((i for i, m in enumerate(entries) if m.default), 0)
    typed = ""
    console.print(models_table(entries))
    while True:
        m = entries[index]
        console.print(f"\rモデルを選択 / choose a model (↑↓ or number, Enter): [bold]{index + 1}. {m.key}[/]   ",
                      end="")
        index, typed, done = picker_step(index, read(), len(entries), typed)
        if done:
            console.print()
            return entries[index]
