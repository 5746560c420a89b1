"""The deployed conversation: prompts as ``jaft serve`` and Ollama build them from a GGUF, and generation.

A GGUF carries its chat template, BOS/EOS and add_bos; the Modelfile beside it carries the Go TEMPLATE
derived from that template and the run's instruction as SYSTEM. :class:`Deployed` holds both, so
``jaft eval --gguf`` measures exactly what a user ships, and the invariant tests can hold the ids of
these prompts equal to the ones training and evaluation used. All llama.cpp generation goes through
:func:`llama_generate` (one function, one loaded model per call).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError


@dataclass
class Deployed:
    """How a GGUF is talked to once deployed."""

    jinja: str  # the GGUF's own chat template (what `jaft serve` renders)
    go: str  # the Modelfile TEMPLATE (what Ollama renders)
    system: str | None  # the run's instruction: Modelfile SYSTEM, serve's default system prompt
    bos_token: str
    eos_token: str
    add_bos: bool
    stop: list[str] = field(default_factory=list)
    source: str = "derived from the GGUF"

    @property
    def opens_think(self) -> bool:
        """Whether the generation prompt opens ``<think>`` (read off a render of the template)."""
        from jaft.models.chat import opens_think, render_template

        return opens_think(render_template(self.jinja, [{"role": "user", "content": "x"}], add_generation_prompt=True,
                                           bos_token=self.bos_token, eos_token=self.eos_token))


def deployed_from_gguf(gguf: str | Path, *, system: str | None = None, modelfile: str | Path | None = None) -> Deployed:
    """Read the deployment of ``gguf``: its Modelfile (TEMPLATE, SYSTEM, stop) when given, else derived.

    ``system`` (when no Modelfile): the instruction to deploy with, as ``jaft export`` writes it.
    """
    from jaft.export.ollama import derive_go_template, gguf_chat_info, parse_modelfile

    info = gguf_chat_info(gguf)
    if modelfile is not None:
        mf = Path(modelfile)
        if not mf.is_file():
            raise JaftError(f"{mf}: no such Modelfile; `jaft export` writes one beside the GGUF")
        parsed = parse_modelfile(mf.read_text(encoding="utf-8"))
        if not parsed["template"]:
            raise JaftError(f"{mf}: no TEMPLATE; re-run `jaft export` (or `jaft export-ollama`) to write one")
        return Deployed(info["chat_template"], parsed["template"], parsed["system"], info["bos_token"],
                        info["eos_token"], info["add_bos"], parsed["stop"], source=str(mf))
    go, _, _ = derive_go_template(info["chat_template"], bos_token=info["bos_token"], eos_token=info["eos_token"],
                                  add_bos=info["add_bos"])
    return Deployed(info["chat_template"], go, system, info["bos_token"], info["eos_token"], info["add_bos"])


def with_system(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """The deployed instruction applies when a request brings no system message (Ollama's rule)."""
    if system and not any(m["role"] == "system" for m in messages):
        return [{"role": "system", "content": system}, *messages]
    return messages


def serve_prompt(d: Deployed, messages: list[dict[str, Any]]) -> str:
    """The text ``jaft serve`` feeds llama.cpp: the GGUF's template, the instruction, BOS once."""
    from jaft.export.ollama import with_bos
    from jaft.models.chat import render_template

    text = render_template(d.jinja, with_system(messages, d.system), add_generation_prompt=True,
                           bos_token=d.bos_token, eos_token=d.eos_token)
    return with_bos(text, d.bos_token, d.add_bos)


def ollama_text(d: Deployed, messages: list[dict[str, Any]]) -> str:
    """The text Ollama renders (Go TEMPLATE, SYSTEM when the request has none); llama.cpp adds BOS."""
    from jaft.export.ollama import ollama_prompt

    return ollama_prompt(d.go, messages, system=d.system)


def gguf_prompt_ids(llm: Any, d: Deployed, messages: list[dict[str, Any]]) -> list[int]:
    """llama.cpp ids of :func:`serve_prompt` (special tokens parsed, BOS already in the text when due)."""
    return llm.tokenize(serve_prompt(d, messages).encode("utf-8"), add_bos=False, special=True)


def ollama_prompt_ids(llm: Any, d: Deployed, messages: list[dict[str, Any]]) -> list[int]:
    """llama.cpp ids of :func:`ollama_text`, BOS added as the GGUF's add_bos says (as Ollama's runner does)."""
    return llm.tokenize(ollama_text(d, messages).encode("utf-8"), add_bos=d.add_bos, special=True)


def llama_generate(gguf: str | Path, prompts: list[str], *, add_bos: bool, max_new_tokens: int,
                   temperature: float = 0.0, stop: list[str] | None = None, n_ctx: int = 4096,
                   seed: int = 0) -> list[str]:
    """Completions of rendered prompts by llama.cpp (greedy at temperature 0), tokenized as Ollama does.

    Every llama.cpp call of a GGUF evaluation is in here, on one loaded model.
    """
    from jaft.export.verify import open_gguf

    llm = open_gguf(gguf, n_ctx=n_ctx)
    try:
        out = []
        for text in prompts:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
            budget = max(1, min(max_new_tokens, n_ctx - len(ids)))
            r = llm.create_completion(prompt=ids, max_tokens=budget, temperature=temperature, top_p=0.95,
                                      top_k=0 if temperature == 0 else 40, repeat_penalty=1.0, seed=seed,
                                      stop=stop or None)
            out.append(r["choices"][0]["text"])
    finally:
        llm.close()
    return out


class GgufBackend:
    """Evaluation backend (prompt + generate) for a GGUF as Ollama runs it with its Modelfile."""

    def __init__(self, gguf: str | Path, deployed: Deployed, *, n_ctx: int = 4096) -> None:
        self.gguf, self.d, self.n_ctx = Path(gguf), deployed, n_ctx

    def prompt(self, user: str, system: str | None) -> str:
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        return ollama_text(self.d, msgs)

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float) -> list[str]:
        return llama_generate(self.gguf, prompts, add_bos=self.d.add_bos, max_new_tokens=max_new_tokens,
                              temperature=temperature, stop=self.d.stop, n_ctx=self.n_ctx)


