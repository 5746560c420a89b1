"""A thin adapter from the Chat tab to the library's generation paths (nothing rendered or sampled here).

HF (a run directory, an adapter or a model directory): :func:`jaft.models.trained.resolve_trained` and
``load_trained`` load it as eval does, the prompt is rendered by the tokenizer's chat template with the
system prompt folded as in training (:func:`jaft.models.chat.fold_system`), and
:func:`jaft.models.generate.generate_batch` generates. GGUF: :func:`jaft.export.verify.open_gguf` opens
the file and llama.cpp applies the chat template stored in it.

Other work in progress changes these paths (a shared reasoning splitter, one renderer, crash
containment for llama.cpp): this module is the only place the studio touches them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_reasoning(text: str, think_in_prompt: bool = False) -> tuple[str | None, str]:
    """(reasoning or None, answer) of a completion.

    The reasoning is what stands before ``</think>`` (after ``<think>`` when the completion opens it; from
    the start when the prompt did). With no ``</think>``: a completion whose prompt opened ``<think>``
    is all reasoning (cut off before answering); otherwise it is all answer.
    """
    from jaft.rewards import reasoning_block

    reasoning = reasoning_block(text, think_in_prompt)
    close = text.find(THINK_CLOSE)
    if close >= 0:
        answer = text[close + len(THINK_CLOSE):]
    elif reasoning is not None:
        answer = text[text.find("<answer>"):] if "<answer>" in text else ""
    else:
        answer = text
    return (reasoning.strip() if reasoning is not None else None), answer.strip()


@dataclass
class ChatModel:
    """One loaded model: ``reply`` takes the conversation so far (answers only) and a new message."""

    kind: str  # "hf" | "gguf"
    name: str
    trained_system_prompt: str | None  # what the run trained with (None: unknown / none)
    family: str  # chat template family (decides whether the system prompt is folded into the user turn)
    think_in_prompt: bool
    handle: Any = None
    tokenizer: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self, history: list[dict[str, str]], message: str, system: str | None) -> list[dict[str, str]]:
        from jaft.models.chat import fold_system

        msgs = ([{"role": "system", "content": system}] if system else []) + [
            {"role": m["role"], "content": m["content"]} for m in history] + [{"role": "user", "content": message}]
        return fold_system(msgs, self.family)

    def reply(self, history: list[dict[str, str]], message: str, system: str | None = None,
              max_new_tokens: int = 256, temperature: float = 0.0) -> str:
        """The raw completion (reasoning included) for ``message`` after ``history``."""
        msgs = self.messages(history, message, system)
        with self.lock:  # one generation at a time per model: two tabs must not interleave on one cache
            if self.kind == "hf":
                from jaft.models.generate import generate_batch

                prompt = self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
                return generate_batch(self.handle, self.tokenizer, [prompt], max_new_tokens, temperature)[0]
            out = self.handle.create_chat_completion(messages=msgs, max_tokens=max_new_tokens,
                                                     temperature=temperature, seed=0)
            return out["choices"][0]["message"]["content"] or ""


def open_model(path: str | Path) -> ChatModel:
    """Load a run directory, model/adapter directory (HF) or a ``.gguf`` file (llama.cpp) for chat."""
    p = Path(path).expanduser()
    if not p.exists():
        raise JaftError(f"{p}: no such run, model directory or GGUF file")
    if p.is_file():
        return _open_gguf(p)
    from jaft.models.chat import template_family
    from jaft.models.trained import load_trained, resolve_trained
    from jaft.rewards import template_opens_think

    source = resolve_trained(p)
    model, tok = load_trained(source)
    opens = bool(tok.chat_template) and template_opens_think(tok)
    return ChatModel("hf", source.describe(), source.run_system_prompt, template_family(tok), opens, model, tok)


def _open_gguf(p: Path) -> ChatModel:
    from jaft.export.serve import check_gguf_file
    from jaft.export.verify import open_gguf
    from jaft.registry import detect_template_family

    check_gguf_file(p)
    llm = open_gguf(p, n_ctx=2048)
    template = (getattr(llm, "metadata", None) or {}).get("tokenizer.chat_template")
    family = detect_template_family(template)
    opens = bool(template) and family == "deepseek-r1"
    return ChatModel("gguf", p.name, _export_system_prompt(p.parent), family, opens, llm)


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
