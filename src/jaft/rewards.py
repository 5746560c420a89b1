"""Reward functions for GRPO on Japanese reasoning: format, accuracy, language, length, repetition.

Every reward is a plain function ``(completions, **dataset_columns) -> list[float]`` that TRL's
``GRPOTrainer`` can take as is: TRL calls it with ``prompts``, ``completions``, ``completion_ids``,
``trainer_state``, ``log_extra``, ``log_metric`` and every dataset column (e.g. ``answer``) as keyword
arguments; what a reward does not use it ignores. Completions may be strings or chat message lists
(``[{"role": "assistant", "content": ...}]``, maybe with ``reasoning_content`` split off by the
tokenizer's response parser; it is put back in front of the content).

The expected completion::

    <think>
    reasoning
    </think>
    <answer>final answer</answer>

**The `<think>` rule.** R1-Distill chat templates end the generation prompt with ``<think>\\n``, so
the completion starts inside the reasoning and carries only ``</think>``. Whether the opening tag is
in the prompt is decided per completion:

- ``think_in_prompt=True`` / ``False`` (bind it with :func:`resolve_reward`) says so explicitly;
- otherwise a string prompt tells: it ends with ``<think>`` (whitespace aside) or it does not;
- otherwise (chat-message prompts: the template is applied later, out of sight) either form is
  accepted: ``<think>…</think>`` at the start, or no ``<think>`` and one ``</think>``. Training code
  that knows the template binds ``think_in_prompt=template_opens_think(tokenizer)`` instead.

Exactly one reasoning block means: one ``</think>``, and one ``<think>`` at the very start of the
completion, or none when the prompt opened it. A second ``<think>`` is a second block.

**Format** (:func:`format_reward`) is 1.0 when, with exact lower-case tags: the reasoning block
comes first and is not empty, then only whitespace, then one non-empty ``<answer>…</answer>``, then
nothing but whitespace and end-of-sequence markers that a decode may have kept (``<|im_end|>``,
``<｜end▁of▁sentence｜>``, ``</s>``, ``<|eot_id|>``, ``<|endoftext|>``…). Answer *extraction* for
accuracy is more tolerant (:func:`jaft.japanese.answers.extract_answer`).

Parameters of a reward (``max_length`` of :func:`length_penalty`, ``n`` of
:func:`repetition_penalty`, ``think_in_prompt``…) are bound with ``resolve_reward(name, **params)``,
which keeps the function's ``__name__`` (TRL logs rewards by it) and stays picklable.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from jaft.errors import JaftError, did_you_mean
from jaft.japanese.answers import answers_match, extract_answer
from jaft.japanese.letters import japanese_share

__all__ = [
    "REWARDS",
    "accuracy_reward",
    "completion_text",
    "format_ok",
    "format_reward",
    "japanese_share",
    "language_consistency_reward",
    "length_penalty",
    "reasoning_block",
    "repetition_penalty",
    "resolve_reward",
    "template_opens_think",
    "tiered_reward",
]

# --------------------------------------------------------------------------------------------------
# reading completions


def _message_text(message: Any, think_open_in_prompt: bool | None) -> str:
    if isinstance(message, str):
        return message
    if not isinstance(message, dict):
        return "" if message is None else str(message)
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        content = "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    content = content or ""
    reasoning = message.get("reasoning_content") or message.get("thinking") or message.get("reasoning")
    if reasoning and "</think>" not in content:
        # The response parser split the reasoning off; put the block back as it was generated.
        opening = "" if think_open_in_prompt else "<think>\n"
        content = f"{opening}{reasoning}\n</think>\n{content}"
    return content


def completion_text(completion: Any, think_in_prompt: bool | None = None) -> str:
    """The generated text of one completion: a string, a message dict or a list of messages.

    Of a message list only assistant messages (or messages without a role) count, joined in order.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _message_text(completion, think_in_prompt)
    if isinstance(completion, Sequence):
        return "".join(
            _message_text(m, think_in_prompt)
            for m in completion
            if not isinstance(m, dict) or m.get("role", "assistant") == "assistant"
        )
    return "" if completion is None else str(completion)


def _think_in_prompt(prompt: Any, override: bool | None) -> bool | None:
    if override is not None:
        return override
    if isinstance(prompt, str):
        return prompt.rstrip().endswith("<think>")
    return None


