from __future__ import annotations

from jaft.cli.export import Adapter, Config, MergeDtype, Model, Offload, Out, Run, Set

COMMAND = "export merge"
ORDER = 61


def main(
    run: Run = None, model: Model = None, adapter: Adapter = None, out: Out = None,
    merge_dtype: MergeDtype = None, offload_folder: Offload = None, config: Config = None, set_: Set = None,
) -> None:
    """Merge a LoRA/QLoRA adapter into its base in 16-bit, shard by shard → OUT/merged (a normal HF model).

    A QLoRA adapter is merged into the base reloaded in 16-bit, never into 4-bit weights.
    """
    from jaft.export.cli_support import run_cli

    run_cli("merge", run=run, model=model, adapter=adapter, out=out, merge_dtype=merge_dtype,
            offload_folder=offload_folder, config=config, sets=set_)
