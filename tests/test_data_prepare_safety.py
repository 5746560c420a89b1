"""`jaft data prepare` and the user's files: inputs inside --out, files it did not write, two runs at once,
edited inputs on resume, compressed inputs cut short, byte-identical reruns, what every input reports.

Found by a break-it trial as a new user (each case stands for its class; neighbours included)."""

import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from jaft.config.data import JapaneseDataConfig
from jaft.data.parallel import prepare_parallel
from tests.conftest import assert_clean_error, run_jaft

QUIET = Console(file=io.StringIO())
RECORD = '{"text": "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。"}\n'
PARAGRAPHS = [
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "何でも薄暗いじめじめした所でニャーニャー泣いていた事だけは記憶している。",
    "今日は雨が降っているので、傘を持って出かけることにしました。",
    "明日の会議は午後三時から始まる予定になっています。よろしくお願いします。",
]


def run(inputs, out, **cfg):
    return prepare_parallel([str(i) for i in inputs], out, JapaneseDataConfig(**cfg), console=QUIET)


def numbered(n: int) -> str:
    """``n`` distinct Japanese lines (the number makes each one new text for dedup)."""
    return "".join(f"これは{i}番目の文です。今日は{i % 97}度、とても良い天気なので散歩に行きましょう。番号{i * 7919 % 10007}\n"
                   for i in range(n))


@pytest.mark.parametrize(("where", "fmt"), [
    ("train/raw.jsonl", "jsonl"),  # the Hugging Face layout data/train/*.jsonl with --out data
    ("train.jsonl", "jsonl.gz"),  # the very file the run would write
    ("rejects/00000.jsonl.gz", "parquet"),
    ("report.json", "jsonl"),
    (".jaft_work/x.jsonl", "jsonl"),
])
def test_an_input_where_the_run_writes_is_refused_and_left_alone(tmp_path, where, fmt):
    out = tmp_path / "data"
    src = out / where
    src.parent.mkdir(parents=True)
    src.write_bytes(gzip.compress(RECORD.encode()) if where.endswith(".gz") else RECORD.encode())
    before = src.read_bytes()
    r = run_jaft("data", "prepare", str(src), "--out", str(out), "--output-format", fmt)
    assert_clean_error(r, str(src), "choose another --out")
    assert src.read_bytes() == before


def test_inputs_beside_the_outputs_are_fine_and_a_rerun_of_a_glob_names_the_clash(tmp_path):
    out = tmp_path / "dd"
    out.mkdir()
    (out / "src.jsonl").write_text(RECORD, encoding="utf-8")
    first = run_jaft("data", "prepare", str(out / "*.jsonl"), "--out", str(out))
    assert first.returncode == 0, first.stderr
    again = run_jaft("data", "prepare", str(out / "*.jsonl"), "--out", str(out))  # now matches train.jsonl …
    assert_clean_error(again, "where this run writes its output")
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["input_records"] == 1


