"""Tokenizer helpers: scripts, token bytes, sentence counts, reading --data files."""

import json

import pytest

from jaft.errors import JaftError
from jaft.tokenizer.analyze import count_sentences, show_piece
from jaft.tokenizer.extend import _new_token_ok
from jaft.tokenizer.scripts import has_japanese, is_japanese_char, script_of
from jaft.tokenizer.texts import read_texts
from jaft.tokenizer.vocab import byte_level_bytes, byte_level_token, is_partial


@pytest.mark.parametrize(
    ("ch", "script"),
    [
        ("漢", "kanji"), ("々", "kanji"), ("〆", "kanji"), ("𠮷", "kanji"), ("丼", "kanji"),
        ("あ", "hiragana"), ("ゞ", "hiragana"),
        ("ア", "katakana"), ("ー", "katakana"), ("ヶ", "katakana"), ("ｱ", "katakana"),
        ("A", "latin"), ("z", "latin"), ("é", "latin"), ("Ｚ", "latin"),
        ("5", "digit"), ("５", "digit"),
        ("×", "other"), ("。", "other"), ("、", "other"), (" ", "other"), ("\u3000", "other"), ("😀", "other"),
        ("한", "other"),
    ],
)
def test_script_of(ch, script):
    assert script_of(ch) == script
    assert is_japanese_char(ch) == (script in ("kanji", "hiragana", "katakana"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("hello world", False), ("Debian 12", False), ("こんにちは", True), ("apt で入れる", True), ("한국어", False)],
)
def test_has_japanese(text, expected):
    assert has_japanese(text) == expected


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("", 0),
        ("文が一つ", 1),
        ("一つ目。二つ目。", 2),
        ("本当？はい！そうです。", 3),
        ("Is it? Yes!", 2),
        ("行1\n行2\n\n", 2),
        ("。。。", 0),
    ],
)
def test_count_sentences(text, n):
    assert count_sentences(text) == n


@pytest.mark.parametrize(
    ("raw", "partial"),
    [(b"a", False), ("あ".encode(), False), ("あ".encode()[:2], True), ("あ".encode()[2:], True), (b"\xff", True),
     (" 日本".encode(), False)],
)
def test_is_partial(raw, partial):
    assert is_partial(raw) == partial


@pytest.mark.parametrize(("raw", "shown"), [("駅".encode(), "駅"), ("駅".encode()[:2], "<e9a7>"), (b"ab", "ab")])
def test_show_piece(raw, shown):
    assert show_piece(raw) == shown


@pytest.mark.parametrize("raw", [b"hello", " システム".encode(), bytes(range(256))])
def test_byte_level_round_trip(raw):
    assert byte_level_bytes(byte_level_token(raw)) == raw


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("日本語", True), (" システム", True), ("、この", True), ("「設定", True), ("を指定", True),
        ("日本語の".encode()[:-1], False),  # ends inside a character
        ("ab", False), (" ", False), ("、", False), ("Linuxシステム", False), ("日本 語", False), ("1つ", False),
        ("한국", False),
    ],
)
def test_which_new_tokens_may_be_added(text, ok):
    raw = text if isinstance(text, bytes) else text.encode()
    assert (_new_token_ok(raw) is not None) == ok


def test_read_texts_txt_and_jsonl(tmp_path):
    (tmp_path / "a.txt").write_text("一行目\n\n  \n二行目\n", encoding="utf-8")
    rows = [
        {"text": "本文"},
        {"kind": "chat", "messages": [{"role": "user", "content": "質問"}, {"role": "assistant", "content": "答え"}]},
        {"prompt": "問い", "completion": "解答"},
    ]
    (tmp_path / "b.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    assert read_texts([tmp_path / "a.txt", tmp_path / "b.jsonl"]) == ["一行目", "二行目", "本文", "質問", "答え", "問い", "解答"]


def test_read_texts_decides_the_encoding_like_prepare(tmp_path):
    (tmp_path / "sjis.txt").write_bytes("日本語①㈱髙\n二行目\n".encode("cp932"))
    assert read_texts([tmp_path / "sjis.txt"]) == ["日本語①㈱髙", "二行目"]
    (tmp_path / "u16.txt").write_bytes("一行目\u2028続き\n二行目\n".encode("utf-16"))
    assert read_texts([tmp_path / "u16.txt"]) == ["一行目\u2028続き", "二行目"]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("missing.txt", None, "no such file"),
        ("bad.jsonl", '{"text": "ok"}\n{broken\n', "bad.jsonl:2: invalid JSON"),
        ("nofield.jsonl", '{"text": "ok"}\n{"title": "x"}\n', "nofield.jsonl:2: no text"),
        ("mixed.txt", "日本語\n".encode() + "日本語".encode("cp932"), "mixed.txt:2: not valid UTF-8.*--encoding cp932"),
        ("empty.txt", "\n\n", "no text found"),
    ],
)
def test_read_texts_bad_input(tmp_path, name, content, needle):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(JaftError, match=needle):
        read_texts([path])
