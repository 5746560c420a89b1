from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "style"
ORDER = 34


def main(
    to: Annotated[str, typer.Option("--to", help="polite (敬体: です・ます) or plain (常体: だ・である)")],
    input_: Annotated[str | None, typer.Option("--input", "-i", help="text file to read instead of stdin", show_default=False)] = None,
    encoding: Annotated[str | None, typer.Option("--encoding", help="input encoding (default: detected like `jaft data prepare`: BOM, UTF-8, else cp932/euc_jp); output is UTF-8", show_default=False)] = None,
) -> None:
    """Convert Japanese text between polite and plain style, one output line per input line.

    Reads lines from stdin (or --input; the encoding is decided like `jaft data prepare` decides it)
    and writes each converted line to stdout (UTF-8) in the same order. Only sentence-final predicates
    change (行く ↔ 行きます, 学生だ ↔ 学生です, ない ↔ ありません); subordinate clauses and 「quoted
    speech」 stay as written, and text already in the target style comes back unchanged. NFD text
    (macOS) is analysed composed; what is not converted stays as written. A line that cannot be
    decoded stops the command with its path:line and the fix (exit 2); the lines before it are written.

    Example: echo '明日は雨だろう。傘を持って行く。' | jaft style --to polite
    """
    import sys
    from pathlib import Path

    from jaft.data.reader import Reject, decide_encoding, decide_encoding_of_bytes, iter_lines
    from jaft.errors import JaftError
    from jaft.japanese.style import convert_line

    if to not in ("polite", "plain"):
        raise JaftError(f"--to {to}: use polite or plain")
    try:
        if input_ is not None:
            path = Path(input_)
            if not path.is_file():
                raise JaftError(f"{input_}: {'is a directory' if path.is_dir() else 'file not found'}; pass a text file")
            choice = decide_encoding(path, encoding)
            stream, name = path.open("rb"), input_
        else:
            stream, name = sys.stdin.buffer, "stdin"
            # What is already buffered decides (a pipe's first chunk); an interactive terminal is not waited on.
            choice = decide_encoding_of_bytes(stream.peek(1 << 16)[: 1 << 16] if hasattr(stream, "peek") else b"",
                                              encoding)
    except LookupError:
        raise JaftError(f"--encoding {encoding}: unknown codec; use e.g. utf-8, cp932, euc_jp") from None
    if not choice.decided:
        raise JaftError(choice.hint(name))
    out = sys.stdout.buffer
    interactive = sys.stdout.isatty()
    with stream:
        for _number, line in iter_lines(stream, name, choice.encoding or "utf-8", max_line_bytes=1 << 30, choice=choice):
            if isinstance(line, Reject):
                out.flush()
                raise JaftError(line.describe())
            body = line.rstrip("\r\n")
            out.write(convert_line(body, to).encode("utf-8") + line[len(body):].encode("utf-8"))  # type: ignore[arg-type]
            if interactive:
                out.flush()
    out.flush()
