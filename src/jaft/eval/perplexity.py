"""Perplexity of a model on a text file (one document per line), in fixed windows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from jaft.errors import JaftError


def perplexity(model: Any, tokenizer: Any, path: str | Path, *, window: int = 512, limit: int | None = None,
               console: Any = None, encoding: str | None = None) -> dict[str, Any]:
    """Perplexity and bits per character over the documents of ``path``, read by the one reader as
    :func:`jaft.data.reader.read_texts` reads them for the tokenizer (a text file: one document per line; JSONL:
    each record's texts)."""
    import torch
    from rich.progress import Progress

    from jaft.data.reader import read_texts

    p = Path(path)
    if not p.is_file():
        raise JaftError(f"{p}: no such file; --data wants a text file (one document per line) or JSONL records")
    lines = read_texts([p], encoding=encoding)
    if limit:
        lines = lines[:limit]
    if not lines:
        raise JaftError(f"{p}: empty; nothing to measure")
    device = next(model.parameters()).device
    nll, count, chars = 0.0, 0, 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("perplexity", total=len(lines))
        for line in lines:
            ids = tokenizer(line, add_special_tokens=False)["input_ids"]
            if tokenizer.bos_token_id is not None:
                ids = [tokenizer.bos_token_id, *ids]
            chars += len(line)
            for s in range(0, max(1, len(ids) - 1), window):
                chunk = torch.tensor([ids[s:s + window + 1]], device=device)
                if chunk.shape[1] < 2:
                    continue
                with torch.no_grad():
                    out = model(chunk, labels=chunk)
                n = chunk.shape[1] - 1
                nll += out.loss.item() * n
                count += n
            progress.advance(task)
    return {"documents": len(lines), "tokens": count, "perplexity": math.exp(nll / max(count, 1)),
            "bits_per_char": nll / max(chars, 1) / math.log(2)}