def test_files_the_run_did_not_write_survive_a_change_of_layout(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("\n".join(PARAGRAPHS) + "\n", encoding="utf-8")
    out = tmp_path / "o"
    (out / "train").mkdir(parents=True)
    (out / "train" / "notes.txt").write_text("mine", encoding="utf-8")
    (out / "train" / "00007.jsonl.gz").write_bytes(b"")  # an earlier run's shard: jaft's to replace
    run([src], out, output_format="jsonl.gz", workers=1)
    assert sorted(p.name for p in (out / "train").iterdir()) == ["00000.jsonl.gz", "notes.txt"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert [f["path"] for f in manifest["files"]["train"]] == ["train/00000.jsonl.gz"]
    run([src], out, workers=1)  # joined layout: the shard files go, the folder stays for notes.txt
    assert sorted(p.name for p in (out / "train").iterdir()) == ["notes.txt"]
    assert not (out / "validation").exists() and not (out / "rejects").exists()  # empty: removed


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_manifest_counts_are_the_files_after_the_last_record_moves_to_validation(tmp_path, fmt):
    src = tmp_path / "a.txt"
    src.write_text("\n".join(PARAGRAPHS) + "\n", encoding="utf-8")
    report = run([src], tmp_path / "o", output_format=fmt, workers=1)
    assert (report["train"], report["validation"]) == (3, 1)
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["records"] == {"train": 3, "validation": 1, "rejects": 0}
    assert [sum(f["records"] for f in manifest["files"][s]) for s in ("train", "validation")] == [3, 1]


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_compressed_outputs_are_byte_identical_between_identical_runs(tmp_path, fmt):
    src = tmp_path / "x.jsonl"
    src.write_text(RECORD + "not json\n" + json.dumps({"text": PARAGRAPHS[2]}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    for o in ("g1", "g2"):
        run([src], tmp_path / o, output_format=fmt, workers=1)
    files = sorted(p.relative_to(tmp_path / "g1") for p in (tmp_path / "g1").rglob("*") if p.is_file())
    assert Path("rejects/00000.jsonl.gz") in files
    for rel in files:
        if rel.name not in ("report.json", "jaft_run.yaml"):  # these hold the run's time
            assert (tmp_path / "g1" / rel).read_bytes() == (tmp_path / "g2" / rel).read_bytes(), rel


def test_an_input_edited_after_a_kill_starts_the_run_over(tmp_path):
    """Resuming keys on each input's size and modification time too: an edit that keeps the size
    (〜 → ～ is 3 bytes either way) must not let finished shards of the old text through."""
    src = tmp_path / "e.txt"
    src.write_text(numbered(600).replace("。番号", "〜。番号"), encoding="utf-8")
    out = tmp_path / "o"
    args = [sys.executable, "-m", "jaft", "data", "prepare", str(src), "--out", str(out), "--workers", "1",
            "--set", "data.shard_bytes=8000"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / ".jaft_work" / "logs" / "admit" / "completions").glob("*")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / ".jaft_work").is_dir()
    size = src.stat().st_size
    src.write_text(src.read_text(encoding="utf-8").replace("〜", "～"), encoding="utf-8")
    assert src.stat().st_size == size
    r = run_jaft("data", "prepare", str(src), "--out", str(out), "--workers", "1", "--set", "data.shard_bytes=8000")
    assert r.returncode == 0 and "resuming" not in r.stderr, r.stderr
    kept = (out / "train.jsonl").read_text(encoding="utf-8") + (out / "validation.jsonl").read_text(encoding="utf-8")
    assert "〜" not in kept and "～" in kept


def test_an_existing_file_with_glob_characters_in_its_name_is_that_file(tmp_path):
    (tmp_path / "corpus[1].txt").write_text(PARAGRAPHS[0] + "\n", encoding="utf-8")
    (tmp_path / "corpus1.txt").write_text(PARAGRAPHS[1] + "\n", encoding="utf-8")  # what [1] would match
    report = run([tmp_path / "corpus[1].txt"], tmp_path / "o", workers=1)
    assert report["sources"] == [str(tmp_path / "corpus[1].txt")]
    # … and a pattern that exists as no file is still a pattern
    assert run([tmp_path / "corpus[0-9].txt"], tmp_path / "p", workers=1)["sources"] == [str(tmp_path / "corpus1.txt")]


def _zst(data: bytes) -> bytes:
    zstandard = pytest.importorskip("zstandard")
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_compressed_input_cut_short_is_a_reject_at_its_line(tmp_path, cut):
    data = numbered(3000).encode()
    for suffix, packed in ((".zst", _zst(data)), (".gz", gzip.compress(data, mtime=0))):
        src = tmp_path / f"t{suffix}"
        src.write_bytes(packed[: int(len(packed) * cut)])
        report = run([src], tmp_path / f"o{suffix}", workers=1)
        rejects = [json.loads(line) for line in (tmp_path / f"o{suffix}" / "rejects.jsonl").open(encoding="utf-8")]
        cutoff = [r for r in rejects if r["reason"] == "unreadable"]
        assert len(cutoff) == 1 and "re-download" in cutoff[0]["message"], (suffix, rejects[-1])
        assert 0 < report["input_records"] < 3000


def test_several_zstd_frames_are_read_to_the_end(tmp_path):
    src = tmp_path / "two.txt.zst"
    lines = numbered(310).splitlines(True)
    src.write_bytes(_zst("".join(lines[:300]).encode()) + _zst("".join(lines[300:]).encode()))  # zstd -c a b
    report = run([src], tmp_path / "o", workers=1)
    assert report["input_records"] == 310 and report["rejected"] == 0


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("x.jsonl.gz", RECORD.encode(), "not a gzip file"),
    ("x.txt.zst", b"not zstd at all\n", "not a zstd file"),
])
def test_a_compressed_name_on_plain_bytes_says_what_it_is_not(tmp_path, name, content, needle):
    src = tmp_path / name
    src.write_bytes(content)
    report = run([src], tmp_path / "o", workers=1)
    (reject,) = [json.loads(line) for line in (tmp_path / "o" / "rejects.jsonl").open(encoding="utf-8")]
    assert reject["reason"] == "unreadable" and needle in reject["message"] and "None" not in reject["message"]
    assert report["input_records"] == 1


def test_an_xlsx_is_one_reject_that_says_to_save_it_as_csv(tmp_path):
    book = tmp_path / "book.xlsx"
    book.write_bytes(b"PK\x03\x04" + bytes(2000) + b"\n" + bytes(2000))
    report = run([book], tmp_path / "o", workers=2, shard_bytes=1000)
    (reject,) = [json.loads(line) for line in (tmp_path / "o" / "rejects.jsonl").open(encoding="utf-8")]
    assert reject["reason"] == "not_text" and "save it as CSV" in reject["message"]
    assert report["input_records"] == 1
    assert_clean_error(run_jaft("data", "prepare", str(book), "--out", str(tmp_path / "s"), "--strict"), "save it as CSV")


def test_every_input_is_in_per_source_even_without_a_record(tmp_path):
    blank, a = tmp_path / "blank.txt", tmp_path / "a.jsonl"
    blank.write_text("\n\n  \n", encoding="utf-8")
    a.write_text(RECORD, encoding="utf-8")
    per_source = run([blank, a], tmp_path / "o", workers=1)["per_source"]
    assert list(per_source) == [str(blank), str(a)]
    assert per_source[str(blank)] == dict.fromkeys(("input_records", "kept", "rejected", "duplicates_removed",
                                                    "filtered"), 0)


def test_csv_a_quote_never_closed_is_named_where_it_opens_and_long_fields_are_read(tmp_path):
    line = "私はその人を常に先生と呼んでいた。だからここでもただ先生と書くだけで本名は打ち明けない。{}\n"
    src = tmp_path / "s.csv"
    src.write_text("text\n" + "".join(('"' if i == 10 else "") + line.format(i) for i in range(200)), encoding="utf-8")
    run([src], tmp_path / "o", workers=1, max_line_bytes=2000)
    (bad,) = [r for r in map(json.loads, (tmp_path / "o" / "rejects.jsonl").open(encoding="utf-8"))
              if r["reason"] == "invalid_csv"]
    assert bad["source"] == f"{src}:12" and "never closed" in bad["message"], bad
    long = tmp_path / "b.csv"
    long.write_text("text\n" + "吾輩は猫である。名前はまだ無い。" * 10000 + "\n", encoding="utf-8")  # 160,000 characters
    report = run([long], tmp_path / "b", workers=1)
    assert report["reasons"].get("invalid_csv", 0) == 0 and report["input_records"] == 1


def test_a_missing_path_in_a_local_folder_is_not_taken_for_a_hub_dataset(tmp_path, monkeypatch):
    from jaft.data.reader import input_problem, looks_like_hub_name

    (tmp_path / "mydir").mkdir()
    r = run_jaft("data", "prepare", "mydir/corpus", "--out", "o", cwd=tmp_path)
    assert_clean_error(r, "mydir/corpus", "file not found")
    monkeypatch.chdir(tmp_path)
    for name, hub in [("mydir/corpus", False), ("owner/set", True), ("gsm8k", True), ("competition_math", True),
                      ("qwedsacf/competition_math", True), ("corpus", False), ("mydir/corpus.jsonl", False)]:
        assert (input_problem(name) is None) == hub, name
        assert looks_like_hub_name(name) == hub, name  # the one rule every reader of inputs shares
    # jaft train --data reads inputs by the same rule: a mistyped local path is not sent to the Hub
    from jaft.config import load_run_config
    from jaft.errors import JaftError
    from jaft.train.data import prepare_inputs

    with pytest.raises(JaftError, match="mydir/corpus: no such file"):
        prepare_inputs(load_run_config(), ["mydir/corpus"], tmp_path / "w")


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    src = tmp_path / "big.txt"
    src.write_text(numbered(3000), encoding="utf-8")
    out = tmp_path / "cc"
    first = subprocess.Popen([sys.executable, "-m", "jaft", "data", "prepare", str(src), "--out", str(out), "-j1",
                              "--augment", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (out / ".jaft_work").is_dir():
            time.sleep(0.05)
        second = run_jaft("data", "prepare", str(src), "--out", str(out), "-j1")
        assert_clean_error(second, "another jaft data prepare is writing into this folder")
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0
    assert json.loads((out / "report.json").read_text(encoding="utf-8"))["augment"] == 1  # the first run's


def test_ctrl_c_says_how_to_resume_and_the_stage_lines_reach_a_log(tmp_path):
    src = tmp_path / "big.txt"
    src.write_text(numbered(3000), encoding="utf-8")
    out = tmp_path / "ci"
    args = [sys.executable, "-m", "jaft", "data", "prepare", str(src), "--out", str(out), "-j1", "--augment", "2",
            "--set", "data.shard_bytes=20000"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / ".jaft_work" / "logs" / "admit" / "completions").glob("*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert "run the same command again to resume" in err and str(out / ".jaft_work") in err
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)  # stderr is a pipe, not a terminal
    assert again.returncode == 0 and "resuming" in again.stderr
    assert "prepare 1/6 admit" in again.stderr and "prepare 6/6 finish" in again.stderr
