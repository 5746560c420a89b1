"""The one renderer: a conversation → prompt text, completion text and token ids, for every stage.

SFT labels, GRPO prompts, evaluation, the generation test, the GGUF check, the Ollama Modelfile and
``jaft serve`` all go through the model's own chat template here, so they agree token for token
(``tests/test_render_invariants.py`` holds them to it).

- **Reasoning.** An assistant turn is written as the model writes it: ``<think>\\n R \\n</think>\\n\\n A``.
  Whether the template's generation prompt already opens ``<think>`` is read off a render, never
  assumed from the family name: newer R1-Distill templates end the prompt with ``<think>\\n``, the
  first releases (and CyberAgent's Japanese R1 distills) end at ``<｜Assistant｜>``. Templates that
  strip reasoning from assistant turns (R1's ``content.split('</think>')[-1]``) would drop it from the
  trained text, so the trained turn is then assembled from the template's own pieces instead.
- **BOS** appears exactly once, as the tokenizer's own settings say: kept when the template writes it,
  added when the tokenizer adds one to plain text and the template does not write it, never twice.
- **Instruction.** A system prompt is rendered where the template puts it (R1: right after BOS), in
  training, evaluation and deployment alike; the Modelfile carries it as SYSTEM.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.models.reasoning import THINK_CLOSE, THINK_OPEN, split_reasoning, think_text

_SENTINEL = "⟦JAFT-TURN⟧"
_PROBE = [{"role": "user", "content": "⟦JAFT-USER⟧"}]


class RenderError(JaftError):
    """A conversation the chat template cannot express; ``reason`` is the reject reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Rendered:
    prompt: str
    completion: str  # loss is taken on these tokens only


def template_family(tokenizer: Any) -> str:
    from jaft.registry import detect_template_family

    return detect_template_family(getattr(tokenizer, "chat_template", None))


def turn_parts(message: dict[str, Any]) -> tuple[str | None, str]:
    """(reasoning or None, answer) of a message: a ``reasoning`` field, or a think block in the content."""
    content = message["content"]
    if message.get("reasoning") is not None:
        return message["reasoning"], content
    if content.lstrip().startswith(THINK_OPEN):
        return split_reasoning(content)
    if THINK_CLOSE in content:  # R1 output after a prompt that opened the block
        return split_reasoning(content, in_think=True)
    return None, content


def template_messages(messages: list[dict[str, Any]], *, drop_reasoning: bool = False) -> list[dict[str, str]]:
    """Messages as a chat template takes them: role and content, reasoning written into the content.

    ``drop_reasoning``: the template strips reasoning from assistant turns (R1), so past turns are
    given as their answer alone: what Ollama and ``jaft serve`` hold in the history after splitting
    the reasoning out, whitespace included.
    """
    out = []
    for m in messages:
        reasoning, answer = turn_parts(m) if m["role"] == "assistant" else (None, m["content"])
        if reasoning is None:
            content = m["content"]
        else:
            content = answer if drop_reasoning else think_text(reasoning, answer)
        out.append({"role": m["role"], "content": content})
    return out


_STRIPS: dict[tuple[str, str, str], bool] = {}


def strips_reasoning(template: str, *, bos_token: str | None = "", eos_token: str | None = "") -> bool:
    """Whether ``template`` drops the reasoning of assistant turns (read off a render, cached)."""
    key = (template, bos_token or "", eos_token or "")
    if key not in _STRIPS:
        msgs = [{"role": "user", "content": "u"}, {"role": "assistant", "content": think_text("⟦JAFT-R⟧", "a")}]
        _STRIPS[key] = "⟦JAFT-R⟧" not in _render_raw(template, msgs, False, bos_token, eos_token)
    return _STRIPS[key]


def _render_raw(template: str, messages: list[dict[str, str]], add_generation_prompt: bool,
                bos_token: str | None, eos_token: str | None) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    try:
        rendered, _ = render_jinja_template(
            conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt,
            bos_token=bos_token or "", eos_token=eos_token or "",
        )
    except Exception as e:  # jinja errors, raise_exception() in the template
        raise RenderError("template_error", f"the chat template cannot render this conversation "
                                            f"({type(e).__name__}: {str(e)[:160]})") from None
    return rendered[0]


