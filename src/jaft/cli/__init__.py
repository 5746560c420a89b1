"""The ``jaft`` command line: one thin module per command, discovered from this package.

Each command module defines ``COMMAND`` (e.g. ``"models"`` or ``"data prepare"``), ``ORDER`` (its place
in ``jaft --help``) and ``main``, whose signature and docstring are the command's ``--help``. Modules
import only typer at the top, so ``jaft --help`` never loads torch.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
import re
import sys
from collections.abc import Callable
from typing import Any

import typer

from jaft import __version__
from jaft.errors import JaftError

GROUPS = {
    "data": "Japanese data: bundled samples and the prepare pipeline (read → normalize → dedup → filter → augment → split).",
    "export": "Export: merge → GGUF F16 → quantize → verify → Ollama. Without a subcommand, runs every stage.",
    "tokenizer": "Tokenizer efficiency for Japanese: analyze, and extend the vocabulary.",
}


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn JaftError into one line on stderr and exit code 2 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except JaftError as e:
            from rich.console import Console
            from rich.markup import escape

            # escape: messages hold things like pip install 'jaft[gguf]' that rich would read as markup.
            Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(e.message)}")
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            raise typer.Exit(130) from None

    return wrapper


_TAG = re.compile(r"<(/?[A-Za-z][^<>\s]*)>")


def markdown_safe(text: str) -> str:
    """Help text with tag-like words (``<think>``, ``<model>``) as entities outside code spans.

    Help is rendered as Markdown (rich_markup_mode="markdown"), where ``<think>`` is inline HTML and
    vanishes from the output; ``&lt;think&gt;`` prints as ``<think>``. Idempotent.
    """
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside backticks
        parts[i] = _TAG.sub(r"&lt;\1&gt;", parts[i])
    return "`".join(parts)


def _safe_help(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Make a command's docstring and option/argument help survive Markdown rendering."""
    import typing

    if fn.__doc__:
        fn.__doc__ = markdown_safe(fn.__doc__)
    # Modules use `from __future__ import annotations`: evaluate the annotations once, edit the option
    # objects, and keep the evaluated ones (typer reads those as they are).
    if not _TAG.search(" ".join(str(a) for a in fn.__annotations__.values())):
        return fn  # nothing to escape: skip evaluating annotations (keeps `jaft --help` fast)
    hints = typing.get_type_hints(fn, include_extras=True)
    for hint in hints.values():
        for meta in getattr(hint, "__metadata__", ()):
            if isinstance(getattr(meta, "help", None), str):
                meta.help = markdown_safe(meta.help)
    fn.__annotations__ = hints
    return fn


def _modules() -> list[Any]:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "COMMAND"):
            mods.append(mod)
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.COMMAND))


def _version(value: bool) -> None:
    if value:
        print(f"jaft {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="jaft",
        help="jaft — 日本語LLM適応ツールキット / adapt LLMs to Japanese: data → SFT → GRPO → eval → GGUF → Ollama.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode="markdown",  # docstrings reflow as paragraphs; `code` renders as code
        pretty_exceptions_show_locals=False,  # locals can hold tokens and keys
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="print the version"),
    ) -> None:
        pass

    groups: dict[str, typer.Typer] = {}
    mods = _modules()
    group_callbacks = {m.COMMAND: m for m in mods if m.COMMAND in GROUPS}
    for mod in mods:
        name = mod.COMMAND
        parts = name.split()
        if name in GROUPS:
            continue
        if len(parts) == 1:
            app.command(name)(_guard(_safe_help(mod.main)))
            continue
        group, sub = parts
        if group not in groups:
            cb = group_callbacks.get(group)
            g = typer.Typer(help=GROUPS[group], no_args_is_help=cb is None, add_completion=False,
                            rich_markup_mode="markdown")
            if cb is not None:
                g.callback(invoke_without_command=True)(_guard(_safe_help(cb.main)))
            groups[group] = g
            app.add_typer(g, name=group)
        groups[group].command(sub)(_guard(_safe_help(mod.main)))
    return app


# Options whose value may be left out (`--resume` alone means the newest checkpoint). Typer has no
# optional-value options, so the implied value is filled in before parsing.
OPTIONAL_VALUES = {"--resume": "latest"}


def fill_optional_values(argv: list[str]) -> list[str]:
    out: list[str] = []
    for i, a in enumerate(argv):
        out.append(a)
        if a in OPTIONAL_VALUES and (i + 1 == len(argv) or argv[i + 1].startswith("-")):
            out.append(OPTIONAL_VALUES[a])
    return out


def main(argv: list[str] | None = None) -> None:
    # bitsandbytes >= 0.50 logs a warning at import on CPUs with AVX512-BF16 when the optional Hub
    # package `kernels` is absent; its own fallback then works, so the line is noise that would break
    # jaft's one-line errors. Silenced before any command can import it.
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    app = build_app()
    app(args=fill_optional_values(sys.argv[1:] if argv is None else argv), prog_name="jaft")
