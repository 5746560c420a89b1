"""Input formats → Record, and bad input → Reject with path:line and a reason code."""

import json
import os

import pytest

from jaft.data.formats import BadRecord, Item, Reject, iter_items, to_record


@pytest.mark.parametrize(
    ("obj", "fmt", "expected"),
    [
        ({"text": "今日は晴れです。"}, "auto", {"kind": "text", "text": "今日は晴れです。"}),
        ({"messages": [{"role": "user", "content": "こんにちは"}, {"role": "assistant", "content": "こんにちは！"}]},
         "auto", {"kind": "chat"}),
        ({"conversations": [{"from": "human", "value": "やあ"}, {"from": "gpt", "value": "どうも"}]},
         "auto", {"kind": "chat"}),
        ({"prompt": "日本の首都は？", "completion": "東京です。"}, "auto",
         {"kind": "prompt_completion", "prompt": "日本の首都は？", "completion": "東京です。", "answer": None}),
        ({"problem": "2+3は？", "solution": "<think>2+3=5</think><answer>5</answer>"}, "auto",
         {"kind": "prompt_completion", "prompt": "2+3は？", "answer": "5"}),
        ({"prompt": "2x+3=7", "solution": "<think>x=2</think><answer> 2 </answer>"}, "auto",
         {"kind": "prompt_completion", "prompt": "2x+3=7", "answer": "2"}),
        ({"problem": "6÷2は？", "solution": "<think>3</think><answer>3</answer>", "answer": 3}, "auto",
         {"answer": "3"}),
        ({"problem": "りんごは何個？", "solution": "<answer>5個</answer>", "answer": "五個"}, "auto",
         {"answer": "五個"}),  # an explicit answer field wins over the tag
        ({"instruction": "要約してください。", "input": "長い文章。", "output": "短い文章。"}, "auto",
         {"kind": "prompt_completion", "prompt": "要約してください。\n\n長い文章。", "completion": "短い文章。"}),
        ({"instruction": "挨拶して", "input": "", "output": "こんにちは"}, "auto", {"prompt": "挨拶して"}),
        ({"prompt": "質問", "completion": "答え", "system": "丁寧に答えて", "id": 7}, "auto",
         {"system": "丁寧に答えて", "id": "7"}),
        # an explicit format picks the fields even when others are present
        ({"text": "本文です。", "prompt": "p", "completion": "c"}, "text", {"kind": "text", "text": "本文です。"}),
        ("ただの一行です。", "auto", {"kind": "text", "text": "ただの一行です。"}),
    ],
)
def test_formats_become_records(obj, fmt, expected):
    record = to_record(obj, fmt, source="f.jsonl:3")
    assert record.source == "f.jsonl:3"
    for key, value in expected.items():
        assert getattr(record, key) == value, key


def test_chat_roles_are_mapped():
    r = to_record({"conversations": [{"from": "human", "value": "やあ"}, {"from": "gpt", "value": "どうも"}]})
    assert [m.role for m in r.messages] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("obj", "fmt", "reason", "needle"),
    [
        ({"text": ""}, "auto", "empty_field", "'text' is empty"),
        ({"text": "   "}, "auto", "empty_field", "'text'"),
        ({"text": 5}, "auto", "wrong_type", "must be a string"),
        ({"title": "x"}, "auto", "unknown_format", "keys: title"),
        ({}, "auto", "unknown_format", "no known fields"),
        ({"prompt": "p"}, "prompt_completion", "missing_field", "'completion'"),
        ({"messages": "hello"}, "auto", "wrong_type", "list"),
        ({"messages": []}, "auto", "empty_field", "empty list"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "auto", "wrong_type", "role"),
        ({"messages": [{"role": "user", "content": ""}]}, "auto", "empty_field", "content is empty"),
        ({"messages": [{"role": "user"}]}, "auto", "missing_field", "content"),
        ({"messages": [{"role": "system", "content": "s"}]}, "auto", "empty_field", "only system"),
        ({"problem": "1+1は？", "solution": "2です"}, "auto", "missing_field", "<answer>"),
        ({"problem": "1+1は？", "solution": "<answer>2</answer>", "answer": True}, "auto", "wrong_type", "'answer'"),
        ({"instruction": "要約", "output": 3}, "auto", "wrong_type", "'output'"),
        ({"text": "x"}, "messages", "missing_field", "'messages'"),
        ("   ", "auto", "empty_field", "empty"),
    ],
)
def test_bad_records_name_the_problem(obj, fmt, reason, needle):
    with pytest.raises(BadRecord) as e:
        to_record(obj, fmt)
    assert e.value.reason == reason
    assert needle in e.value.message


def _items(path, fmt="auto", **kw):
    return list(iter_items(path, fmt, **kw))


def test_jsonl_line_numbers_count_blank_lines(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "一行目です。"}\n\n{"text": "三行目です。"}\n', encoding="utf-8")
    items = _items(p)
    assert [(type(i).__name__, i.line) for i in items] == [("Item", 1), ("Item", 3)]
    assert items[1].source == f"{p}:3"


@pytest.mark.parametrize(
    ("content", "reason", "line"),
    [
        (b'{"text": "ok"}\n{"text": \n', "invalid_json", 2),
        (b'{"text": "ok"}\n["a", "b"]\n', "wrong_type", 2),
        (b'{"text": "ok"}\n"just a string"\n', "wrong_type", 2),
        # Shift-JIS bytes in a UTF-8 file (line 1 has UTF-8 Japanese): that line is rejected, not re-guessed
        ('{"text": "日本語です"}\n'.encode() + b'{"text": "\x82\xa0\x82\xa2"}\n', "not_utf8", 2),
    ],
)
def test_bad_jsonl_lines_are_rejected_with_their_line(tmp_path, content, reason, line):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    items = _items(p)
    assert isinstance(items[0], Item)
    bad = items[1]
    assert isinstance(bad, Reject) and bad.reason == reason and bad.line == line
    assert bad.describe().startswith(f"{p}:{line}: ")


