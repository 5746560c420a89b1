from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "tokenizer extend"
ORDER = 31


def main(
    model: Annotated[str, typer.Option("--model", help="model directory or Hub id to extend (byte-level BPE: Qwen, Llama 3, R1-Distill)")],
    data: Annotated[list[str], typer.Option("--data", help="Japanese text (.txt, one text per line) or .jsonl file; repeatable")],
    out: Annotated[str, typer.Option("--out", help="directory for the extended model (a standard Hugging Face model dir)")],
    add: Annotated[int, typer.Option("--add", help="how many Japanese tokens to add (if the data supports fewer, the error says how many)")] = 16000,
    min_frequency: Annotated[int, typer.Option("--min-frequency", help="a new token must be learned from a pair seen this often")] = 3,
    within_words: Annotated[
        bool,
        typer.Option("--within-words", help="new tokens never span two fugashi words (default: BPE may join frequent "
                     "word sequences such as を指定, which compresses more)"),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="replace --out if it already exists")] = False,
    encoding: Annotated[str | None, typer.Option("--encoding", help="input encoding (default: detected like `jaft data prepare`: BOM, UTF-8, else cp932/euc_jp); e.g. cp932", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the extension record as JSON")] = False,
    trust_remote_code: Annotated[
        bool, typer.Option("--trust-remote-code", help="allow model code shipped with the model (only if you trust it)")
    ] = False,
) -> None:
    """Add Japanese tokens to a model's vocabulary and grow its embeddings to match.

    Learns BPE merges on --data that continue the model's own merges, so every old token keeps its
    id and text without kanji or kana tokenizes exactly as before. New embedding (and LM-head) rows
    start as the mean of the rows of the old tokens that spelled them. Writes model, tokenizer,
    chat template and jaft_tokenizer_extension.json (new ids and their pieces, for training).
    """
    import json

    from jaft.tokenizer.extend import EXTENSION_FILE, extend_model
    from jaft.tokenizer.progress import progress_bar

    with progress_bar() as progress:
        record = extend_model(model, data, add, out, min_frequency=min_frequency, within_words=within_words,
                              force=force, trust_remote_code=trust_remote_code, progress=progress,
                              encoding=encoding)
    if json_out:
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return
    rep = record["report"]
    top = sorted(record["tokens"], key=lambda t: -t["count"])[:12]
    sample = "、".join(f"「{t['text']}」" for t in top)
    print(f"added {len(record['new_token_ids']):,} tokens (ids {record['original_vocab_size']:,}–"
          f"{record['new_vocab_size'] - 1:,}); embedding rows {record['original_embedding_rows']:,} → "
          f"{record['embedding_rows']:,}{' (tied LM head)' if record['tied_embeddings'] else ''}")
    print(f"on --data: {rep['chars_per_token_before']:.2f} → {rep['chars_per_token_after']:.2f} characters/token "
          f"({rep['ratio']:.2f}× fewer tokens; in-sample, see `jaft tokenizer analyze` for held-out text)")
    print(f"most used new tokens: {sample}")
    print(f"wrote {out} ({EXTENSION_FILE} lists the new ids and the tokens that spelled them)")
