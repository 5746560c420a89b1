from __future__ import annotations

from jaft.cli.export import Adapter, Config, MergeDtype, Model, Out, Pre, Run, Set

COMMAND = "export gguf"
ORDER = 62


def main(
    run: Run = None, model: Model = None, adapter: Adapter = None, out: Out = None,
    merge_dtype: MergeDtype = None, pre: Pre = None, config: Config = None, set_: Set = None,
) -> None:
    """Write OUT/model-f16.gguf (llama / qwen2) with tokenizer, pre-tokenizer and chat template; merges first if needed."""
    from jaft.export.cli_support import run_cli

    run_cli("gguf", run=run, model=model, adapter=adapter, out=out, merge_dtype=merge_dtype, pre=pre,
            config=config, sets=set_)
