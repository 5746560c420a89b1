"""Execution modes: which files feed prepare when no input is given (seed 001)."""

import io
import json

import pytest
from rich.console import Console

from jaft.config.data import DEVELOPMENT_FILES, PRODUCTION_FILES, JapaneseDataConfig
from jaft.data.modes import DatasetManager
from jaft.data.prepare import prepare
from jaft.data.samples import training_files
from jaft.errors import JaftError


def _write(base, names):
    base.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (base / name).write_text(json.dumps({"text": f"これは{name}から読んだ{i}番目の文章です。"}, ensure_ascii=False) + "\n",
                                 encoding="utf-8")


def test_production_lists_every_missing_source(tmp_path):
    _write(tmp_path, PRODUCTION_FILES[:2])
    with pytest.raises(JaftError) as e:
        DatasetManager(JapaneseDataConfig(mode="production", base_dir=str(tmp_path))).resolve()
    for name in PRODUCTION_FILES[2:]:
        assert name in e.value.message
    for name in PRODUCTION_FILES[:2]:
        assert name not in e.value.message


def test_production_with_every_source(tmp_path):
    _write(tmp_path, PRODUCTION_FILES)
    src = DatasetManager(JapaneseDataConfig(mode="production", base_dir=str(tmp_path))).resolve()
    assert [p.name for p in src.train] == PRODUCTION_FILES and not src.bundled


def test_a_source_shipped_compressed_stands_for_its_name(tmp_path):
    import gzip

    _write(tmp_path, PRODUCTION_FILES)
    for name, suffix in ((PRODUCTION_FILES[0], ".gz"), (PRODUCTION_FILES[1], ".zst")):
        plain = tmp_path / name
        data = plain.read_bytes()
        if suffix == ".gz":
            (tmp_path / (name + suffix)).write_bytes(gzip.compress(data))
        else:
            zstandard = pytest.importorskip("zstandard")
            (tmp_path / (name + suffix)).write_bytes(zstandard.ZstdCompressor().compress(data))
        plain.unlink()
    src = DatasetManager(JapaneseDataConfig(mode="production", base_dir=str(tmp_path))).resolve()
    assert [p.name for p in src.train] == [PRODUCTION_FILES[0] + ".gz", PRODUCTION_FILES[1] + ".zst",
                                            *PRODUCTION_FILES[2:]]
    (tmp_path / (PRODUCTION_FILES[1] + ".zst")).unlink()  # neither form: still missing, by its plain name
    with pytest.raises(JaftError, match=PRODUCTION_FILES[1]):
        DatasetManager(JapaneseDataConfig(mode="production", base_dir=str(tmp_path))).resolve()


def test_development_uses_what_exists(tmp_path):
    _write(tmp_path, DEVELOPMENT_FILES[1:2])
    src = DatasetManager(JapaneseDataConfig(mode="development", base_dir=str(tmp_path))).resolve()
    assert [p.name for p in src.train] == [DEVELOPMENT_FILES[1]]
    assert not src.bundled and src.warning is None
    assert len(src.missing) == 2


def test_development_falls_back_to_bundled_samples_loudly(tmp_path):
    console = Console(file=io.StringIO(), width=200)
    report = prepare([], tmp_path / "out", JapaneseDataConfig(mode="development", base_dir=str(tmp_path / "none")),
                     console=console)
    assert report["bundled_samples"] is True
    assert "bundled samples" in report["warning"]
    assert "WARNING" in console.file.getvalue()
    assert report["sources"] == [str(p) for p in training_files()]


def test_trial_uses_bundled_samples_even_when_data_exists(tmp_path):
    _write(tmp_path, DEVELOPMENT_FILES)
    src = DatasetManager(JapaneseDataConfig(mode="trial", base_dir=str(tmp_path))).resolve()
    assert src.bundled and src.train == training_files()


def test_train_files_override_and_validation_files(tmp_path):
    _write(tmp_path, ["a.jsonl", "b.jsonl", "val.jsonl"])
    cfg = JapaneseDataConfig(mode="production", base_dir=str(tmp_path), train_files=["a.jsonl", "b.jsonl"],
                             validation_files=["val.jsonl"])
    report = prepare([], tmp_path / "out", cfg, console=Console(file=io.StringIO()))
    assert (report["train"], report["validation"]) == (2, 1)
    val = (tmp_path / "out" / "validation.jsonl").read_text(encoding="utf-8")
    assert "val.jsonl" in val


@pytest.mark.parametrize(("mode", "limit"), [("trial", 100), ("development", 1000), ("production", None)])
def test_augment_sample_limit_per_mode(mode, limit):
    assert JapaneseDataConfig(mode=mode).augment_sample_limit() == limit
    assert JapaneseDataConfig(mode=mode, augment_limit=7).augment_sample_limit() == 7


def test_config_lives_in_the_run_config():
    from jaft.config import load_run_config

    cfg = load_run_config(sets=["data.mode=trial", "data.augment=2"])
    assert (cfg.data.mode, cfg.data.augment, cfg.data.base_dir) == ("trial", 2, "dataset/deepseek-jp")
    with pytest.raises(JaftError, match=r"data\.mode"):
        load_run_config(sets=["data.mode=staging"])