def template_opens_think(tokenizer: Any) -> bool:
    """Whether ``tokenizer``'s chat template ends the generation prompt with ``<think>`` (R1-Distill).

    For chat-message datasets the rewards cannot see the rendered prompt; bind the result as
    ``think_in_prompt`` (``resolve_reward("format", think_in_prompt=template_opens_think(tok))``).
    """
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "1+1"}], tokenize=False, add_generation_prompt=True
    )
    return isinstance(rendered, str) and rendered.rstrip().endswith("<think>")


def _rows(completions: Sequence[Any], prompts: Sequence[Any] | None, think_in_prompt: bool | None):
    """(text, opened) per completion: opened is True / False / None as in the module docstring."""
    if prompts is not None and len(prompts) != len(completions):
        raise JaftError(
            f"reward got {len(completions)} completions but {len(prompts)} prompts; pass one prompt per completion"
        )
    for i, completion in enumerate(completions):
        opened = _think_in_prompt(prompts[i] if prompts is not None else None, think_in_prompt)
        yield completion_text(completion, opened), opened


_EOS = (
    r"<\|im_end\|>|<\|endoftext\|>|<｜end▁of▁sentence｜>|<\|end▁of▁sentence\|>|</s>|<\|eot_id\|>"
    r"|<\|end_of_text\|>|<eos>|<end_of_turn>|<\|end\|>"
)
_FORMAT = re.compile(
    rf"^\s*(?:<think>)?(?P<reasoning>.*?)</think>\s*<answer>(?P<answer>.*?)</answer>(?:\s|{_EOS})*$",
    re.DOTALL,
)


def format_ok(text: str, think_in_prompt: bool | None = None) -> bool:
    """Whether ``text`` is one reasoning block then one answer block (the rule in the module docstring)."""
    opens = text.count("<think>")
    if text.count("</think>") != 1 or text.count("<answer>") != 1 or text.count("</answer>") != 1:
        return False
    starts_open = text.lstrip().startswith("<think>")
    if think_in_prompt is True:
        allowed = opens == 0
    elif think_in_prompt is False:
        allowed = opens == 1 and starts_open
    else:
        allowed = opens == 0 or (opens == 1 and starts_open)
    if not allowed:
        return False
    m = _FORMAT.match(text)
    return bool(m and m.group("reasoning").strip() and m.group("answer").strip())


def reasoning_block(text: str, think_in_prompt: bool | None = None) -> str | None:
    """The reasoning of a completion, or ``None`` when it has none.

    Up to the first ``</think>`` (from after ``<think>`` when there is one); with no ``</think>``
    (a truncated completion) from ``<think>`` — or, when the prompt opened it, from the start — up to
    ``<answer>`` or the end.
    """
    close = text.find("</think>")
    if close >= 0:
        open_ = text.rfind("<think>", 0, close)
        return text[open_ + len("<think>") if open_ >= 0 else 0 : close]
    open_ = text.find("<think>")
    if open_ < 0 and think_in_prompt is not True:
        return None
    start = open_ + len("<think>") if open_ >= 0 else 0
    end = text.find("<answer>", start)
    return text[start : end if end >= 0 else len(text)]


# --------------------------------------------------------------------------------------------------
# the rewards


def format_reward(
    completions: Sequence[Any],
    prompts: Sequence[Any] | None = None,
    think_in_prompt: bool | None = None,
    **kwargs: Any,
) -> list[float]:
    """1.0 for ``<think>…</think>`` then ``<answer>…</answer>`` and nothing else, else 0.0."""
    return [1.0 if format_ok(t, o) else 0.0 for t, o in _rows(completions, prompts, think_in_prompt)]


def _gold(answer: Any, n: int, name: str) -> list[Any]:
    if answer is None:
        raise JaftError(
            f"reward '{name}' needs the gold answer: the dataset has no 'answer' column; add one "
            "(records with an `answer` field) or drop this reward"
        )
    if isinstance(answer, str) or not isinstance(answer, Sequence):
        return [answer] * n
    if len(answer) != n:
        raise JaftError(f"reward '{name}' got {n} completions but {len(answer)} answers; pass one per completion")
    return list(answer)


