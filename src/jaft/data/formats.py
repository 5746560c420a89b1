"""Reading input files into :class:`~jaft.data.records.Record`, one record at a time.

Files: JSON Lines (``.jsonl``, ``.ndjson``), JSON (``.json``: an array of objects, or one object),
plain text (one record per non-blank line), CSV and Parquet (streamed through ``datasets``), and,
where the network allows, a Hugging Face Hub dataset name. Record formats, detected from the keys
of each object unless ``--format`` names one:

=====================  =========================================  ==========================
format                 keys                                       record
=====================  =========================================  ==========================
``text``               ``text``                                   text
``messages``           ``messages``: [{role, content}, …]         chat
``prompt_completion``  ``prompt``, ``completion``                 prompt_completion
``problem_solution``   ``problem`` (or ``prompt``), ``solution``, prompt_completion + answer
                       optional ``answer``
``alpaca``             ``instruction``, optional ``input``,       prompt_completion
                       ``output``
=====================  =========================================  ==========================

Everything streams except ``.json`` (a JSON array has no record boundaries, so the file is read
whole; use ``.jsonl`` for large data). Bad input never raises here: readers yield :class:`Reject` items (``path:line``, a reason code and
a message saying what to fix) and the caller decides whether that stops the run (``--strict``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaft.data.records import Record

FORMATS = ("auto", "text", "messages", "prompt_completion", "problem_solution", "alpaca")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt", ".text", ".md")
ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S)
_ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant", "model": "assistant"}


@dataclass
class Item:
    """One raw record: a parsed JSON object / table row (dict) or a line of text (str)."""

    path: str
    line: int
    value: Any

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Reject:
    """Input that could not become a record. ``line`` is 0 for problems with the whole file."""

    path: str
    line: int
    reason: str  # a stable code: invalid_json, not_utf8, missing_field, …
    message: str  # what is wrong and how to fix it
    raw: str | None = None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def describe(self) -> str:
        return f"{self.source}: {self.message}"


Progress = Callable[[int], None]  # called with the number of bytes just consumed


def _noop(_: int) -> None:
    pass


def looks_like_hub_name(name: str) -> bool:
    return bool(re.fullmatch(r"[\w.-]+/[\w.-]+", name)) and not Path(name).suffix


def iter_items(
    source: str | Path, fmt: str = "auto", *, max_line_bytes: int = 1_000_000, progress: Progress = _noop
) -> Iterator[Item | Reject]:
    """Every raw record of one input, as :class:`Item` or :class:`Reject`, in file order."""
    name = str(source)
    path = Path(source)
    if not path.exists():
        if looks_like_hub_name(name):
            yield from _iter_datasets("hub", name)
            return
        yield Reject(name, 0, "file_not_found", "file not found; check the path (or pass a Hub dataset as owner/name)")
        return
    if path.is_dir():
        yield Reject(name, 0, "is_directory", f"is a directory; pass the files inside it (e.g. {name}/*.jsonl)")
        return
    try:
        size = path.stat().st_size
    except OSError as e:
        yield Reject(name, 0, "unreadable", f"cannot read ({e.strerror}); check permissions")
        return
    if size == 0:
        yield Reject(name, 0, "empty_file", "file is empty; remove it from the inputs or fill it")
        return
    kind = file_kind(path)
    if kind == "text" and fmt not in ("auto", "text"):
        yield Reject(name, 0, "wrong_format", f"--format {fmt} needs JSON, CSV or Parquet records, but this is a plain-text file")
        return
    if kind in ("csv", "parquet"):
        yield from _iter_datasets(kind, name)
    elif kind == "json":
        yield from _iter_json(path, name, progress)
    else:
        yield from _iter_lines(path, name, kind, max_line_bytes, progress)


def file_kind(path: Path) -> str:
    """text / jsonl / json / csv / parquet, from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in TEXT_SUFFIXES:
        return "text"
    with path.open("rb") as f:
        head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "json" if head.startswith(b"[") else "text"


def _read_lines(path: Path, limit: int, progress: Progress) -> Iterator[tuple[int, bytes | None]]:
    """``(line_number, bytes)``; ``bytes`` is None for a line longer than ``limit`` (not kept in memory)."""
    with path.open("rb") as f:
        number = 0
        while True:
            raw = f.readline(limit + 1)
            if not raw:
                return
            number += 1
            progress(len(raw))
            if len(raw) > limit and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the oversized line
                    raw = f.readline(1 << 20)
                    progress(len(raw))
                yield number, None
                continue
            yield number, raw


