"""`jaft data prepare` as a library: accounting, rejects, strictness, augmentation, split, outputs."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from jaft.config.data import JapaneseDataConfig
from jaft.data.prepare import is_prepared, prepare, read_prepared
from jaft.errors import JaftError

LONG = "春になると、川沿いの桜並木が一斉に咲き始めます。週末には多くの家族連れが花見に訪れ、公園はとてもにぎやかになります。"
LINES = [
    {"text": LONG},                                                     # 1 kept
    {"text": LONG},                                                     # 2 duplicate_exact of 1
    {"text": "ＡＩの研究は①番目の課題です。"},                          # 3 kept, normalized
    "{not json",                                                        # 4 invalid_json
    {"text": ""},                                                       # 5 empty_field
    {"text": "This line is written entirely in English for testing."},  # 6 low_japanese_ratio
    {"text": "短い"},                                                   # 7 too_short
    {"prompt": "日本の首都はどこですか？", "completion": "日本の首都は東京です。"},  # 8 kept
    {"text": LONG.replace("なります。", "なりますね。")},                  # 9 duplicate_near of 1
    {"text": "同じ言葉を繰り返す。" * 10},                               # 10 repetitive
    {"text": "東京都千代田区丸ノ内一丁目九番地"},                        # 11 low_hiragana_ratio
    {"problem": "りんごが3個あります。2個もらうと何個ですか。", "solution": "<think>3+2=5</think><answer>5</answer>"},  # 12
    {"problem": "りんごが4個あります。2個もらうと何個ですか。", "solution": "<think>4+2=6</think><answer>6</answer>"},  # 13
]
QUIET = Console(file=io.StringIO())


@pytest.fixture
def inputs(tmp_path) -> list[str]:
    good = tmp_path / "mixed.jsonl"
    good.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in LINES),
                    encoding="utf-8")
    notes = tmp_path / "notes.txt"
    notes.write_text("雨の日には、傘を忘れないように玄関に置いておくことにしている。\n\n図書館で借りた本の返却期限が明日までだった。\n",
                     encoding="utf-8")
    return [str(good), str(tmp_path / "missing.jsonl"), str(notes)]


def run(inputs, out, **cfg):
    return prepare(inputs, out, JapaneseDataConfig(**cfg), console=QUIET)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_input_record_is_accounted_for(inputs, tmp_path):
    out = tmp_path / "out"
    report = run(inputs, out)
    assert report["input_records"] == 16
    assert (report["kept"], report["rejected"], report["duplicates_removed"], report["filtered"]) == (7, 3, 2, 4)
    assert report["reasons"] == {
        "duplicate_exact": 1, "duplicate_near": 1, "empty_field": 1, "file_not_found": 1, "invalid_json": 1,
        "low_hiragana_ratio": 1, "low_japanese_ratio": 1, "repetitive": 1, "too_short": 1,
    }
    assert report["train"] + report["validation"] == report["kept"] + report["augmented"] == 7

    mixed, missing, notes = inputs
    expected = {f"{mixed}:{i}" for i in range(1, 14)} | {missing, f"{notes}:1", f"{notes}:3"}
    kept = [r["source"] for r in rows(out / "train.jsonl") + rows(out / "validation.jsonl")]
    rejected = rows(out / "rejects.jsonl")
    assert len(rejected) == 9
    assert sorted(kept + [r["source"] for r in rejected]) == sorted(expected)
    by_source = {r["source"]: r for r in rejected}
    assert by_source[f"{mixed}:4"]["reason"] == "invalid_json"
    assert by_source[f"{mixed}:2"]["duplicate_of"] == f"{mixed}:1"
    assert by_source[f"{mixed}:9"]["duplicate_of"] == f"{mixed}:1"
    assert by_source[missing]["reason"] == "file_not_found"
    assert report["per_source"][missing] == {"input_records": 1, "kept": 0, "rejected": 1, "duplicates_removed": 0,
                                             "filtered": 0}
    assert all(r["message"] for r in rejected)


def test_outputs_records_normalized_and_answers(inputs, tmp_path):
    out = tmp_path / "out"
    run(inputs, out)
    train, validation = read_prepared(out)
    texts = [r.text for r in train + validation if r.kind == "text"]
    assert "AIの研究は①番目の課題です。" in texts  # full-width letters narrowed, ① kept
    answers = sorted(r.answer for r in train + validation if r.answer)
    assert answers == ["5", "6"]  # problems differing only in numbers are not near-duplicates
    assert is_prepared(out)


def test_strict_stops_at_the_first_bad_record_and_writes_nothing(inputs, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(JaftError, match=r"mixed\.jsonl:4: invalid JSON"):
        run(inputs, out, strict=True)
    assert not out.exists() or list(out.iterdir()) == []


def test_production_mode_is_strict(inputs, tmp_path):
    with pytest.raises(JaftError, match=r":4: invalid JSON"):
        run(inputs, tmp_path / "out", mode="production")


def test_failed_strict_run_keeps_an_earlier_prepared_dir(inputs, tmp_path):
    out = tmp_path / "out"
    run(inputs[:1], out)
    before = (out / "train.jsonl").read_bytes()
    with pytest.raises(JaftError):
        run(inputs, out, strict=True)
    assert (out / "train.jsonl").read_bytes() == before
    assert not list(out.glob(".*.tmp"))


def test_deterministic_for_a_seed(inputs, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    run(inputs, a, augment=2, seed=5)
    run(inputs, b, augment=2, seed=5)
    for name in ("train.jsonl", "validation.jsonl", "rejects.jsonl"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_augmentation_labels_variants_and_keeps_them_with_their_original(inputs, tmp_path):
    out = tmp_path / "out"
    report = run(inputs, out, augment=2, val_ratio=0.3)
    train, validation = read_prepared(out)
    variants = [r for r in train + validation if r.variant]
    assert report["augmented"] == len(variants) > 0
    assert report["train"] + report["validation"] == report["kept"] + report["augmented"]
    assert sum(report["variants"].values()) == len(variants)
    train_sources = {r.source for r in train if not r.variant}
    for v in variants:
        assert v.id.endswith("#" + v.variant)
        assert v.meta["variant_of"] == v.source
        assert (v.source in train_sources) == (v in train)  # same split as the original
    originals = {r.source: r for r in train + validation if not r.variant}
    for v in variants:
        assert v.text != originals[v.source].text or v.prompt != originals[v.source].prompt
        if originals[v.source].answer:  # the solution of a problem is never rewritten
            assert v.completion == originals[v.source].completion


def test_augment_limit(inputs, tmp_path):
    report = run(inputs, tmp_path / "out", augment=1, augment_limit=2)
    assert report["augmented_records"] == 2


def test_small_data_still_gets_a_validation_record(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("今日は朝から雨が降っている。\n明日は晴れるといいのだが。\n週末は家族で出かける予定だ。\n", encoding="utf-8")
    assert run([str(p)], tmp_path / "a")["validation"] == 1
    assert run([str(p)], tmp_path / "b", val_ratio=0.0)["validation"] == 0


def test_existing_files_in_out_dir_survive(inputs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    run(inputs, out)
    assert (out / "notes.md").read_text() == "mine"


def test_run_file_records_the_data_config(inputs, tmp_path):
    from jaft.rundir import RunDir

    out = tmp_path / "out"
    run(inputs, out, augment=1, seed=9)
    rd = RunDir(out)
    assert rd.read_run_file()["stage"] == "data"
    cfg = rd.read_config()
    assert (cfg.data.augment, cfg.data.seed, cfg.data.path) == (1, 9, str(out))
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["input_records"] == 16


@pytest.mark.parametrize("fmt", ["bogus"])
def test_unknown_format_is_an_error(inputs, tmp_path, fmt):
    with pytest.raises(JaftError, match="--format bogus"):
        prepare(inputs, tmp_path / "o", JapaneseDataConfig(), fmt=fmt, console=QUIET)


def test_out_path_that_is_a_file(inputs, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(JaftError, match="not a directory"):
        run(inputs, f)


def test_read_prepared_errors(tmp_path):
    with pytest.raises(JaftError, match="not a directory"):
        read_prepared(tmp_path / "nope")
    with pytest.raises(JaftError, match="not prepared data"):
        read_prepared(tmp_path)
    (tmp_path / "train.jsonl").write_text('{"kind": "text", "text": "ok"}\n{"kind": "text"}\n', encoding="utf-8")
    (tmp_path / "report.json").write_text("{}", encoding="utf-8")
    with pytest.raises(JaftError, match=r"train\.jsonl:2: not a prepared record"):
        read_prepared(tmp_path)
    assert not is_prepared(tmp_path / "nope")
