from __future__ import annotations

from typing import Annotated

import typer

COMMAND = "style"
ORDER = 34


def main(
    to: Annotated[str, typer.Option("--to", help="polite (敬体: です・ます) or plain (常体: だ・である)")],
    input_: Annotated[str | None, typer.Option("--input", "-i", help="UTF-8 text file to read instead of stdin", show_default=False)] = None,
) -> None:
    """Convert Japanese text between polite and plain style, one output line per input line.

    Reads UTF-8 lines from stdin (or --input) and writes each converted line to stdout in the same
    order. Only sentence-final predicates change (行く ↔ 行きます, 学生だ ↔ 学生です, ない ↔ ありません);
    subordinate clauses and 「quoted speech」 stay as written, and text already in the target style
    comes back unchanged.

    Example: echo '明日は雨だろう。傘を持って行く。' | jaft style --to polite
    """
    import sys
    from pathlib import Path

    from jaft.errors import JaftError
    from jaft.japanese.style import convert_line

    if to not in ("polite", "plain"):
        raise JaftError(f"--to {to}: use polite or plain")
    if input_ is not None:
        path = Path(input_)
        if not path.is_file():
            raise JaftError(f"{input_}: {'is a directory' if path.is_dir() else 'file not found'}; pass a UTF-8 text file")
        stream, name = path.open("rb"), input_
    else:
        stream, name = sys.stdin.buffer, "stdin"
    out = sys.stdout.buffer
    interactive = sys.stdout.isatty()
    with stream:
        for number, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise JaftError(f"{name}:{number}: not valid UTF-8 (byte 0x{raw[e.start]:02x}); "
                                "convert the input, e.g. iconv -f SHIFT_JIS -t UTF-8") from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            body = line.rstrip("\r\n")
            out.write(convert_line(body, to).encode("utf-8") + line[len(body):].encode("utf-8"))  # type: ignore[arg-type]
            if interactive:
                out.flush()
    out.flush()