def accuracy_reward(
    completions: Sequence[Any],
    answer: Sequence[Any] | str | None = None,
    prompts: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[float]:
    """1.0 when the last ``<answer>`` block equals the gold ``answer`` mathematically, else 0.0.

    Japanese forms are normalized first (``答えは１５個です`` = ``15``); see
    :func:`jaft.japanese.answers.answers_match`. No answer block, or an empty gold answer → 0.0.
    """
    golds = _gold(answer, len(completions), "accuracy")
    scores = []
    for (text, _), gold in zip(_rows(completions, prompts, None), golds, strict=True):
        pred = extract_answer(text)
        ok = pred is not None and gold is not None and answers_match(pred, str(gold))
        scores.append(1.0 if ok else 0.0)
    return scores


def language_consistency_reward(
    completions: Sequence[Any],
    prompts: Sequence[Any] | None = None,
    think_in_prompt: bool | None = None,
    **kwargs: Any,
) -> list[float]:
    """Share of Japanese among the letters of the reasoning block (:func:`japanese_share`), in [0, 1].

    DeepSeek-R1's language-consistency reward. No reasoning block, or one without letters → 0.0.
    """
    scores = []
    for text, opened in _rows(completions, prompts, think_in_prompt):
        reasoning = reasoning_block(text, opened)
        scores.append(japanese_share(reasoning) if reasoning else 0.0)
    return scores


def tiered_reward(
    completions: Sequence[Any],
    answer: Sequence[Any] | str | None = None,
    prompts: Sequence[Any] | None = None,
    think_in_prompt: bool | None = None,
    bad_format: float = 0.0,
    wrong_answer: float = 1.0,
    right_answer: float = 10.0,
    **kwargs: Any,
) -> list[float]:
    """Seed 004's reward: 0 bad format, 1 right format but wrong answer, 10 right format and answer."""
    golds = _gold(answer, len(completions), "tiered")
    scores = []
    for (text, opened), gold in zip(_rows(completions, prompts, think_in_prompt), golds, strict=True):
        if not format_ok(text, opened):
            scores.append(float(bad_format))
            continue
        pred = extract_answer(text)
        right = pred is not None and gold is not None and answers_match(pred, str(gold))
        scores.append(float(right_answer if right else wrong_answer))
    return scores


def length_penalty(
    completions: Sequence[Any],
    completion_ids: Sequence[Sequence[int]] | None = None,
    max_length: int = 1024,
    cache: int = 256,
    unit: str = "auto",
    **kwargs: Any,
) -> list[float]:
    """Soft overlong penalty (DAPO) in [-1, 0]: 0 up to ``max_length - cache``, then falling
    linearly to -1 at ``max_length``, -1 beyond.

    ``unit``: ``"tokens"`` (needs ``completion_ids``, which TRL passes), ``"chars"``, or ``"auto"``
    (tokens when given, else characters). Set ``max_length`` to GRPO's ``max_completion_length``.
    """
    if unit not in ("auto", "tokens", "chars"):
        raise JaftError(f"length_penalty: unit must be 'auto', 'tokens' or 'chars', not {unit!r}")
    if max_length <= 0 or not 0 < cache <= max_length:
        raise JaftError(
            f"length_penalty: need max_length > 0 and 0 < cache <= max_length (got {max_length}, {cache})"
        )
    use_tokens = unit == "tokens" or (unit == "auto" and completion_ids is not None)
    if use_tokens and completion_ids is None:
        raise JaftError("length_penalty: unit='tokens' needs completion_ids; use unit='chars' outside TRL")
    soft = max_length - cache
    scores = []
    for i, completion in enumerate(completions):
        n = len(completion_ids[i]) if use_tokens else len(completion_text(completion))  # type: ignore[index]
        if n <= soft:
            scores.append(0.0)
        elif n <= max_length:
            scores.append((soft - n) / cache)
        else:
            scores.append(-1.0)
    return scores


_SPACES = re.compile(r"\s+")
_TAGS = re.compile(r"</?(?:think|answer)>")


def repetition_penalty(
    completions: Sequence[Any],
    n: int = 12,
    scale: float = 1.0,
    **kwargs: Any,
) -> list[float]:
    """Minus the share of repeated character ``n``-grams, times ``scale``, in [-scale, 0].

    Character n-grams work for Japanese, which has no spaces between words; whitespace runs count as
    one space and the ``<think>``/``<answer>`` tags are dropped. A completion shorter than ``n``
    characters scores 0. With the default ``n=12``, natural Japanese prose stays near 0 (see
    ``tests/test_rewards.py``) while a looping completion approaches -1.
    """
    if n < 1 or scale < 0:
        raise JaftError(f"repetition_penalty: need n >= 1 and scale >= 0 (got n={n}, scale={scale})")
    scores = []
    for completion in completions:
        text = _SPACES.sub(" ", _TAGS.sub(" ", completion_text(completion))).strip()
        total = len(text) - n + 1
        if total <= 0:
            scores.append(0.0)
            continue
        unique = len({text[i : i + n] for i in range(total)})
        scores.append(-scale * (1.0 - unique / total) if unique < total else 0.0)
    return scores


# --------------------------------------------------------------------------------------------------
# registry

REWARDS: dict[str, Callable[..., list[float]]] = {
    "format": format_reward,
    "accuracy": accuracy_reward,
    "language_consistency": language_consistency_reward,
    "tiered": tiered_reward,
    "length": length_penalty,
    "repetition": repetition_penalty,
}


class BoundReward:
    """A reward with some keyword parameters fixed; keeps the function's ``__name__`` for TRL's logs.

    A class rather than ``functools.partial`` so that the name can be set and pickling still works.
    """

    def __init__(self, func: Callable[..., list[float]], params: dict[str, Any]) -> None:
        self.func = func
        self.params = dict(params)
        self.__name__ = getattr(func, "__name__", type(func).__name__)
        self.__doc__ = getattr(func, "__doc__", None)

    def __call__(self, *args: Any, **kwargs: Any) -> list[float]:
        return self.func(*args, **{**kwargs, **self.params})

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.__name__}({params})"