def render_template(template: str, messages: list[dict[str, Any]], *, add_generation_prompt: bool,
                    bos_token: str | None, eos_token: str | None, raw: bool = False) -> str:
    """Render a Jinja chat template exactly as transformers does, for every stage and the GGUF's template.

    ``raw``: give messages to the template as they are (``reasoning`` written inline), without
    dropping past reasoning for templates that strip it.
    """
    drop = not raw and strips_reasoning(template, bos_token=bos_token, eos_token=eos_token)
    return _render_raw(template, template_messages(messages, drop_reasoning=drop), add_generation_prompt,
                       bos_token, eos_token)


def render_chat(tokenizer: Any, messages: list[dict[str, Any]], *, add_generation_prompt: bool) -> str:
    """``messages`` through the tokenizer's chat template (text, not ids)."""
    if not getattr(tokenizer, "chat_template", None):
        raise JaftError("the tokenizer has no chat template; set one with --set model.chat_template=FAMILY|FILE")
    return render_template(tokenizer.chat_template, messages, add_generation_prompt=add_generation_prompt,
                           bos_token=tokenizer.bos_token, eos_token=tokenizer.eos_token)


def opens_think(prompt: str) -> bool:
    """Whether a rendered generation prompt ends inside an opened ``<think>`` block."""
    return prompt.rstrip(" \n").endswith(THINK_OPEN)


def template_opens_think(tokenizer: Any) -> bool:
    """Decided by rendering a one-turn conversation with the generation prompt, never by family name."""
    return opens_think(render_chat(tokenizer, _PROBE, add_generation_prompt=True))


