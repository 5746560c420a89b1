"""Load a model's transformers tokenizer and insist on its fast (``tokenizers``) backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaft.errors import JaftError


def load_fast_tokenizer(name_or_path: str, *, trust_remote_code: bool = False) -> Any:
    """The model's tokenizer as transformers loads it; JaftError when it has no usable fast backend.

    Not ``jaft.models.loader.load_tokenizer``: that one sets a pad token, which an extended
    tokenizer would then save as a change the user never asked for.
    """
    from transformers import AutoTokenizer

    p = Path(name_or_path).expanduser()
    if (name_or_path.startswith((".", "/", "~")) or p.exists()) and not p.is_dir():
        raise JaftError(f"{p}: no such model directory; pass a model directory or a Hub id like owner/name")
    try:
        tok = AutoTokenizer.from_pretrained(str(p) if p.is_dir() else name_or_path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise JaftError(f"could not load the tokenizer of '{name_or_path}': {msg}") from None
    backend = getattr(tok, "backend_tokenizer", None) if getattr(tok, "is_fast", False) else None
    if backend is None:
        raise JaftError(
            f"{name_or_path}: {type(tok).__name__} is not a fast tokenizer (no tokenizer.json); these commands "
            "need one: convert it with transformers (AutoTokenizer ... save_pretrained) or pick another model"
        )
    if backend.get_vocab_size(with_added_tokens=False) < 256:
        raise JaftError(
            f"{name_or_path}: its tokenizer has only {backend.get_vocab_size()} tokens, so the directory lacks "
            "its tokenizer files (tokenizer.json); copy them from the original model"
        )
    return tok