def test_line_over_the_size_limit_is_rejected_and_the_rest_read(tmp_path):
    p = tmp_path / "big.jsonl"
    p.write_text(json.dumps({"text": "あ" * 500}) + "\n" + json.dumps({"text": "次の行です。"}) + "\n", encoding="utf-8")
    items = _items(p, max_line_bytes=200)
    assert isinstance(items[0], Reject) and items[0].reason == "line_too_long" and items[0].line == 1
    assert isinstance(items[1], Item) and items[1].line == 2


def _empty_file(d):
    p = d / "empty.jsonl"
    p.write_text("")
    return p


def _broken_link(d):
    p = d / "link.jsonl"
    p.symlink_to(d / "gone.jsonl")
    return p


def _pipe(d):
    p = d / "pipe.jsonl"
    os.mkfifo(p)  # reading it would block forever
    return p


@pytest.mark.parametrize(
    ("setup", "reason", "message"),
    [(lambda d: d / "missing.jsonl", "file_not_found", "file not found; check the path"),
     (_broken_link, "file_not_found", "file not found (a symbolic link to a missing file)"),
     (lambda d: d, "is_directory", "is a folder; pass the files inside it, e.g. '"),
     (_pipe, "not_a_file", "not a regular file (a pipe or device)"),
     (_empty_file, "empty_file", "file is empty")],
)
def test_file_level_problems(tmp_path, setup, reason, message):
    path = setup(tmp_path)
    [item] = _items(path)
    assert isinstance(item, Reject) and item.reason == reason and item.line == 0
    assert message in item.message


def test_unreadable_file_is_rejected(tmp_path, monkeypatch):
    """Permissions, by patching (the suite may run as root, who reads anything)."""
    from pathlib import Path

    p = tmp_path / "locked.jsonl"
    p.write_text('{"text": "日本語です"}\n', encoding="utf-8")
    real_open = Path.open

    def denied(self, *args, **kwargs):
        if self == p:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    [item] = _items(p)
    assert item.reason == "unreadable" and "cannot read (Permission denied)" in item.message


# A line that is not UTF-8 in a UTF-8 file: the hint names the likely cause.
NOT_UTF8_HINTS = [
    ("明日も晴れるでしょう".encode()[:-1], "cut off at the end of the line (was the file truncated?)"),  # cut file
    ("二行目です。".encode("cp932"), "probably CP932: pass --encoding cp932"),  # a line saved by Excel
    ("値は".encode() + b"\x81 " + "です".encode(), "an invalid UTF-8 byte (not CP932 either)"),  # neither
]


@pytest.mark.parametrize(("line", "hint"), NOT_UTF8_HINTS)
def test_not_utf8_line_hint_names_the_likely_cause(tmp_path, line, hint):
    p = tmp_path / "mixed.txt"
    p.write_bytes("今日は良い天気です。散歩に行きましょう。\n".encode() * 20 + line)
    bad = [i for i in _items(p) if isinstance(i, Reject)]
    assert [(b.reason, b.line) for b in bad] == [("not_utf8", 21)]
    assert hint in bad[0].message
    for _, other_hint in NOT_UTF8_HINTS:
        if other_hint != hint:
            assert other_hint not in bad[0].message


def test_text_file_with_a_json_format_is_rejected(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("一行目\n", encoding="utf-8")
    [item] = _items(p, "messages")
    assert isinstance(item, Reject) and item.reason == "wrong_format"


def test_text_file_one_record_per_non_blank_line(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeff一行目です。\r\n\n  \n三行目です。".encode())
    items = _items(p)
    assert [(i.line, i.value) for i in items] == [(1, "一行目です。"), (4, "三行目です。")]


def test_json_array_elements_carry_their_line(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('[\n  {"text": "一つ目です。"},\n  {"text": "二つ目です。"},\n  3\n]\n', encoding="utf-8")
    items = _items(p)
    assert [(type(i).__name__, i.line) for i in items] == [("Item", 2), ("Item", 3), ("Reject", 4)]


def test_json_single_object_and_broken_array(tmp_path):
    one = tmp_path / "one.json"
    one.write_text('{"text": "一件です。"}', encoding="utf-8")
    assert [i.value["text"] for i in _items(one)] == ["一件です。"]
    broken = tmp_path / "broken.json"
    broken.write_text('[{"text": "a"},\n {"text": }]', encoding="utf-8")
    items = _items(broken)
    assert isinstance(items[-1], Reject) and items[-1].reason == "invalid_json" and items[-1].line == 2


def test_unknown_suffix_is_sniffed(tmp_path):
    p = tmp_path / "data.dat"
    p.write_text('{"text": "中身はJSONLです。"}\n', encoding="utf-8")
    assert isinstance(_items(p)[0].value, dict)


def test_csv_and_parquet_through_datasets(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = tmp_path / "d.csv"
    csv.write_text("prompt,completion\n日本の首都は？,東京です。\n富士山の高さは？,3776メートルです。\n", encoding="utf-8")
    items = _items(csv)
    assert [i.line for i in items] == [2, 3]
    assert to_record(items[0].value).completion == "東京です。"
    pq_path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"text": ["一行目です。", "二行目です。"]}), pq_path)
    assert [to_record(i.value).text for i in _items(pq_path)] == ["一行目です。", "二行目です。"]
