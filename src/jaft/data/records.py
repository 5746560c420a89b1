"""The one internal record type every input format becomes, and prepared files are made of.

A prepared ``train.jsonl`` holds one :class:`Record` per line (``Record.model_dump_json``). Training
renders records with the model's chat template; GRPO and evaluation read ``prompt`` and ``answer``.

Kinds:
- ``text``: plain text for language modelling (``text``).
- ``chat``: a conversation (``messages``: role/content dicts; roles system, user, assistant).
- ``prompt_completion``: one user turn and one assistant answer (``prompt``, ``completion``). Seed 004's
  ``problem``/``solution`` records, Alpaca, QA and summarization become this. A completion may hold
  ``<think>…</think>`` reasoning followed by ``<answer>…</answer>``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Kind = Literal["text", "chat", "prompt_completion"]
Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role
    content: str


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    text: str | None = None
    messages: list[Message] | None = None
    prompt: str | None = None
    completion: str | None = None
    system: str | None = Field(None, description="system prompt for prompt_completion records")
    answer: str | None = Field(None, description="gold final answer (math problems): GRPO and eval")
    id: str | None = None
    source: str | None = Field(None, description="'path:line' of the input record")
    variant: str | None = Field(None, description="augmentation kind when this is a generated variant")
    meta: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fields_for_kind(self) -> Record:
        if self.kind == "text" and not self.text:
            raise ValueError("text record without text")
        if self.kind == "chat" and not self.messages:
            raise ValueError("chat record without messages")
        if self.kind == "prompt_completion" and (not self.prompt or self.completion is None):
            raise ValueError("prompt_completion record needs prompt and completion")
        return self

    def chat_messages(self) -> list[dict[str, str]]:
        """The record as chat messages (text records have none: they are trained as raw text)."""
        if self.kind == "chat":
            return [m.model_dump() for m in self.messages or []]
        if self.kind == "prompt_completion":
            msgs = [{"role": "system", "content": self.system}] if self.system else []
            msgs.append({"role": "user", "content": self.prompt or ""})
            msgs.append({"role": "assistant", "content": self.completion or ""})
            return msgs
        return []
