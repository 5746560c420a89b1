from __future__ import annotations

from jaft.cli.common import Json

COMMAND = "models"
ORDER = 10


def main(json_: Json = False) -> None:
    """List supported models and their training strategies (batch, accumulation, lr, LoRA, memory).

    JSON fields follow the seed's ModelStrategy (recommended_batch_size, …) plus key and model_name.
    """
    from jaft.registry import load_registry

    reg = load_registry()
    if json_:
        import json

        rows = [m.model_dump(mode="json") for m in reg.models]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.console import Console

    from jaft.selection import models_table

    Console().print(models_table(reg.models))

