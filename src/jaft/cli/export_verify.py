from __future__ import annotations

from jaft.cli.export import Adapter, Config, MinTop1, Model, Out, Quant, Run, Set

COMMAND = "export verify"
ORDER = 64


def main(
    run: Run = None, model: Model = None, adapter: Adapter = None, out: Out = None, quant: Quant = None,
    min_top1: MinTop1 = None, config: Config = None, set_: Set = None,
) -> None:
    """Compare each GGUF with the HF model on Japanese prompts: top-1 agreement, KL, tokenization.

    Fails (exit 2) when F16 agrees on fewer than 99% of top-1 tokens or tokenization differs.
    """
    from jaft.export.cli_support import run_cli

    run_cli("verify", run=run, model=model, adapter=adapter, out=out, quant=quant, min_top1=min_top1,
            verify=True, config=config, sets=set_)
