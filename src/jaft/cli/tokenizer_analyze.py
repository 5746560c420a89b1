from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "tokenizer analyze"
ORDER = 30


def main(
    model: Annotated[str, typer.Option("--model", help="model directory or Hub id whose tokenizer to measure")],
    data: Annotated[list[str], typer.Option("--data", help="text (.txt, one text per line) or .jsonl file; repeatable")],
    compare: Annotated[
        str | None, typer.Option("--compare", help="a second model directory or Hub id, shown side by side", show_default=False)
    ] = None,
    top: Annotated[int, typer.Option("--top", help="how many costly words to list (JSON always has 50)")] = 20,
    encoding: Annotated[str | None, typer.Option("--encoding", help="input encoding (default: detected like `jaft data prepare`: BOM, UTF-8, else cp932/euc_jp); e.g. cp932", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print machine-readable JSON instead of tables")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="allow tokenizer code shipped with the model (only if you trust it)")
    ] = False,
) -> None:
    """Measure how efficiently a tokenizer encodes Japanese text.

    Characters and bytes per token, tokens per sentence, the share of tokens that are partial UTF-8
    pieces, the same per script (kanji, hiragana, katakana, Latin, digits), and the Japanese words
    (fugashi) that cost the most extra tokens. With --compare, two tokenizers side by side.
    """
    import json

    from jaft.tokenizer.analyze import analyze_tokenizer, render
    from jaft.tokenizer.hf import load_fast_tokenizer
    from jaft.tokenizer.progress import progress_bar
    from jaft.tokenizer.texts import read_texts

    texts = read_texts(data, encoding=encoding)
    toks = [(model, load_fast_tokenizer(model, trust_remote_code=trust_remote_code))]
    if compare:
        toks.append((compare, load_fast_tokenizer(compare, trust_remote_code=trust_remote_code)))
    with progress_bar() as progress:
        results = [analyze_tokenizer(tok, texts, name=name, progress=progress) for name, tok in toks]
    if json_out:
        print(json.dumps(results[0] if len(results) == 1 else {"models": results}, ensure_ascii=False, indent=2))
        return
    backend_b = toks[1][1].backend_tokenizer if compare else None
    print(render(results, top=max(0, top), backend_b=backend_b), end="")
