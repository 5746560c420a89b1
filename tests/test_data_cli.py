"""The data commands as a user runs them: exit codes, one-line errors, stdout contracts."""

import json

import pytest

from tests.conftest import assert_clean_error, run_jaft


def test_style_converts_stdin_line_by_line():
    text = "明日は雨だろう。傘を持って行く。\n\n彼は「行かない」と言った。\r\n最後の行だ"
    r = run_jaft("style", "--to", "polite", input=text)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "明日は雨でしょう。傘を持って行きます。\n\n彼は「行かない」と言いました。\n最後の行です"
    back = run_jaft("style", "--to", "plain", input=r.stdout)
    assert back.stdout.splitlines() == [line.rstrip("\r") for line in text.splitlines()]


def test_style_reads_a_file(tmp_path):
    p = tmp_path / "in.txt"
    p.write_text("毎日歩きます。\n", encoding="utf-8")
    r = run_jaft("style", "--to", "plain", "--input", str(p))
    assert (r.returncode, r.stdout) == (0, "毎日歩く。\n")


@pytest.mark.parametrize(
    ("args", "stdin", "needles"),
    [
        (["style", "--to", "formal"], "", ["--to formal", "polite or plain"]),
        (["style", "--to", "plain", "--input", "/nonexistent/x.txt"], "", ["/nonexistent/x.txt", "not found"]),
    ],
)
def test_style_bad_input(args, stdin, needles):
    assert_clean_error(run_jaft(*args, input=stdin), *needles)


def test_style_rejects_non_utf8_with_line_number(tmp_path):
    p = tmp_path / "sjis.txt"
    p.write_bytes("一行目。\n".encode() + "二行目。\n".encode("shift_jis"))
    assert_clean_error(run_jaft("style", "--to", "plain", "--input", str(p)), f"{p}:2", "UTF-8")


def test_data_sample_then_prepare_then_errors(tmp_path):
    r = run_jaft("data", "sample", "--out", str(tmp_path / "s"))
    assert r.returncode == 0, r.stderr
    assert "math_train" in r.stdout and (tmp_path / "s" / "math_eval.jsonl").is_file()

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "これは正しい一行目の文章です。"}\n{"text": oops}\n', encoding="utf-8")
    r = run_jaft("data", "prepare", str(tmp_path / "s" / "qa_ja.jsonl"), str(bad), "--out", str(tmp_path / "o"),
                 "--augment", "1", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert (report["input_records"], report["rejected"], report["reasons"]) == (42, 1, {"invalid_json": 1})
    assert report["augmented"] > 0

    strict = run_jaft("data", "prepare", str(bad), "--out", str(tmp_path / "o2"), "--strict")
    assert_clean_error(strict, f"{bad}:2", "invalid JSON")
    assert not (tmp_path / "o2" / "train.jsonl").exists()

    assert_clean_error(run_jaft("data", "prepare", str(bad)), "--out is required")
    assert_clean_error(run_jaft("data", "prepare", str(bad), "--out", str(tmp_path / "o3"), "--mode", "staging"),
                       "data.mode")
    missing = run_jaft("data", "prepare", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o4"), "--strict")
    assert_clean_error(missing, "nope.jsonl", "not found")
