"""Raw input objects into :class:`~jaft.data.records.Record`, one record at a time.

Files are read by :mod:`jaft.data.reader` (re-exported here: ``iter_items``, ``Item``, ``Reject``):
JSON Lines, JSON, plain text, CSV (csv module on the decoded text), Parquet and Hub datasets, with the
encoding decided and reported. Record formats, detected from the keys of each object unless
``--format`` names one:

=====================  =========================================  ==========================
format                 keys                                       record
=====================  =========================================  ==========================
``text``               ``text``                                   text
``messages``           ``messages``: [{role, content}, …]         chat
``prompt_completion``  ``prompt``, ``completion``                 prompt_completion
``problem_solution``   ``problem`` (or ``prompt``/``question``),  prompt_completion + answer
                       ``solution``, optional ``answer``; GSM8K:  (:func:`gold_answer`: answer
                       ``question`` + ``answer`` ending ``#### N`` field, <answer>, #### N, \\boxed)
``alpaca``             ``instruction``, optional ``input``,       prompt_completion
                       ``output``
=====================  =========================================  ==========================

Bad input never raises here: readers yield :class:`Reject` items (``path:line``, a reason code and a
message saying what to fix); :func:`to_record` raises :class:`BadRecord`; the caller decides whether
that stops the run (``--strict``).
"""

from __future__ import annotations

import re
from typing import Any

from jaft.data.reader import (  # noqa: F401  (re-exported: the reader used to live here)
    JSONL_SUFFIXES,
    TEXT_SUFFIXES,
    EncodingChoice,
    Item,
    Progress,
    Reject,
    decide_encoding,
    file_kind,
    iter_items,
    looks_like_hub_name,
)
from jaft.data.records import Record

FORMATS = ("auto", "text", "messages", "prompt_completion", "problem_solution", "alpaca")
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}


# --- objects → records ---------------------------------------------------------------------------

