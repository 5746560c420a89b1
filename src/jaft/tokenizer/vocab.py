"""What a tokenizer's tokens are made of: their bytes, whether a token is a partial UTF-8 piece.

Works on a ``tokenizers.Tokenizer`` (the backend of every transformers fast tokenizer), for the two
vocabulary styles LLMs use: byte-level BPE (GPT-2 / Qwen / Llama 3: bytes spelled with printable
stand-in characters) and SentencePiece-style pieces (``▁`` for space, ``<0xE3>`` byte fallback).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def tokenizer_json(backend: Any) -> dict[str, Any]:
    return json.loads(backend.to_str())


def _has_type(node: Any, name: str) -> bool:
    if isinstance(node, dict):
        if node.get("type") == name:
            return True
        return any(_has_type(v, name) for v in node.values())
    if isinstance(node, list):
        return any(_has_type(v, name) for v in node)
    return False


def is_byte_level(tj: dict[str, Any]) -> bool:
    """True when the vocabulary spells raw bytes (a ByteLevel pre-tokenizer or decoder)."""
    return _has_type(tj.get("pre_tokenizer"), "ByteLevel") or _has_type(tj.get("decoder"), "ByteLevel")


@functools.cache
def byte_decoder() -> dict[str, int]:
    """Byte-level stand-in character → byte (GPT-2's table, as transformers ships it)."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return {ch: b for b, ch in bytes_to_unicode().items()}


def byte_level_bytes(token: str) -> bytes:
    table = byte_decoder()
    return bytes(table[ch] for ch in token)


@functools.cache
def _byte_encoder() -> tuple[str, ...]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    table = bytes_to_unicode()
    return tuple(table[b] for b in range(256))


def byte_level_token(raw: bytes) -> str:
    table = _byte_encoder()
    return "".join(table[b] for b in raw)


def token_bytes_table(backend: Any, tj: dict[str, Any] | None = None) -> dict[int, bytes]:
    """Token id → the bytes it stands for, for every token of the model vocabulary and added tokens.

    ``tj``: the backend's JSON when the caller already has it (serialising a 150k vocabulary is slow).
    """
    tj = tj if tj is not None else tokenizer_json(backend)
    byte_level = is_byte_level(tj)
    table: dict[int, bytes] = {}
    decoder = byte_decoder() if byte_level else {}
    for token, idx in backend.get_vocab(with_added_tokens=False).items():
        if byte_level and all(ch in decoder for ch in token):
            table[idx] = bytes(decoder[ch] for ch in token)
            continue
        m = _BYTE_FALLBACK.match(token)
        if m:
            table[idx] = bytes([int(m.group(1), 16)])
        else:
            table[idx] = token.replace("▁", " ").encode("utf-8")
    for added in tj.get("added_tokens", []):
        table.setdefault(int(added["id"]), added["content"].encode("utf-8"))
    return table


def is_partial(raw: bytes) -> bool:
    """A token that is not whole UTF-8 characters (one piece of a character split across tokens)."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False
