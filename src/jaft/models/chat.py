"""Render records into token ids with the model's chat template, keeping R1 reasoning.

R1-Distill templates open ``<think>\\n`` in the generation prompt and strip everything up to
``</think>`` from assistant turns. Rendering a training conversation through the stock template would
silently drop the reasoning, so each assistant turn is rendered as (prompt = history with the
generation prompt, completion = the turn's full content + EOS), tokenized exactly as at inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jaft.data.records import Record
from jaft.registry import detect_template_family

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass
class Rendered:
    prompt: str
    completion: str  # loss is taken on these tokens only


def template_family(tokenizer: Any) -> str:
    return detect_template_family(getattr(tokenizer, "chat_template", None))


def ensure_chat_template(tokenizer: Any, family: str | None = None) -> str | None:
    """Give a tokenizer without a chat template the shipped one of ``family`` (or ChatML).

    Returns the family that was set, or None when the tokenizer already had a template.
    """
    if getattr(tokenizer, "chat_template", None):
        return None
    from jaft.models.templates import TEMPLATES, template_text

    fam = family if family in TEMPLATES else "chatml"
    tokenizer.chat_template = template_text(fam)
    return fam


def r1_completion(content: str) -> str:
    """An assistant turn as the text an R1 model generates after ``<｜Assistant｜><think>\\n``."""
    stripped = content.lstrip()
    if stripped.startswith(THINK_OPEN):
        body = stripped[len(THINK_OPEN):]
        return body[1:] if body.startswith("\n") else body
    # No reasoning given: R1's own convention for a direct answer is an empty think block.
    return "\n" + THINK_CLOSE + "\n\n" + content


def fold_system(messages: list[dict[str, str]], family: str) -> list[dict[str, str]]:
    """Move a system prompt into the first user turn for families that should not get one.

    DeepSeek asks R1 distills to take every instruction in the user prompt. Training and inference
    both go through here, so the model sees the instruction in the same place in both.
    """
    from jaft.models.templates import TEMPLATES

    info = TEMPLATES.get(family)
    if info is None or info.system_prompt_ok or not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    for m in rest:
        if m["role"] == "user":
            m["content"] = f"{system}\n\n{m['content']}" if system else m["content"]
            break
    return rest


def render_turns(record: Record, tokenizer: Any, system: str | None = None) -> list[Rendered]:
    """One (prompt, completion) per assistant turn; text records are a single completion.

    ``system`` is used for records that carry no system prompt of their own.
    """
    eos = tokenizer.eos_token or ""
    if record.kind == "text":
        bos = tokenizer.bos_token if getattr(tokenizer, "bos_token", None) else ""
        return [Rendered(prompt=bos or "", completion=(record.text or "") + eos)]
    family = template_family(tokenizer)
    messages = record.chat_messages()
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": system}, *messages]
    messages = fold_system(messages, family)
    out: list[Rendered] = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        history = messages[:i]
        if not any(m["role"] == "user" for m in history):
            continue  # an assistant turn with nothing to answer teaches nothing
        prompt = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
        if family == "deepseek-r1":
            completion = r1_completion(msg["content"]) + eos
        else:
            full = tokenizer.apply_chat_template([*history, msg], tokenize=False)
            # Other templates close the turn themselves (<|eot_id|>, <|im_end|>): train on exactly that.
            completion = full[len(prompt):] if full.startswith(prompt) else msg["content"] + eos
        out.append(Rendered(prompt=prompt, completion=completion))
    return out


def tokenize_rendered(r: Rendered, tokenizer: Any, max_length: int | None) -> dict[str, Any] | None:
    """``input_ids`` and ``completion_mask``; prompt and completion tokenized separately, as at inference.

    Returns None when truncation would leave no completion token (the caller counts these).
    """
    prompt_ids = tokenizer(r.prompt, add_special_tokens=False)["input_ids"] if r.prompt else []
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


def render_prompt(tokenizer: Any, user: str, system: str | None = None) -> str:
    """The generation prompt for one user message (what eval, GRPO and the generation test feed)."""
    msgs = [{"role": "system", "content": system}] if system else []
    msgs.append({"role": "user", "content": user})
    msgs = fold_system(msgs, template_family(tokenizer))
    return tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
