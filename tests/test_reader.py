"""The one reader (jaft.data.reader): encodings decided and reported, real line ends, invalid Unicode
rejected, CSV through the csv module, and every command reading a file the same way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import to_record
from jaft.data.prepare import prepare
from jaft.data.reader import Item, Reject, decide_encoding, decide_encoding_of_bytes, iter_items, read_texts
from jaft.errors import JaftError
from jaft.eval.math import load_problems
from jaft.japanese.normalize import normalize_text
from tests.conftest import assert_clean_error, run_jaft

DATA = Path(__file__).parent / "data"
FIELD = DATA / "field"


def _table(name: str) -> list[list[str]]:
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            rows.append(line.split("\t"))
    return rows


def _unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\r", "\r").replace("\\u2028", "\u2028").replace("\\u2029", "\u2029")


ENCODINGS = _table("encodings.tsv")


@pytest.mark.parametrize(("codec", "suffix", "content", "encoding", "how", "texts"), ENCODINGS,
                         ids=[f"{r[0]}{r[1]}" for r in ENCODINGS])
def test_encodings_are_decided_and_read_the_same_by_every_reader(tmp_path, codec, suffix, content, encoding, how,
                                                                 texts):
    path = tmp_path / f"in{suffix}"
    path.write_bytes(_unescape(content).encode(codec))
    choice = decide_encoding(path)
    assert (choice.encoding, choice.how) == (encoding, how)
    expected = [_unescape(t) for t in texts.split("|")]
    items = list(iter_items(path))
    assert all(isinstance(i, Item) for i in items), items
    assert [to_record(i.value).text for i in items] == expected
    assert read_texts([path]) == expected  # tokenizer analyze/extend and perplexity
    report = prepare([path], tmp_path / "out", JapaneseDataConfig(min_chars=0, val_ratio=0))
    assert report["encodings"][str(path)]["encoding"] == encoding
    assert report["encodings"][str(path)]["how"] == how
    out = (tmp_path / "out" / "train.jsonl").read_text(encoding="utf-8")
    kept = [json.loads(x)["text"] for x in out.split("\n") if x]  # not splitlines(): U+2028 is no line end
    assert sorted(kept) == sorted(normalize_text(t) for t in expected)


def test_requested_encoding_wins_and_unknown_codec_is_named(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("日本語です。".encode("euc_jp"))
    assert decide_encoding(path, "euc-jp").how == "requested"
    assert read_texts([path], encoding="euc_jp") == ["日本語です。"]
    with pytest.raises(JaftError, match="--encoding nope: unknown codec"):
        read_texts([path], encoding="nope")
    with pytest.raises(ValueError, match="unknown encoding 'nope'"):
        JapaneseDataConfig(encoding="nope")


@pytest.mark.parametrize("codec", ["utf-8", "cp932", "euc_jp"])
def test_a_sample_cut_inside_a_character_decides_like_the_whole_file(codec):
    """A first line longer than the sample (no newline in it): the character the sample's end cuts in
    two does not count against the encoding."""
    text = "吾輩は猫である。名前はまだ無い。" * 50
    data = text.encode(codec)
    for cut in range(len(data) - 6, len(data)):
        choice = decide_encoding_of_bytes(data[:cut])
        assert choice.encoding == decide_encoding_of_bytes(data, complete=True).encoding, (codec, cut)
    assert decide_encoding_of_bytes("吾輩".encode()[:-1], complete=True).encoding != "utf-8"  # whole: no excuse


def test_utf16_without_a_bom_and_an_xlsx_get_the_right_advice(tmp_path):
    text = "吾輩は猫である。名前はまだ無い。\n今日は雨が降っています。\n"
    for codec in ("utf_16_le", "utf_16_be"):
        choice = decide_encoding_of_bytes(text.encode(codec), complete=True)
        assert not choice.decided and choice.candidates == (codec,), codec
        hint = choice.hint("a.txt")
        assert f"--encoding {codec}" in hint and "UTF-16" in hint
        path = tmp_path / f"{codec}.txt"
        path.write_bytes(text.encode(codec))
        assert read_texts([path], encoding=codec) == text.splitlines()  # the advice works
    assert decide_encoding_of_bytes("普通の文。\n".encode(), complete=True).encoding == "utf-8"  # no NUL: as before
    xlsx = tmp_path / "book.xlsx"
    xlsx.write_bytes(b"PK\x03\x04" + bytes(200))
    (reject,) = iter_items(xlsx)
    assert isinstance(reject, Reject) and reject.reason == "not_text" and "save it as CSV" in reject.message


def test_undecidable_encoding_names_the_candidates_and_the_flag(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"\x80\xff\xfe\x85\n")  # neither UTF-8, cp932 nor EUC-JP
    choice = decide_encoding(path)
    assert not choice.decided
    # bytes cp932 would map to C1 controls / private use (0x80, 0xFD-0xFF) are not taken for text
    assert not decide_encoding_of_bytes(b"\x80\xff\xfe\n", complete=True).decided
    assert not decide_encoding_of_bytes("ｶﾀｶﾅ\n".encode("cp932"), complete=True).decided  # EUC-JP kanji alike
    hint = choice.hint(str(path))
    assert "cp932" in hint and "--encoding" in hint and "\n" not in hint
    # strict (production): exit 2 with that one line; otherwise every line is rejected and counted
    r = run_jaft("data", "prepare", str(path), "--out", str(tmp_path / "o"), "--strict")
    assert_clean_error(r, "cannot decide the encoding", "--encoding cp932")
    report = prepare([path], tmp_path / "o2", JapaneseDataConfig())
    assert report["rejected"] == 1 and report["reasons"] == {"undecodable": 1}
    assert report["encodings"][str(path)]["how"] == "undecided"
    with pytest.raises(JaftError, match="cannot decide the encoding"):
        read_texts([path])


def test_line_separators_inside_json_strings_do_not_split_records(tmp_path):
    """A file jaft itself writes (json.dumps(ensure_ascii=False) keeps U+2028/U+2029 raw)."""
    rows = [{"problem": "一行目\u2028二行目\u2029三行目。答えは？", "answer": "3"}, {"problem": "次の問題", "answer": "4"}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert [p["answer"] for p in load_problems(path)] == ["3", "4"]
    assert len(read_texts([path])) == 2


def test_lone_surrogates_are_rejected_with_line_and_reason(tmp_path):
    src = DATA / "invalid_unicode.jsonl"
    expect = [json.loads(line)["expect"] for line in src.read_text(encoding="utf-8").splitlines()]
    items = list(iter_items(src))
    got = ["keep" if isinstance(i, Item) else i.reason for i in items]
    assert got == expect
    for n, i in enumerate(items, 1):
        assert i.line == n
        if isinstance(i, Reject):
            assert "lone UTF-16 surrogate" in i.message
    # prepare goes on, rejects.jsonl is written (no UnicodeEncodeError), the counts balance
    for path in (src, FIELD / "lone_surrogate.jsonl"):
        out = tmp_path / path.stem
        report = prepare([path], out, JapaneseDataConfig(min_chars=0))
        assert report["reasons"]["invalid_unicode"] == (5 if path == src else 1)
        rejects = [json.loads(x) for x in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
        assert all(r["source"].startswith(f"{path}:") for r in rejects)
    r = run_jaft("data", "prepare", str(FIELD / "lone_surrogate.jsonl"), "--out", str(tmp_path / "cli"), "--json")
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert json.loads(r.stdout)["reasons"] == {"invalid_unicode": 1}


def test_style_never_crashes_on_a_lone_surrogate():
    from jaft.japanese.style import convert_line

    assert convert_line("今日は雨です\ud83d。", "plain") == "今日は雨だ\ud83d。"


def test_field_eval_files_bom_and_cp932_read_like_prepare(tmp_path):
    bom = load_problems(FIELD / "math_eval_utf8_bom.jsonl")
    cp = load_problems(FIELD / "math_eval_cp932.jsonl")
    assert [p["answer"] for p in bom] == ["1", "10"] and [p["answer"] for p in cp] == ["1", "10"]
    assert cp[0]["problem"].startswith("りんごが3個")
    assert decide_encoding(FIELD / "math_eval_cp932.jsonl").encoding == "cp932"


def test_field_excel_cp932_csv_is_read(tmp_path):
    items = list(iter_items(FIELD / "excel_cp932.csv"))
    assert [i.line for i in items] == [2, 3] and all(isinstance(i, Item) for i in items)
    recs = [to_record(i.value) for i in items]
    assert [r.answer for r in recs] == ["1", "3"] and recs[0].prompt.startswith("りんごが3個")
    assert [p["answer"] for p in load_problems(FIELD / "excel_cp932.csv")] == ["1", "3"]
    r = run_jaft("data", "prepare", str(FIELD / "excel_cp932.csv"), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    assert "encoding of" in r.stdout and "cp932" in r.stdout
    # Excel's CSV with a line break inside a quoted cell: the record keeps the line it starts on
    multi = tmp_path / "multi.csv"
    multi.write_bytes('problem,answer\r\n"一行目\r\n二行目",5\r\n次,6\r\n'.encode("cp932"))
    items = list(iter_items(multi))
    assert [(i.line, i.value["answer"]) for i in items] == [(2, "5"), (4, "6")]
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2,3\n", encoding="utf-8")
    [rej] = list(iter_items(bad))
    assert isinstance(rej, Reject) and rej.reason == "invalid_csv" and rej.line == 2


def test_every_command_reads_the_field_file_the_same(tmp_path):
    """eval --data, tokenizer texts and data prepare on the same CP932 and BOM files."""
    for name in ("math_eval_cp932.jsonl", "math_eval_utf8_bom.jsonl"):
        path = tmp_path / name
        shutil.copy(FIELD / name, path)
        problems = [p["problem"] for p in load_problems(path)]
        report = prepare([path], tmp_path / f"o-{name}", JapaneseDataConfig(min_chars=0, val_ratio=0, format="text"))
        assert report["input_records"] == 2
        assert [json.loads(line)["problem"] for line in _decoded(path)] == problems


def _decoded(path: Path) -> list[str]:
    choice = decide_encoding(path)
    return [x for x in path.read_bytes().decode(choice.encoding).removeprefix("\ufeff").splitlines() if x.strip()]


def test_eval_cli_reads_a_cp932_file_without_a_traceback(tmp_path):
    r = run_jaft("eval", "--model", str(tmp_path / "none"), "--data", str(FIELD / "math_eval_cp932.jsonl"))
    assert "Traceback" not in r.stderr and "UnicodeDecodeError" not in r.stderr


def test_metrics_written_by_jaft_keep_line_separators(tmp_path):
    from jaft.rundir import RunDir

    run = RunDir(tmp_path)
    run.append_metrics({"step": 1, "samples": [{"completion": "一行目\u2028二行目"}]})
    run.append_metrics({"step": 2})
    assert [r["step"] for r in run.read_metrics()] == [1, 2]
    assert run.read_metrics()[0]["samples"][0]["completion"] == "一行目\u2028二行目"
