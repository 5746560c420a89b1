from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "quickstart"
ORDER = 1


def main(
    out: Annotated[str, typer.Option("--out", help="directory for everything the quickstart makes")] = "jaft-quickstart",
) -> None:
    """Run the whole job on a built-in tiny model and bundled Japanese data (no GPU, no network).

    Re-running reuses the stages that already finished.
    """
    from jaft.quickstart import run_quickstart

    run_quickstart(out)