def _load_dotted(spec: str) -> Any:
    """``pkg.mod:func``, ``pkg.mod.func`` or ``path/to/file.py:func``."""
    if ":" in spec:
        module_name, _, attr = spec.rpartition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise JaftError(
            f"reward '{spec}': not a registry name and not a dotted path; use one of "
            f"{', '.join(REWARDS)} or 'package.module:function'"
        )
    if module_name.endswith(".py"):
        path = Path(module_name)
        if not path.is_file():
            raise JaftError(f"reward '{spec}': file {module_name} not found; give an existing .py file")
        module_spec = importlib.util.spec_from_file_location(f"jaft_user_reward_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise JaftError(f"reward '{spec}': cannot load {module_name} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        # Registered like an import, so pickle and copy find the module of its functions again.
        sys.modules[module_spec.name] = module
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_spec.name, None)
            raise JaftError(f"reward '{spec}': importing {module_name} failed: {type(exc).__name__}: {exc}") from exc
    else:
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise JaftError(
                f"reward '{spec}': cannot import module '{module_name}' ({type(exc).__name__}: {exc}); "
                "check the spelling and that the module is on PYTHONPATH"
            ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        public = [a for a in dir(module) if not a.startswith("_")]
        raise JaftError(
            f"reward '{spec}': module '{module_name}' has no attribute '{attr}'{did_you_mean(attr, public)}"
        ) from None


def resolve_reward(name_or_path: str, **params: Any) -> Callable[..., list[float]]:
    """A reward function by registry name (``"format"``) or dotted path (``"my.mod:my_reward"``).

    ``params`` are bound as keyword arguments (``resolve_reward("length", max_length=512)``); each must
    be a named parameter of the function. Raises :class:`JaftError` naming the problem: an unknown name
    (with the nearest registry name), a path that does not import, an object that is not callable, an
    unknown parameter.
    """
    name = name_or_path.strip()
    if name in REWARDS:
        func: Any = REWARDS[name]
    elif "." in name or ":" in name:
        func = _load_dotted(name)
        if not callable(func):
            raise JaftError(
                f"reward '{name}' is a {type(func).__name__}, not a function; point at a callable "
                "(completions, **kwargs) -> list[float]"
            )
    else:
        raise JaftError(
            f"unknown reward '{name}'{did_you_mean(name, list(REWARDS))} (rewards: {', '.join(REWARDS)}; or a dotted path 'package.module:function')"
        )
    if not params:
        return func
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return BoundReward(func, params)
    named = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "completions"
    ]
    unknown = [k for k in params if k not in named]
    if unknown:
        raise JaftError(
            f"reward '{name}' has no parameter '{unknown[0]}'{did_you_mean(unknown[0], named)} "
            f"(it takes: {', '.join(named) or 'none'})"
        )
    return BoundReward(func, params)