def evaluate_gguf(
    gguf: str | Path, task: str, *, modelfile: str | Path | None = None, data: str | None = None,
    limit: int | None = None, batch_size: int = 8, max_new_tokens: int = 256, out: str | None = None,
    system_prompt: str | None = None, console: Any = None, encoding: str | None = None,
) -> dict[str, Any]:
    """``jaft eval --gguf``: the math eval or the generation test through llama.cpp as Ollama runs the file.

    The prompt is the Modelfile's TEMPLATE with its SYSTEM (the run's instruction), read from
    ``modelfile`` or the ``Modelfile`` beside the GGUF; without one it is derived from the GGUF's own
    template and no instruction is applied (said in the result).
    """
    from jaft.export.serve import check_gguf_file

    path = check_gguf_file(gguf)
    mf = Path(modelfile) if modelfile else path.parent / "Modelfile"
    deployed = deployed_from_gguf(path, modelfile=mf if (modelfile or mf.is_file()) else None)
    if system_prompt is not None:
        deployed.system = system_prompt or None
    backend = GgufBackend(path, deployed)
    result: dict[str, Any] = {"model": str(path), "task": task, "template": deployed.source,
                              "system_prompt": deployed.system}
    if task == "math":
        from jaft.eval.math import evaluate_math, load_problems

        if data is None:
            from jaft.data.samples import math_eval_path

            data = str(math_eval_path())
        problems = load_problems(data, limit, encoding=encoding)
        rules: dict[str, int] = {}
        for p in problems:
            rules[p["answer_rule"]] = rules.get(p["answer_rule"], 0) + 1
        result["answer_rules"] = dict(sorted(rules.items()))  # which rule gave the gold answers
        preds = out or str(path.with_suffix("").as_posix() + "-eval_math_predictions.jsonl")
        # system_prompt=None: the Modelfile's SYSTEM applies, as in Ollama when a request brings none.
        result |= evaluate_math(backend, problems, system_prompt=None, batch_size=batch_size,
                                max_new_tokens=max_new_tokens, temperature=0.0, predictions_file=preds,
                                console=console)
    elif task == "generate":
        from jaft.models.generate import generation_test

        result["generations"] = generation_test(backend, max_new_tokens=min(max_new_tokens, 100), temperature=0.0)
    else:
        raise JaftError(f"--gguf --task {task}: use math or generate (perplexity needs the HF model)")
    return result