def _decode(raw: bytes, name: str, number: int) -> str | Reject:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Reject(name, number, "not_utf8",
                      f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                      "convert the file, e.g. iconv -f SHIFT_JIS -t UTF-8",
                      raw[:200].decode("utf-8", "replace"))
    if number == 1 and text.startswith("\ufeff"):
        text = text[1:]
    return text.rstrip("\r\n")


def _iter_lines(path: Path, name: str, kind: str, limit: int, progress: Progress) -> Iterator[Item | Reject]:
    for number, raw in _read_lines(path, limit, progress):
        if raw is None:
            yield Reject(name, number, "line_too_long",
                         f"line is over {limit:,} bytes; split the record or raise data.max_line_bytes")
            continue
        text = _decode(raw, name, number)
        if isinstance(text, Reject):
            yield text
            continue
        if not text.strip():
            continue  # blank lines separate records; they are not records
        if kind == "text":
            yield Item(name, number, text)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield Reject(name, number, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno}); fix or remove the line",
                         text[:200])
            continue
        if not isinstance(value, dict):
            yield Reject(name, number, "wrong_type",
                         f"expected a JSON object per line, got {type(value).__name__}", text[:200])
            continue
        yield Item(name, number, value)


def _iter_json(path: Path, name: str, progress: Progress) -> Iterator[Item | Reject]:
    """A JSON array of objects (or a single object); line numbers point at each element's start."""
    raw = path.read_bytes()
    progress(len(raw))
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        yield Reject(name, raw[: e.start].count(b"\n") + 1, "not_utf8",
                     f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start - line_start + 1}); "
                     "convert the file, e.g. iconv -f SHIFT_JIS -t UTF-8")
        return
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "{":
        try:
            value, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield Reject(name, e.lineno, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno})")
            return
        yield Item(name, text.count("\n", 0, pos) + 1, value)
        return
    if pos >= len(text) or text[pos] != "[":
        yield Reject(name, text.count("\n", 0, pos) + 1, "invalid_json",
                     "a .json file must hold an array of objects (or one object); use .jsonl for one object per line")
        return
    pos = _skip_ws(text, pos + 1)
    line = text.count("\n", 0, pos) + 1
    last = pos
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", last, pos)
        last = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield Reject(name, e.lineno, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno}); the rest of the file is skipped")
            return
        if isinstance(value, dict):
            yield Item(name, line, value)
        else:
            yield Reject(name, line, "wrong_type", f"expected an object in the array, got {type(value).__name__}",
                         json.dumps(value, ensure_ascii=False)[:200])
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_datasets(kind: str, name: str) -> Iterator[Item | Reject]:
    """CSV / Parquet files and Hub datasets, streamed by ``datasets`` (no Arrow cache is written)."""
    try:
        from datasets import load_dataset
    except ImportError:
        yield Reject(name, 0, "missing_dependency", "reading CSV/Parquet needs the datasets package: pip install datasets")
        return
    try:
        if kind == "hub":
            ds = load_dataset(name, split="train", streaming=True)
        else:
            ds = load_dataset(kind, data_files=name, split="train", streaming=True)
        first_line = 2 if kind == "csv" else 1  # CSV line 1 is the header
        for i, row in enumerate(ds):
            yield Item(name, first_line + i, dict(row))
    except Exception as e:  # datasets raises many types; all mean "this input is unreadable"
        reason = "file_not_found" if kind == "hub" else "unreadable"
        yield Reject(name, 0, reason, f"could not read with datasets ({type(e).__name__}: {str(e).splitlines()[0][:200]})")


# --- objects → records ---------------------------------------------------------------------------

class BadRecord(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def detect_format(obj: dict[str, Any]) -> str:
    if "messages" in obj or "conversations" in obj:
        return "messages"
    if "solution" in obj and ("problem" in obj or "prompt" in obj):
        return "problem_solution"
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


def _answer(obj: dict[str, Any], solution: str) -> str:
    if obj.get("answer") is not None:
        value = obj["answer"]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise BadRecord("wrong_type", f"field 'answer' must be a string or number, got {type(value).__name__}")
        text = str(value).strip()
        if text:
            return text
    found = ANSWER_TAG.findall(solution)
    if found and found[-1].strip():
        return found[-1].strip()
    raise BadRecord("missing_field", "no 'answer' field and no <answer>…</answer> in 'solution'; add one of them")


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
        problem = _string(value, "problem" if "problem" in value else "prompt")
        solution = _string(value, "solution")
        assert solution is not None
        return Record(kind="prompt_completion", prompt=problem, completion=solution, system=system,
                      answer=_answer(value, solution), **common)
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
