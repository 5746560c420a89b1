"""Chat templates by family: the shipped Jinja files and what each family needs to know.

Families are named in the registry (``chat_template``). The facts here (stop strings, sampling
defaults, the special tokens that identify a family in a vocabulary) are stated once. Whether a
template opens ``<think>`` or strips reasoning is not a fact of the family: the renderer
(:mod:`jaft.models.chat`) reads it off the template itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

from jaft.errors import JaftError


@dataclass(frozen=True)
class TemplateInfo:
    family: str
    stop: tuple[str, ...]
    sampling: dict[str, float] = field(default_factory=dict)
    # Special tokens that must all be in a vocabulary for this family's template to fit it (empty:
    # the family's markers are plain text and cannot be recognised from the vocabulary).
    markers: tuple[str, ...] = ()


TEMPLATES: dict[str, TemplateInfo] = {
    "deepseek-r1": TemplateInfo(
        "deepseek-r1",
        stop=("<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),
        # DeepSeek's usage recommendation for R1 distills: temperature 0.6, top-p 0.95.
        sampling={"temperature": 0.6, "top_p": 0.95},
        markers=("<｜User｜>", "<｜Assistant｜>"),
    ),
    "llama3": TemplateInfo(
        "llama3",
        stop=("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"),
        sampling={"temperature": 0.6, "top_p": 0.9},
        markers=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
    ),
    "chatml": TemplateInfo("chatml", stop=("<|im_end|>", "<|im_start|>"), sampling={"temperature": 0.7, "top_p": 0.8},
                           markers=("<|im_start|>", "<|im_end|>")),
    # Japanese StableLM instruct: "### 指示: " / "### 応答: " in plain text, turns end with EOS.
    "stablelm-ja": TemplateInfo("stablelm-ja", stop=("### 指示:",)),
}


def template_text(family: str) -> str:
    """The shipped Jinja chat template of ``family``."""
    if family not in TEMPLATES:
        raise JaftError(f"no chat template shipped for family '{family}' (known: {', '.join(TEMPLATES)})")
    path = resources.files("jaft.models").joinpath("templates", f"{family}.jinja")
    return path.read_text(encoding="utf-8")


def load_template(spec: str) -> str:
    """``model.chat_template``: a shipped family name, or a path to a Jinja file."""
    from pathlib import Path

    if spec in TEMPLATES:
        return template_text(spec)
    p = Path(spec).expanduser()
    if p.suffix in (".jinja", ".j2", ".txt") or p.exists():
        if not p.is_file():
            raise JaftError(f"model.chat_template={spec}: no such file; give a family "
                            f"({', '.join(TEMPLATES)}) or a .jinja file")
        return p.read_text(encoding="utf-8")
    raise JaftError(f"model.chat_template={spec}: unknown family; use one of {', '.join(TEMPLATES)} or a .jinja file")


def family_from_vocab(tokenizer) -> str | None:
    """The family whose marker tokens are all single tokens of ``tokenizer``'s vocabulary, if one is."""
    vocab = tokenizer.get_vocab()
    for fam, facts in TEMPLATES.items():
        if facts.markers and all(m in vocab for m in facts.markers):
            return fam
    return None


def info(family: str) -> TemplateInfo:
    if family not in TEMPLATES:
        raise JaftError(f"unknown chat-template family '{family}' (known: {', '.join(TEMPLATES)})")
    return TEMPLATES[family]
