"""Every command's --help shows its text whole: tag-like words (<think>, <model>) and [brackets] survive
the Markdown rendering (jaft issue 11: `jaft init-tiny --help` lost `<think>`)."""

from __future__ import annotations

import re

import pytest

from jaft.cli import markdown_safe


def _commands():
    import typer

    from jaft.cli import build_app

    app = build_app()

    def walk(cmd, path):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return app, list(walk(typer.main.get_command(app), []))


def _words(text: str) -> list[str]:
    text = text.replace("&lt;", "<").replace("&gt;", ">")
    return [w.strip("`'\".,;:()") for w in re.findall(r"</?[A-Za-z][^<>\s]*>|\S*\[[^\]\s]+\]\S*", text)]


def test_every_help_keeps_tags_and_brackets():
    from typer.testing import CliRunner

    app, commands = _commands()
    assert len(commands) > 20
    missing = []
    checked = 0
    for path, cmd in commands:
        out = CliRunner().invoke(app, [*path, "--help"], terminal_width=250).output
        flat = re.sub(r"[\s│]+", " ", out)
        for text in [cmd.help or "", *(getattr(p, "help", None) or "" for p in cmd.params)]:
            for w in _words(text):
                checked += 1
                if w not in flat:
                    missing.append(f"jaft {' '.join(path)}: {w}")
    assert checked > 10 and not missing, missing


@pytest.mark.parametrize("text,expected", [
    ("opening <think>.", "opening &lt;think&gt;."),
    ("runs/<model>-sft-<time>", "runs/&lt;model&gt;-sft-&lt;time&gt;"),
    ("code `<think>` stays", "code `<think>` stays"),  # a code span shows its text literally
    ("<｜User｜> is not HTML", "<｜User｜> is not HTML"),
    ("pip install 'jaft[gguf]'", "pip install 'jaft[gguf]'"),
    ("a &lt;b&gt; c", "a &lt;b&gt; c"),  # idempotent
])
def test_markdown_safe(text, expected):
    assert markdown_safe(text) == expected


def test_init_tiny_help_shows_think():
    from typer.testing import CliRunner

    app, _ = _commands()
    out = CliRunner().invoke(app, ["init-tiny", "--help"], terminal_width=200).output
    assert "<think>" in out
