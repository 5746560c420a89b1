from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "data sample"
ORDER = 32


def main(
    out: Annotated[str, typer.Option("--out", "-o", help="directory to copy the bundled datasets into")],
) -> None:
    """Write jaft's bundled Japanese sample datasets (every supported input format) to a directory.

    Plain text, chat dialogues (messages), QA (prompt/completion), summarization (Alpaca
    instruction/input/output), and math word problems with <think>…</think><answer>…</answer>
    solutions (420 for training, 100 held out for evaluation). All written for jaft; Apache-2.0.
    """
    from jaft.data.samples import write_samples

    for name, path in write_samples(out).items():
        typer.echo(f"{name:14} {path}")