class BadRecord(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def detect_format(obj: dict[str, Any]) -> str:
    if "messages" in obj or "conversations" in obj:
        return "messages"
    if "solution" in obj and any(k in obj for k in _PROBLEM_KEYS):
        return "problem_solution"
    if "question" in obj and isinstance(obj.get("answer"), str) and _GSM8K_HASH.search(obj["answer"]):
        return "problem_solution"  # GSM8K: question, answer = worked solution ending "#### N"
    if "prompt" in obj and "completion" in obj:
        return "prompt_completion"
    if "instruction" in obj and "output" in obj:
        return "alpaca"
    if "text" in obj:
        return "text"
    raise BadRecord(
        "unknown_format",
        f"no known fields (keys: {', '.join(sorted(map(str, obj))[:8]) or 'none'}); expected text, messages, "
        "prompt/completion, problem/solution or instruction/output, or pass --format",
    )


def _string(obj: dict[str, Any], key: str, *, required: bool = True, allow_empty: bool = False) -> str | None:
    if key not in obj or obj[key] is None:
        if required:
            raise BadRecord("missing_field", f"missing field '{key}'")
        return None
    value = obj[key]
    if not isinstance(value, str):
        raise BadRecord("wrong_type", f"field '{key}' must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        if required:
            raise BadRecord("empty_field", f"field '{key}' is empty")
        return None
    return value


def _messages(obj: dict[str, Any]) -> list[dict[str, str]]:
    key = "messages" if "messages" in obj else "conversations"
    msgs = obj.get(key)
    if msgs is None:
        raise BadRecord("missing_field", "missing field 'messages'")
    if not isinstance(msgs, list):
        raise BadRecord("wrong_type", f"field '{key}' must be a list of {{role, content}} objects, got {type(msgs).__name__}")
    if not msgs:
        raise BadRecord("empty_field", f"field '{key}' is an empty list")
    out = []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise BadRecord("wrong_type", f"{key}[{i}] must be an object with role and content")
        role = m.get("role", m.get("from"))
        content = m.get("content", m.get("value"))
        role = _ROLE_ALIASES.get(role, role) if isinstance(role, str) else role
        if role not in ("system", "user", "assistant"):
            raise BadRecord("wrong_type", f"{key}[{i}].role must be system, user or assistant, got {role!r}")
        if not isinstance(content, str):
            raise BadRecord("missing_field" if content is None else "wrong_type",
                            f"{key}[{i}].content must be a string")
        if not content.strip():
            raise BadRecord("empty_field", f"{key}[{i}].content is empty")
        reasoning = _reasoning(m, f"{key}[{i}]", role, content)
        if reasoning is not None:
            # The turn as the model writes it (jaft.models.reasoning.think_text): trained as the think block.
            content = f"<think>\n{reasoning.strip()}\n</think>\n\n{content.lstrip()}"
        out.append({"role": role, "content": content})
    if not any(m["role"] != "system" for m in out):
        raise BadRecord("empty_field", f"field '{key}' holds only system messages")
    return out


# An assistant turn's reasoning as chat datasets and APIs spell it: DeepSeek API / vLLM
# (reasoning_content), OpenRouter / vLLM >= 0.10 (reasoning), Ollama (thinking).
REASONING_FIELDS = ("reasoning_content", "reasoning", "thinking")


def _reasoning(m: dict[str, Any], where: str, role: str, content: str) -> str | None:
    """The turn's reasoning field, if any; never dropped: an unusable one rejects the record."""
    found = {f: m[f] for f in REASONING_FIELDS if m.get(f) is not None}
    if not found:
        return None
    for f, v in found.items():
        if not isinstance(v, str):
            raise BadRecord("wrong_type", f"{where}.{f} must be a string, got {type(v).__name__}")
    found = {f: v for f, v in found.items() if v.strip()}
    if not found:
        return None
    names = ", ".join(found)
    if len(set(found.values())) > 1:
        raise BadRecord("conflicting_fields", f"{where} has different reasoning in {names}; keep one")
    if role != "assistant":
        raise BadRecord("wrong_type", f"{where}.{next(iter(found))}: only assistant turns carry reasoning")
    if "<think>" in content or "</think>" in content:
        raise BadRecord("conflicting_fields", f"{where} has reasoning both in {names} and as <think> in content")
    return next(iter(found.values()))


# Where a gold answer came from (report.json "answer_rules"), in the order the rules are tried.
ANSWER_RULES = ("answer_field", "answer_tag", "gsm8k_hash", "math_boxed")
# GSM8K (openai/gsm8k): the solution ends with a line "#### 72".
_GSM8K_HASH = re.compile(r"^\s*####\s*(.+?)\s*$", re.M)
_PROBLEM_KEYS = ("problem", "prompt", "question")


def gold_answer(obj: dict[str, Any], solution: str | None) -> tuple[str, str] | None:
    """``(answer, rule)`` of a math record, or None when it has none.

    Rules (:data:`ANSWER_RULES`): an ``answer`` field (string or number; a GSM8K solution in the
    ``answer`` column gives its ``#### N``); else in ``solution`` the last ``<answer>…</answer>``,
    the last ``#### N`` line (GSM8K), or the last ``\\boxed{…}`` (MATH / competition_math).
    Raises :class:`BadRecord` for an ``answer`` of the wrong type.
    """
    from jaft.japanese.answers import last_boxed

    value = obj.get("answer")
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BadRecord("wrong_type", f"field 'answer' must be a string or number, got {type(value).__name__}")
        text = str(value).strip()
        found = _GSM8K_HASH.findall(text) if isinstance(value, str) and "####" in text else None
        if found and found[-1].strip():
            return found[-1].strip(), "gsm8k_hash"
        if text:
            return text, "answer_field"
    if not solution:
        return None
    found = ANSWER_TAG.findall(solution)
    if found and found[-1].strip():
        return found[-1].strip(), "answer_tag"
    found = _GSM8K_HASH.findall(solution)
    if found and found[-1].strip():
        return found[-1].strip(), "gsm8k_hash"
    boxed = last_boxed(solution)
    if boxed:
        return boxed, "math_boxed"
    return None


def _solution_of(obj: dict[str, Any]) -> str | None:
    """The worked solution: ``solution``, or GSM8K's ``answer`` column (reasoning + ``#### N``)."""
    if "solution" in obj:
        return _string(obj, "solution")
    answer = obj.get("answer")
    if isinstance(answer, str) and _GSM8K_HASH.search(answer):
        return answer
    raise BadRecord("missing_field", "missing field 'solution'")


def problem_answer(obj: dict[str, Any]) -> tuple[str, str, str]:
    """``(problem, gold answer, rule)`` of one evaluation record: a prepared record, or raw
    ``problem``/``prompt``/``question`` with a gold answer by :func:`gold_answer`'s rules.

    Raises :class:`BadRecord` naming what is missing.
    """
    if "kind" in obj and "answer" in obj and isinstance(obj.get("prompt"), str):
        problem, answer = obj["prompt"], obj["answer"]
        if answer is not None and problem.strip():
            return problem, str(answer), "answer_field"
    key = next((k for k in _PROBLEM_KEYS if isinstance(obj.get(k), str) and obj[k].strip()), None)
    solution = obj.get("solution") if isinstance(obj.get("solution"), str) else None
    gold = gold_answer(obj, solution)
    if key is None or gold is None:
        raise BadRecord("missing_field", "needs a problem (problem/prompt/question) and a gold answer (answer; or in "
                        "solution: <answer>…</answer>, a GSM8K '#### N' line or a MATH \\boxed{…})")
    return obj[key], gold[0], gold[1]


def to_record(value: Any, fmt: str = "auto", *, source: str | None = None) -> Record:
    """A :class:`Record` from a raw item value; raises :class:`BadRecord` with a reason code."""
    if isinstance(value, str):
        if not value.strip():
            raise BadRecord("empty_field", "empty text")
        return Record(kind="text", text=value, source=source)
    if not isinstance(value, dict):
        raise BadRecord("wrong_type", f"expected an object, got {type(value).__name__}")
    fmt = detect_format(value) if fmt == "auto" else fmt
    common: dict[str, Any] = {"source": source}
    rid = value.get("id")
    if isinstance(rid, (str, int)) and not isinstance(rid, bool):
        common["id"] = str(rid)
    system = _string(value, "system", required=False)
    if fmt == "text":
        return Record(kind="text", text=_string(value, "text"), **common)
    if fmt == "messages":
        return Record(kind="chat", messages=_messages(value), **common)
    if fmt == "prompt_completion":
        return Record(kind="prompt_completion", prompt=_string(value, "prompt"),
                      completion=_string(value, "completion"), system=system, **common)
    if fmt == "problem_solution":
        problem = _string(value, next((k for k in _PROBLEM_KEYS if k in value), "problem"))
        solution = _solution_of(value)
        assert solution is not None
        gold = gold_answer(value, solution)
        if gold is None:
            raise BadRecord("missing_field", "no gold answer: add an 'answer' field, or end 'solution' with "
                            "<answer>…</answer>, a GSM8K '#### N' line or a MATH \\boxed{…}")
        meta = {"answer_rule": gold[1]}
        return Record(kind="prompt_completion", prompt=problem, completion=solution, system=system,
                      answer=gold[0], meta=meta, **common)
    if fmt == "alpaca":
        instruction = _string(value, "instruction")
        extra = _string(value, "input", required=False)
        prompt = f"{instruction}\n\n{extra}" if extra else instruction
        return Record(kind="prompt_completion", prompt=prompt, completion=_string(value, "output"),
                      system=system, **common)
    raise BadRecord("unknown_format", f"unknown format '{fmt}'; use one of {', '.join(FORMATS)}")


def record_texts(record: Record) -> list[str]:
    """The record's text fields in a fixed order (what filters, dedup and augmentation read)."""
    if record.kind == "text":
        return [record.text or ""]
    if record.kind == "chat":
        return [m.content for m in record.messages or []]
    return [f for f in (record.system, record.prompt, record.completion) if f is not None]


def row_texts(row: dict[str, Any]) -> list[str]:
    """:func:`record_texts` of a record's JSON row (``Record.model_dump(mode="json")``, defaults left
    out or not): the same texts in the same order, without building a Record."""
    if row["kind"] == "text":
        return [row.get("text") or ""]
    if row["kind"] == "chat":
        return [m["content"] for m in row.get("messages") or []]
    return [row[k] for k in ("system", "prompt", "completion") if row.get(k) is not None]


def with_texts(record: Record, texts: list[str], **changes: Any) -> Record:
    """``record`` with its text fields replaced (same order as :func:`record_texts`) and any other
    field in ``changes`` set, in one copy."""
    if record.kind == "text":
        changes["text"] = texts[0]
    elif record.kind == "chat":
        changes["messages"] = [m.model_copy(update={"content": t})
                               for m, t in zip(record.messages or [], texts, strict=True)]
    else:
        it = iter(texts)
        changes.update({k: next(it) for k in ("system", "prompt", "completion") if getattr(record, k) is not None})
    return record.model_copy(update=changes)


def texts_into_row(row: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """A copy of a record's JSON row with its text fields replaced (order of :func:`record_texts`)."""
    out = dict(row)
    if row["kind"] == "text":
        out["text"] = texts[0]
    elif row["kind"] == "chat":
        out["messages"] = [{**m, "content": t} for m, t in zip(row["messages"], texts, strict=True)]
    else:
        it = iter(texts)
        for k in ("system", "prompt", "completion"):
            if row.get(k) is not None:
                out[k] = next(it)
    return out
