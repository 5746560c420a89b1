from __future__ import annotations

from typing import Annotated

import typer

from jaft.cli.common import Auto, Config, ModelName, ModelType, Set

COMMAND = "config"
ORDER = 22


def main(
    config: Config = None,
    set_: Set = None,
    model_type: ModelType = None,
    model_name: ModelName = None,
    auto: Auto = False,
    out: Annotated[str | None, typer.Option("--out", help="also write the resolved config to this YAML file")] = None,
) -> None:
    """Validate a run config and print it resolved (defaults, preset, --set overrides, model choice).

    Unknown keys fail with the nearest valid key; nothing is trained or downloaded.
    """
    import yaml

    from jaft.config import load_run_config
    from jaft.fsutil import write_text

    cfg = load_run_config(
        config,
        overrides={"model.model_type": model_type, "model.model_name": model_name, "model.auto": auto or None},
        sets=set_,
    )
    m = cfg.model
    if m.model_type or m.model_name or m.auto:
        from jaft.selection import select_model

        choice = select_model(m.model_type, m.model_name, m.auto, interactive=False)
        typer.echo(f"# model: {choice.describe()}", err=True)
    text = yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True, sort_keys=False)
    if out:
        write_text(out, text)
    typer.echo(text, nl=False)
