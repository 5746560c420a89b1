from __future__ import annotations

from jaft.cli.export import Adapter, Config, Model, OllamaName, Out, Quant, Run, Set

COMMAND = "export ollama"
ORDER = 65


def main(
    run: Run = None, model: Model = None, adapter: Adapter = None, out: Out = None, quant: Quant = None,
    ollama_name: OllamaName = None, config: Config = None, set_: Set = None,
) -> None:
    """Write OUT/Modelfile (TEMPLATE derived from the model's chat template, stop tokens, sampling).

    Runs `ollama create NAME -f Modelfile` when --ollama-name is given and ollama is installed;
    otherwise prints the exact command.
    """
    from jaft.export.cli_support import run_cli

    run_cli("ollama", run=run, model=model, adapter=adapter, out=out, quant=quant, ollama_name=ollama_name,
            config=config, sets=set_)
