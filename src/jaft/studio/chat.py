"""A thin adapter from the Chat tab to the library's generation paths (nothing rendered or sampled here).

HF (a run directory, an adapter or a model directory): :func:`jaft.models.trained.resolve_trained` and
``load_trained`` load it as eval does, the one renderer (:func:`jaft.models.chat.conversation_prompt`)
builds the prompt and :class:`jaft.models.generate.HFBackend` generates. GGUF: the deployment read by
:func:`jaft.export.gguf_chat.deployed_from_gguf` (the Modelfile's TEMPLATE and SYSTEM, as Ollama and
``jaft serve`` use them) renders the prompt, and :func:`jaft.export.gguf_chat.llama_generate` runs in a
child process (:func:`jaft.export.native.run_native`), so a llama.cpp crash is an error message in the
tab, never the end of the studio. Reasoning is split by :func:`jaft.models.reasoning.split_reasoning`,
as ``jaft serve`` splits it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError


def split_reasoning(text: str, think_in_prompt: bool = False) -> tuple[str | None, str]:
    """(reasoning or None, answer) of a completion, stripped; the rule is :mod:`jaft.models.reasoning`'s."""
    from jaft.models.reasoning import split_reasoning as split

    reasoning, answer = split(text, in_think=think_in_prompt)
    return (reasoning.strip() if reasoning is not None else None), answer.strip()


@dataclass
class ChatModel:
    """One loaded model: ``reply`` takes the conversation so far (answers only) and a new message."""

    kind: str  # "hf" | "gguf"
    name: str
    trained_system_prompt: str | None  # what the run trained with / the Modelfile deploys (None: none)
    think_in_prompt: bool
    handle: Any = None  # hf: the model; gguf: the file's path
    tokenizer: Any = None  # hf: the tokenizer; gguf: the Deployed description
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, history: list[dict[str, str]], message: str, system: str | None = None,
              max_new_tokens: int = 256, temperature: float = 0.0) -> str:
        """The raw completion (reasoning included) for ``message`` after ``history``."""
        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": m["role"], "content": m["content"]} for m in history] + [{"role": "user", "content": message}]
        with self.lock:  # one generation at a time per model: two tabs must not interleave on one cache
            if self.kind == "hf":
                from jaft.models.chat import conversation_prompt
                from jaft.models.generate import HFBackend

                prompt = conversation_prompt(self.tokenizer, msgs) if self.tokenizer.chat_template else message
                return HFBackend(self.handle, self.tokenizer).generate([prompt], max_new_tokens, temperature)[0]
            from jaft.export.gguf_chat import llama_generate, ollama_text
            from jaft.export.native import run_native

            d = self.tokenizer
            return run_native("chat gguf", llama_generate, str(self.handle), [ollama_text(d, msgs)],
                              add_bos=d.add_bos, max_new_tokens=max_new_tokens, temperature=temperature,
                              stop=d.stop, n_ctx=2048)[0]


def open_model(path: str | Path) -> ChatModel:
    """Load a run directory, model/adapter directory (HF) or a ``.gguf`` file (llama.cpp) for chat."""
    p = Path(path).expanduser()
    if not p.exists():
        raise JaftError(f"{p}: no such run, model directory or GGUF file")
    if p.is_file():
        return _open_gguf(p)
    from jaft.models.chat import template_opens_think
    from jaft.models.trained import load_trained, resolve_trained

    source = resolve_trained(p)
    model, tok = load_trained(source)
    opens = bool(tok.chat_template) and template_opens_think(tok)
    return ChatModel("hf", source.describe(), source.run_system_prompt, opens, model, tok)


def _open_gguf(p: Path) -> ChatModel:
    from jaft.export.gguf_chat import deployed_from_gguf
    from jaft.export.serve import check_gguf_file

    check_gguf_file(p)
    mf = p.parent / "Modelfile"
    d = deployed_from_gguf(p, modelfile=mf if mf.is_file() else None)
    if d.system is None:
        d.system = _export_system_prompt(p.parent)
    return ChatModel("gguf", p.name, d.system, d.opens_think, p, d)


def _export_system_prompt(export_dir: Path) -> str | None:
    """The system prompt of the run an export came from (its jaft_run.yaml names the run)."""
    from jaft.rundir import RunDir

    try:
        rec = RunDir(export_dir).read_run_file()
    except JaftError:
        return None
    run = ((rec.get("config") or {}).get("export") or {}).get("run") or rec.get("source_run")
    candidates = [Path(run)] if run else []
    candidates.append(export_dir.parent)  # the default: RUN/export
    for c in candidates:
        try:
            from jaft.models.trained import resolve_trained

            return resolve_trained(c).run_system_prompt
        except (JaftError, OSError):
            continue
    return None
