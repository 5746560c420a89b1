"""Options shared by every command that takes a model (kept here so they read the same everywhere)."""

from __future__ import annotations

from typing import Annotated

import typer

ModelType = Annotated[
    str | None,
    typer.Option("--model-type", help="registry key, e.g. qwen-14b (see `jaft models`)", show_default=False),
]
ModelName = Annotated[
    str | None,
    typer.Option("--model-name", help="Hugging Face Hub id or local model directory", show_default=False),
]
Auto = Annotated[bool, typer.Option("--auto", help="pick the best registry model for this hardware")]
Json = Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of a table")]
Config = Annotated[
    str | None, typer.Option("--config", "-c", help="YAML run config (presets: configs/MODEL/METHOD.yaml)")
]
Set = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="override any config key: section.key=value (repeatable)", show_default=False),
]
