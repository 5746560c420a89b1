"""Chat templates by family: the shipped Jinja files and what each family needs to know.

Families are named in the registry (``chat_template``). The facts here (stop strings, whether the
generation prompt opens ``<think>``, sampling defaults) are what SFT rendering, rewards and the
Ollama Modelfile derive from, so they are stated once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from jaft.errors import JaftError


@dataclass(frozen=True)
class TemplateInfo:
    family: str
    stop: tuple[str, ...]
    # R1 templates end the generation prompt with "<think>\n" and strip reasoning from past turns.
    opens_think: bool = False
    strips_reasoning: bool = False
    sampling: dict[str, float] = field(default_factory=dict)
    system_prompt_ok: bool = True


TEMPLATES: dict[str, TemplateInfo] = {
    "deepseek-r1": TemplateInfo(
        "deepseek-r1",
        stop=("<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
        opens_think=True,
        strips_reasoning=True,
        # DeepSeek's usage recommendation for R1 distills: temperature 0.6, top-p 0.95, no system prompt.
        sampling={"temperature": 0.6, "top_p": 0.95},
        system_prompt_ok=False,
    ),
    "llama3": TemplateInfo(
        "llama3",
        stop=("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
        sampling={"temperature": 0.6, "top_p": 0.9},
    ),
    "chatml": TemplateInfo("chatml", stop=("<|im_end|>", "<|im_start|>"), sampling={"temperature": 0.7, "top_p": 0.8}),
}


def template_text(family: str) -> str:
    """The shipped Jinja chat template of ``family``."""
    if family not in TEMPLATES:
        raise JaftError(f"no chat template shipped for family '{family}' (known: {', '.join(TEMPLATES)})")
    path = resources.files("jaft.models").joinpath("templates", f"{family}.jinja")
    return path.read_text(encoding="utf-8")


def info(family: str) -> TemplateInfo:
    if family not in TEMPLATES:
        raise JaftError(f"unknown chat-template family '{family}' (known: {', '.join(TEMPLATES)})")
    return TEMPLATES[family]
