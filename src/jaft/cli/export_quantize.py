from __future__ import annotations

from jaft.cli.export import Adapter, Config, Model, Out, Pre, Quant, Run, Set, Threads

COMMAND = "export quantize"
ORDER = 63


def main(
    run: Run = None, model: Model = None, adapter: Adapter = None, out: Out = None, quant: Quant = None,
    threads: Threads = None, pre: Pre = None, config: Config = None, set_: Set = None,
) -> None:
    """Quantize the F16 GGUF with llama.cpp's quantizer (Q4_K_M by default; Q5_K_M, Q6_K, Q8_0 on request)."""
    from jaft.export.cli_support import run_cli

    run_cli("quantize", run=run, model=model, adapter=adapter, out=out, quant=quant, threads=threads, pre=pre,
            config=config, sets=set_)