def adds_bos(tokenizer: Any) -> bool:
    """Whether the tokenizer puts BOS before plain text (measured, as the GGUF's add_bos is)."""
    cached = getattr(tokenizer, "_jaft_adds_bos", None)
    if cached is None:
        bos = getattr(tokenizer, "bos_token_id", None)
        ids = tokenizer("日本語")["input_ids"]
        cached = bos is not None and len(ids) > len(tokenizer("日本語", add_special_tokens=False)["input_ids"]) \
            and ids[0] == bos
        with contextlib.suppress(AttributeError):  # cache where the object allows it
            tokenizer._jaft_adds_bos = cached
    return bool(cached)


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered text with BOS exactly once, as the tokenizer's settings say."""
    ids = list(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else []
    bos = getattr(tokenizer, "bos_token_id", None)
    if adds_bos(tokenizer) and not (ids and ids[0] == bos):
        ids = [bos, *ids]
    return ids


def trl_prompt_text(tokenizer: Any, text: str) -> str:
    """The prompt text to hand TRL's GRPOTrainer so that its tokenization gives :func:`encode_prompt`'s ids.

    TRL (1.x ``GRPOTrainer._tokenize_prompts``) tokenizes string prompts with
    ``processing_class(text=prompts)``, i.e. with special tokens: a tokenizer that adds BOS adds it
    again in front of a template's own BOS text. So the BOS text is left to the tokenizer then.
    """
    bos = getattr(tokenizer, "bos_token", None)
    if adds_bos(tokenizer) and bos and text.startswith(bos):
        return text[len(bos):]
    return text


def _check_system(history: list[dict[str, Any]], prompt: str) -> None:
    for m in history:
        if m["role"] == "system" and m["content"].strip() and m["content"].strip() not in prompt:
            raise RenderError("template_drops_system", "the chat template drops the system prompt (it does not "
                              "appear in the rendered prompt); use a template that renders system messages "
                              "(--set model.chat_template=...) or train without train.system_prompt")


def conversation_prompt(tokenizer: Any, messages: list[dict[str, Any]]) -> str:
    """The generation prompt after ``messages`` (what eval, GRPO, the generation test and serve feed)."""
    prompt = render_chat(tokenizer, messages, add_generation_prompt=True)
    _check_system(messages, prompt)
    return prompt


def render_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The generation prompt for one user message with the run's instruction (if any) as system prompt."""
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": user})
    return conversation_prompt(tokenizer, msgs)


def grpo_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The GRPO dataset's prompt text: :func:`render_prompt` as TRL must see it to tokenize it identically."""
    return trl_prompt_text(tokenizer, render_prompt(tokenizer, user, system))


def render_turn(tokenizer: Any, history: list[dict[str, Any]], turn: dict[str, Any]) -> Rendered:
    """(prompt, completion) for the assistant ``turn`` after ``history``; the completion ends the turn.

    The completion is what the model must generate after the generation prompt: its reasoning (as a
    think block, without the ``<think>`` the prompt already opened), the answer, and the template's own
    end-of-turn text (EOS, ``<|eot_id|>``, ``<|im_end|>\\n`` ...), so the model learns to stop.
    Raises :class:`RenderError` when the template cannot express the turn.
    """
    prompt = conversation_prompt(tokenizer, history)
    reasoning, answer = turn_parts(turn)
    said = turn["content"]
    if reasoning is not None and not said.lstrip().startswith(THINK_OPEN):
        # a reasoning field, or reasoning written as R1 emits it after an opened block
        said = think_text(reasoning, answer) if turn.get("reasoning") is not None else THINK_OPEN + said
    full = render_chat(tokenizer, [*history, {"role": "assistant", "content": said}], add_generation_prompt=False)
    if full.startswith(prompt):
        tail = full[len(prompt):]
        if (reasoning is None or reasoning in tail) and answer.strip() in tail:
            return Rendered(prompt, tail)  # the template writes the turn as the model says it
    # The template rewrites assistant turns (R1 strips the reasoning): assemble the turn from its pieces.
    marked = render_chat(tokenizer, [*history, {"role": "assistant", "content": _SENTINEL}],
                         add_generation_prompt=False)
    if marked.count(_SENTINEL) != 1:
        raise RenderError("template_drops_turn", "the chat template drops the assistant's answer")
    head, turn_end = marked.split(_SENTINEL)
    if not prompt.startswith(head):
        raise RenderError("reasoning_unsupported", "the chat template's generation prompt does not continue "
                          "the assistant turn it renders; it cannot express this turn")
    body = said
    if opens_think(prompt):
        if reasoning is None:
            body = "\n" + THINK_CLOSE + "\n\n" + answer  # R1's own convention for a direct answer
        else:
            body = said.lstrip()[len(THINK_OPEN):]
            if prompt.endswith("\n") and body.startswith("\n"):
                body = body[1:]
    return Rendered(prompt, body + turn_end)


def render_turns(record: Record, tokenizer: Any, system: str | None = None) -> list[Rendered]:
    """One (prompt, completion) per assistant turn; text records are a single completion.

    ``system`` is used for records that carry no system prompt of their own. Raises
    :class:`RenderError` (with a reject reason) for a conversation that does not end with the
    assistant or that the template cannot express.
    """
    eos = tokenizer.eos_token or ""
    if record.kind == "text":
        bos = tokenizer.bos_token if getattr(tokenizer, "bos_token", None) else ""
        return [Rendered(prompt=bos or "", completion=(record.text or "") + eos)]
    messages: list[dict[str, Any]] = record.chat_messages()
    if messages and messages[-1]["role"] != "assistant":
        raise RenderError("last_turn_not_assistant", "the conversation's last turn is not the assistant's "
                          "(nothing to train at its end)")
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    out: list[Rendered] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        history = messages[:i]
        if not any(m["role"] == "user" for m in history):
            continue  # an assistant turn with nothing to answer teaches nothing
        out.append(render_turn(tokenizer, history, msg))
    return out


def tokenize_rendered(r: Rendered, tokenizer: Any, max_length: int | None) -> dict[str, Any] | None:
    """``input_ids`` and ``completion_mask``; prompt and completion tokenized separately, as at inference.

    Returns None when truncation would leave no completion token (the caller counts these).
    """
    prompt_ids = encode_prompt(tokenizer, r.prompt) if r.prompt or adds_bos(tokenizer) else []
    completion_ids = tokenizer(r.completion, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + completion_ids
    mask = [0] * len(prompt_ids) + [1] * len(completion_ids)
    truncated = False
    if max_length is not None and len(ids) > max_length:
        ids, mask = ids[:max_length], mask[:max_length]
        truncated = True
    if 1 not in mask:
        return None
    return {"input_ids": ids, "completion_mask": mask, "truncated": truncated}


def turn_end_text(tokenizer: Any) -> str:
    """What the template writes after an assistant's answer (e.g. ``<|eot_id|>``, ``<|im_end|>\\n``)."""
    msgs = [*_PROBE, {"role": "assistant", "content": _SENTINEL}]
    marked = render_chat(tokenizer, msgs, add_generation_prompt=False)
    return marked.split(_SENTINEL, 1)[1] if _SENTINEL in marked else ""


def stop_token_ids(tokenizer: Any) -> list[int]:
    """EOS and the template's end-of-turn token: generation stops at either."""
    ids = [tokenizer.eos_token_id] if getattr(tokenizer, "eos_token_id", None) is not None else []
    if not getattr(tokenizer, "chat_template", None):
        return ids  # a base model continuing raw text
    end = turn_end_text(tokenizer).strip()
    if end:
        first = tokenizer(end, add_special_tokens=False)["input_ids"][:1]
        if first and first[0] not in ids and first[0] in tokenizer.added_tokens_decoder:
            ids.append(first[0])
    return ids


def check_turn_end(tokenizer: Any) -> str:
    """The end-of-turn marker must be one real token of the vocabulary, or the model never learns to stop."""
    end = turn_end_text(tokenizer).strip()
    if not end:
        raise JaftError("the chat template writes nothing after an assistant's answer, so the model never learns "
                        "to stop; use a template that ends turns (--set model.chat_template=...)")
    ids = tokenizer(end, add_special_tokens=False)["input_ids"]
    first = tokenizer.convert_ids_to_tokens(ids[0]) if ids else ""
    if not ids or ids[0] not in tokenizer.added_tokens_decoder or not end.startswith(str(first)):
        raise JaftError(
            f"the chat template ends a turn with {end!r}, which is not a single token of this vocabulary "
            f"({len(ids)} tokens), so the model never learns to stop; use the template family whose markers "
            f"are in the vocabulary (--set model.chat_template=llama3|chatml|deepseek-r1|stablelm-ja|FILE.jinja)")
    return str(first)


def ensure_chat_template(tokenizer: Any, family: str | None = None, configured: str | None = None,
                         log: Any = None) -> str | None:
    """Make sure the tokenizer has the right chat template; returns a note of what was chosen (or None).

    ``configured`` (``model.chat_template``: a family name or a .jinja file) is used when the tokenizer
    has none and must not contradict one it has. Without either, the family is read off the
    vocabulary's special tokens (:func:`jaft.models.templates.family_from_vocab`), then the registry's
    ``family`` for families without marker tokens; when nothing fits, the run is refused with the fix.
    """
    from jaft.models.templates import TEMPLATES, family_from_vocab, load_template

    own = getattr(tokenizer, "chat_template", None)
    own = own if isinstance(own, str) and own.strip() else None
    if configured:
        text = load_template(configured)
        if own and own.strip() != text.strip():
            from jaft.registry import detect_template_family

            raise JaftError(f"model.chat_template={configured} conflicts with the tokenizer's own chat template "
                            f"(family {detect_template_family(own)}); drop the setting to use the model's own "
                            f"template, or remove chat_template from its tokenizer_config.json")
        note = None if own else f"{configured} (model.chat_template; the tokenizer has none)"
        tokenizer.chat_template = text
    elif own:
        return None
    else:
        fam = family_from_vocab(tokenizer)
        why = "its special tokens are in the vocabulary"
        if fam is None and family in TEMPLATES and not TEMPLATES[family].markers:
            fam, why = family, "the registry's family for this model"
        if fam is None:
            raise JaftError("the tokenizer has no chat template and its vocabulary has no known chat markers; "
                            "set one: --set model.chat_template=llama3|chatml|deepseek-r1|stablelm-ja|FILE.jinja")
        tokenizer.chat_template = load_template(fam)
        note = f"{fam} (the tokenizer has none; {why})"
    check_turn_end(tokenizer)
    if note and log:
        log(f"chat template: {note}")
    return note
