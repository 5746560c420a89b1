"""Corpus-scale `jaft data prepare`: shards, datatrove stages, workers, resume, crashes, cluster dry runs."""

import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import Item, Reject, iter_items
from jaft.data.parallel import prepare_parallel
from jaft.data.prepare import prepare, read_prepared
from jaft.data.shards import iter_shard, plan_shards
from jaft.errors import JaftError
from tests.conftest import assert_clean_error, run_jaft

SAMPLES = Path(__file__).resolve().parents[1] / "src" / "jaft" / "data" / "samples"
QUIET = Console(file=io.StringIO())
OUTPUTS = ("train.jsonl", "validation.jsonl", "rejects.jsonl", "manifest.json")

BASE = [
    "春になると、川沿いの桜並木が一斉に咲き始めます。週末には多くの家族連れが花見に訪れます。",
    "夏の夕方、縁側に座って冷えた麦茶を飲むのが祖父の楽しみだった。遠くで花火の音が聞こえた。",
    "秋は読書の季節だと言われる。涼しい風が吹くと、図書館の窓際の席はすぐに埋まってしまう。",
    "冬の朝は布団から出るのがつらい。それでも犬の散歩のために六時には起きることにしている。",
]
WORDS = "山川海空森花鳥風月雪雨雲星光音色道町村駅店家庭窓門橋島池湖波石岩砂草木竹松梅桜菊"


@pytest.fixture
def corpus(tmp_path) -> list[str]:
    """Text with exact duplicates across shards, near duplicates, filtered and bad lines, plus the
    bundled JSONL samples (chat, QA, math with answers)."""
    lines = (SAMPLES / "text_ja.txt").read_text(encoding="utf-8").splitlines()  # 137 distinct paragraphs
    lines += [lines[0], lines[1] + "ね"]  # lines 138, 139: exact duplicate of 1, near duplicate of 2
    lines += ["short", "ＡＢＣＤＥＦＧＨＩＪＫＬＭＮＯＰ english only text here", ""]
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes('{"text": "これは正しい一行目の文章です。"}\n{"text": oops}\n'.encode()
                    + '{"text": "二行目です。"}\n'.encode("shift_jis") + b"[1, 2]\n")
    math = tmp_path / "math.jsonl"  # problems with answers: exact dedup only
    math.write_text("".join((SAMPLES / "math_train.jsonl").read_text(encoding="utf-8").splitlines(True)[:40]),
                    encoding="utf-8")
    return [str(text), str(bad), *(str(SAMPLES / n) for n in ("chat_ja.jsonl", "qa_ja.jsonl")), str(math)]


def run(inputs, out, **cfg):
    return prepare_parallel(inputs, out, JapaneseDataConfig(**cfg), console=QUIET)


def test_shard_plan_cuts_at_line_starts_and_keeps_line_numbers(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text("".join(f'{{"text": "行{i}の文章です。" }}\n' for i in range(1, 201)) + '{"text": oops}\n',
                 encoding="utf-8")
    shards = plan_shards([(str(p), False)], 500)
    assert len(shards) > 5
    assert [s.start for s in shards[1:]] == [s.end for s in shards[:-1]]
    data = p.read_bytes()
    assert all(data[s.start - 1 : s.start] == b"\n" for s in shards[1:])
    whole = [(type(i).__name__, i.source) for i in iter_items(p)]
    sharded = [(type(i).__name__, i.source) for s in shards for i in iter_shard(s)]
    assert sharded == whole
    assert sharded[-1] == ("Reject", f"{p}:201")


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed_inputs_stream_with_line_numbers(tmp_path, suffix):
    raw = '{"text": "一行目です。"}\n\n{"text": oops}\n{"text": "四行目です。"}\n'.encode()
    p = tmp_path / f"a.jsonl{suffix}"
    if suffix == ".gz":
        p.write_bytes(gzip.compress(raw))
    else:
        import zstandard

        p.write_bytes(zstandard.ZstdCompressor().compress(raw))
    items = [i for s in plan_shards([(str(p), False)], 1) for i in iter_shard(s)]
    assert [(type(i), i.line) for i in items] == [(Item, 1), (Reject, 3), (Item, 4)]
    assert items[2].value == {"text": "四行目です。"}


def test_accounting_balances_per_source_and_rejects_keep_path_line(corpus, tmp_path):
    report = run(corpus, tmp_path / "o", workers=2, shard_bytes=4000, augment=1)
    assert report["shards"] > 4
    assert report["input_records"] == (report["kept"] + report["rejected"] + report["duplicates_removed"]
                                       + report["filtered"])
    for src, c in report["per_source"].items():  # the top level's five counts, zeros included
        assert list(c) == ["input_records", "kept", "rejected", "duplicates_removed", "filtered"], src
        assert c["input_records"] == c["kept"] + c["rejected"] + c["duplicates_removed"] + c["filtered"], src
    assert report["reasons"]["invalid_json"] == 1 and report["reasons"]["not_utf8"] == 1
    assert report["reasons"]["wrong_type"] == 1 and report["reasons"]["duplicate_exact"] == 1
    assert report["reasons"]["duplicate_near"] == 1 and report["reasons"]["too_short"] == 1
    rejects = [json.loads(line) for line in (tmp_path / "o" / "rejects.jsonl").open(encoding="utf-8")]
    assert len(rejects) == report["rejected"] + report["duplicates_removed"] + report["filtered"]
    by_reason = {r["reason"]: r["source"] for r in rejects}
    assert by_reason["invalid_json"] == f"{corpus[1]}:2"
    assert by_reason["not_utf8"] == f"{corpus[1]}:3"
    assert by_reason["duplicate_exact"] == f"{corpus[0]}:138"  # line 1 (first in input order) is kept
    assert by_reason["duplicate_near"] == f"{corpus[0]}:139"
    train, validation = read_prepared(tmp_path / "o")
    assert len(train) + len(validation) == report["kept"] + report["augmented"]


def test_same_output_for_any_worker_count_and_same_kept_records_as_one_process(corpus, tmp_path):
    one = run(corpus, tmp_path / "w1", workers=1, shard_bytes=4000, augment=1, augment_limit=50)
    two = run(corpus, tmp_path / "w2", workers=2, shard_bytes=4000, augment=1, augment_limit=50)
    for name in OUTPUTS:
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name
    assert one["kept"] == two["kept"] and one["augmented_records"] == 50
    # Other shards (a different cut of the same input): the same records, variants and split.
    other = run(corpus, tmp_path / "s", workers=2, shard_bytes=2500, augment=1, augment_limit=50)
    assert other["shards"] != two["shards"]
    for name in ("train.jsonl", "validation.jsonl"):
        assert (tmp_path / "s" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes(), name
    single = prepare(corpus, tmp_path / "p", JapaneseDataConfig(augment=0), console=QUIET)
    par = run(corpus, tmp_path / "p2", workers=2, shard_bytes=4000)

    def kept(out):
        t, v = read_prepared(out)
        return sorted(r.source for r in t + v)

    assert kept(tmp_path / "p") == kept(tmp_path / "p2")
    assert single["kept"] == par["kept"]


@pytest.mark.parametrize("fmt", ["jsonl.gz", "parquet"])
def test_sharded_outputs_with_manifest(corpus, tmp_path, fmt):
    out = tmp_path / "o"
    report = run(corpus, out, workers=2, shard_bytes=6000, output_format=fmt)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == fmt and manifest["shards"] == report["shards"]
    assert len(manifest["files"]["train"]) == report["shards"]
    assert sum(f["records"] for f in manifest["files"]["train"]) == report["train"]
    assert sum(f["records"] for f in manifest["files"]["rejects"]) == (
        report["rejected"] + report["duplicates_removed"] + report["filtered"])
    assert not (out / "train.jsonl").exists() and not (out / ".jaft_work").exists()
    train, validation = read_prepared(out)
    assert (len(train), len(validation)) == (report["train"], report["validation"])


def test_small_data_still_gets_a_validation_record(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text("\n".join(BASE[:3]) + "\n", encoding="utf-8")
    assert run([str(p)], tmp_path / "a", workers=1)["validation"] == 1


def test_bad_input_one_line_errors(corpus, tmp_path):
    with pytest.raises(JaftError, match="no file matches"):
        run([str(tmp_path / "nope-*.jsonl")], tmp_path / "o")
    with pytest.raises(JaftError, match=r"bad\.jsonl:2: invalid JSON"):
        run([corpus[1]], tmp_path / "o2", strict=True, workers=2)
    assert not (tmp_path / "o2" / "train.jsonl").exists()


def test_batched_minhash_signatures_equal_per_text_signatures_below_datatrove_bounds(tmp_path):
    from jaft.data.dedup_steps import JaftMinhashSignature, minhash_config

    sig = JaftMinhashSignature(str(tmp_path), minhash_config(JapaneseDataConfig()))
    shingles = sig.get_shingles(BASE[0])
    assert len(shingles) == len(BASE[0]) - 4  # character 5-grams (all distinct here)
    paras = (SAMPLES / "text_ja.txt").read_text(encoding="utf-8").splitlines()
    texts = ["", "短い", *paras[:30], "五文字だ", BASE[0]]
    rows, mins = sig.batch_signatures(texts)
    assert rows == [i for i, t in enumerate(texts) if len(t) >= 5]
    assert mins.shape == (len(rows), 60)
    for row, m in zip(rows, mins, strict=True):
        assert m.reshape(sig.config.num_buckets, -1).tolist() == sig.get_signature(sig.get_shingles(texts[row]))
    # datatrove's bucket stage stops reading a file at the first signature >= 2^61 - 1
    assert int(mins.max()) < 1 << 60
    again = JaftMinhashSignature(str(tmp_path), minhash_config(JapaneseDataConfig()))
    assert (again.batch_signatures(texts)[1] == mins).all()  # same seed, same permutations


def test_minhash_estimates_jaccard_as_closely_as_datatrove_permutations(tmp_path):
    """jaft's multiply-add-shift permutations estimate the Jaccard similarity of character 5-gram sets
    as well as datatrove's ``(a·h + b) mod (2^61 - 1)`` on the same n-gram hashes: near-duplicates of
    Japanese paragraphs (characters replaced, deleted, inserted; some with text appended), true
    Jaccard 0.1 to 0.97. Both errors are the sampling error of 60 hashes, sqrt(J(1 - J) / 60)."""
    import random

    import numpy as np

    from jaft.data.dedup_steps import JaftMinhashSignature, minhash_config
    from jaft.japanese.normalize import normalize_key

    paras = [normalize_key(p) for p in (SAMPLES / "text_ja.txt").read_text(encoding="utf-8").splitlines() if p]
    pool = "".join(paras)
    sig = JaftMinhashSignature(str(tmp_path), minhash_config(JapaneseDataConfig()))
    m = (1 << 61) - 1
    gen = np.random.RandomState(sig.config.seed)  # datatrove's MinhashDedupSignature.parameters
    a = gen.randint(1, m, dtype=np.uint64, size=(1, sig.num_hashes))
    b = gen.randint(0, m, dtype=np.uint64, size=(1, sig.num_hashes))

    def datatrove(shingles):
        return ((shingles * a + b) % np.uint64(m)).min(axis=0)

    def jaft(shingles):
        return np.array(sig.get_signature(shingles)).reshape(-1)

    rng = random.Random(0)
    errors: dict[str, list[float]] = {"jaft": [], "datatrove": []}
    variances = []
    for _ in range(400):
        x = rng.choice(paras)
        y = list(x)
        for _ in range(rng.randint(1, max(1, len(x) // 6))):
            op, at = rng.random(), rng.randrange(len(y))
            if op < 0.4:
                y[at] = rng.choice(pool)
            elif op < 0.7:
                del y[at]
            else:
                y.insert(at, rng.choice(pool))
        y = "".join(y) + (rng.choice(paras)[: rng.randint(0, 60)] if rng.random() < 0.3 else "")
        sx, sy = sig.get_shingles(x), sig.get_shingles(y)
        gx, gy = set(sx.ravel().tolist()), set(sy.ravel().tolist())
        true = len(gx & gy) / len(gx | gy)
        variances.append(true * (1 - true) / sig.num_hashes)
        for name, f in (("jaft", jaft), ("datatrove", datatrove)):
            errors[name].append(float(np.mean(f(sx) == f(sy))) - true)
    expected = float(np.sqrt(np.mean(variances)))  # ≈ 0.06
    rmse = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errors.items()}
    assert abs(np.mean(errors["jaft"])) < 0.015  # unbiased (0.0065 here; its standard error is 0.003)
    assert rmse["jaft"] < 1.1 * expected
    assert rmse["jaft"] < 1.1 * rmse["datatrove"]


def test_batched_minhash_signature_files_equal_datatrove_per_record_files(tmp_path, monkeypatch):
    """Signatures computed a batch at a time (batches cut by count and by n-gram budget) give byte for
    byte the sorted files of datatrove's own per-record loop, skipped texts (empty, shorter than n) too."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    from jaft.data import dedup_steps
    from jaft.data.dedup_steps import JaftMinhashSignature, minhash_config

    paras = (SAMPLES / "text_ja.txt").read_text(encoding="utf-8").splitlines()
    texts = [*paras[:40], "", "短い", *[p + BASE[i % 4] for i, p in enumerate(paras[40:90])], "", paras[0]]
    monkeypatch.setattr(dedup_steps, "SIGNATURE_BATCH", 7)
    monkeypatch.setattr(dedup_steps, "SIGNATURE_NUMBERS", 60 * 300)
    cfg = minhash_config(JapaneseDataConfig())
    batched = JaftMinhashSignature(str(tmp_path / "b"), cfg)
    batched.run((Document(t, str(i)) for i, t in enumerate(texts)), rank=3)
    per_record = JaftMinhashSignature(str(tmp_path / "p"), cfg)
    MinhashDedupSignature.run(per_record, (Document(t, str(i)) for i, t in enumerate(texts)), rank=3)
    files = sorted(p.relative_to(tmp_path / "p") for p in (tmp_path / "p").rglob("*.sig"))
    assert len(files) == cfg.num_buckets
    for f in files:
        data = (tmp_path / "b" / f).read_bytes()
        assert len(data) == (len(texts) - 3) * (8 * cfg.hashes_per_bucket + 4)
        assert data == (tmp_path / "p" / f).read_bytes(), f


def test_json_line_is_json_dumps_byte_for_byte():
    """Output and reject rows are written by json_line (orjson for the strings): the bytes of
    ``json.dumps(row, ensure_ascii=False)``, for every character and for whatever a row may hold."""
    from jaft.data.output_steps import json_line

    everything = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))
    rows = [everything, *everything[:0x3100], "\u2028\x7f\x00\"\\/", "",
            {"kind": "text", "text": "本文\n\t", "meta": {"variant_of": "a.txt:1", "n": 3, "x": 1.5}},
            {"messages": [{"role": "user", "content": "質問"}], "t": ("a", None, True, False)},
            {1: "int key", None: "none key", "f": float("nan"), "big": 2**80, "inf": float("-inf")},
            [[], {}, [{}], -0.0, 10**20, "ｶﾀｶﾅ"]]
    for row in rows:
        assert json_line(row) == (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"), row
    deep: list = ["x"]
    for _ in range(700):  # deeper than json_line's own recursion: json's result
        deep = [deep]
    circular: list = []
    circular.append(circular)
    for bad in ({"text": "\ud800"}, {1: {"a": "\ud800"}}, circular):  # json's own error, same message
        with pytest.raises((UnicodeEncodeError, ValueError)) as expected:
            json.dumps(bad, ensure_ascii=False).encode("utf-8")
        with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
            json_line(bad)
    assert json_line(deep) == (json.dumps(deep, ensure_ascii=False) + "\n").encode("utf-8")


def test_steps_run_in_a_plain_datatrove_pipeline(tmp_path):
    """jaft's Japanese stages as ordinary datatrove steps after someone else's reader."""
    from datatrove.data import Document
    from datatrove.executor.local import LocalPipelineExecutor

    from jaft.data.pipeline_steps import REJECT, JaftNormalize, JaftQualityFilter, JaftValidate

    rows = [("ｶﾀｶﾅの文章はここで正規化されます。", None), ("short", "too_short"),
            ("This line is written in English only.", "low_japanese_ratio")]
    seen: list = []

    def reader(data, rank, world_size):
        for i, (text, _) in enumerate(rows):
            yield Document(text, f"mem:{i + 1}", metadata={"jaft_path": "mem"})

    def collect(data, rank, world_size):
        seen.extend(data)

    LocalPipelineExecutor([reader, JaftValidate(), JaftNormalize(), JaftQualityFilter(JapaneseDataConfig()),
                           collect], tasks=1, workers=1, logging_dir=str(tmp_path / "logs")).run()
    assert [d.metadata.get(REJECT, {}).get("reason") for d in seen] == [r for _, r in rows]
    assert seen[0].metadata["jaft_record"].text == "カタカナの文章はここで正規化されます。"


def _completions(out: Path, stage: str) -> int:
    d = out / ".jaft_work" / "logs" / stage / "completions"
    return len(list(d.iterdir())) if d.is_dir() else 0


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_crash_fails_its_shard_and_rerun_redoes_only_that_one(corpus, tmp_path, workers):
    """A worker runs many shards; the one that dies fails only the shard it was in, and a fresh worker
    takes the shards after it (with one worker too)."""
    out = tmp_path / "o"
    args = ("data", "prepare", *corpus, "--out", str(out), "--workers", str(workers), "--set", "data.shard_bytes=4000")
    crashed = run_jaft(*args, env={"JAFT_TEST_CRASH_SHARD": "1"})
    assert_clean_error(crashed, "shard 1 (", "corpus.txt", "SIGKILL", "re-run")
    shards = json.loads((out / ".jaft_work" / "plan.json").read_text())["shards"]
    assert _completions(out, "admit") == len(shards) - 1  # every other shard finished
    # Shard 0 finished in the first run: were it run again, this would crash it.
    again = run_jaft(*args, "--json", env={"JAFT_TEST_CRASH_SHARD": "0"})
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(shards) - 1} of " in again.stderr
    resumed = json.loads(again.stdout)  # its seconds are this run's: no rate over work it did not do
    assert resumed["resumed"] is True and "records_per_second" not in resumed and resumed["seconds"] > 0
    ref = run(corpus, tmp_path / "ref", workers=1, shard_bytes=4000)
    assert json.loads(again.stdout)["kept"] == ref["kept"]
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


@pytest.mark.slow
def test_sigkill_of_the_whole_run_then_resume_gives_the_same_output(corpus, tmp_path):
    big = tmp_path / "big.txt"
    with big.open("w", encoding="utf-8") as f:
        for i in range(1500):
            w = "".join(WORDS[(i * k) % len(WORDS)] for k in (1, 3, 7, 11, 13, 17))
            f.write(f"{BASE[i % 4]}第{i}段落の言葉は{w}で、{w[::-1]}とは違う。\n")
    inputs = [*corpus, str(big)]
    out = tmp_path / "o"
    cmd = [sys.executable, "-m", "jaft", "data", "prepare", *inputs, "--out", str(out), "--workers", "2",
           "--augment", "1", "--set", "data.shard_bytes=4000"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while _completions(out, "write") < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed; give it more work"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "report.json").exists()
    done_before = _completions(out, "write")
    resumed = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert done_before >= 2
    ref = subprocess.run([*cmd[:cmd.index("--out") + 1], str(tmp_path / "ref"), *cmd[cmd.index("--out") + 2:]],
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes(), name


def test_cluster_dry_runs_build_the_same_stages(corpus, tmp_path):
    args = ("data", "prepare", *corpus, "--out", str(tmp_path / "o"), "--executor", "slurm", "--dry-run",
            "--set", "data.shard_bytes=4000", "--set", "data.cluster.partition=cpu-long",
            "--set", "data.cluster.work_dir=" + str(tmp_path / "shared"))
    text = run_jaft(*args)  # for a person: the stages in order, then each sbatch script verbatim
    assert text.returncode == 0, text.stderr
    assert "nothing was submitted or written" in text.stdout and "2. jaft-exact: 1 task(s), after admit" in text.stdout
    assert "# --- jaft-write ---\n#!/bin/bash\n" in text.stdout
    assert not (tmp_path / "o").exists() and not (tmp_path / "shared").exists()  # a dry run leaves nothing
    r = run_jaft(*args, "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    names = [s["job_name"] for s in plan["stages"]]
    assert names == ["jaft-admit", "jaft-exact", "jaft-buckets", "jaft-clusters", "jaft-write", "jaft-finish"]
    tasks = [s["tasks"] for s in plan["stages"]]
    assert tasks[0] == tasks[4] == plan["shards"] > 1 and tasks[1] == tasks[3] == tasks[5] == 1
    assert [s["depends_on"] for s in plan["stages"][1:]] == [s["logging_dir"] for s in plan["stages"][:-1]]
    assert "#SBATCH --partition=cpu-long" in plan["stages"][0]["sbatch"]
    assert f"#SBATCH --array=0-{plan['shards'] - 1}" in plan["stages"][0]["sbatch"]
    assert plan["stages"][0]["steps"][:4] == ["JaftShardReader", "JaftValidate", "JaftNormalize", "JaftQualityFilter"]
    ray = run_jaft("data", "prepare", *corpus, "--out", str(tmp_path / "o"), "--executor", "ray", "--dry-run", "--json")
    assert ray.returncode == 0, ray.stderr
    assert [s["steps"] for s in json.loads(ray.stdout)["stages"]] == [s["steps"] for s in plan["stages"]]
    assert not (tmp_path / "o" / "report.json").exists()


def test_missing_datatrove_or_ray_is_one_line_with_the_install_command(monkeypatch):
    import importlib.util

    from jaft.data.parallel import require_datatrove

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "datatrove" else real(name, *a))
    with pytest.raises(JaftError, match=r"pip install 'datatrove"):
        require_datatrove()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(JaftError, match=r"jaft\[cluster\]"):
        require_datatrove("ray")


def test_cluster_and_executor_errors(corpus, tmp_path):
    base = ("data", "prepare", corpus[0], "--out", str(tmp_path / "o"))
    assert_clean_error(run_jaft(*base, "--executor", "spark"), "data.executor")
    assert_clean_error(run_jaft("data", "prepare", str(tmp_path / "none-*.txt"), "--out", str(tmp_path / "o")),
                       "none-*.txt", "no file matches")
    env = {"PATH": str(tmp_path)}  # no sbatch there
    assert_clean_error(run_jaft(*base, "--executor", "slurm", env=env), "sbatch", "Slurm login node")
    try:
        import ray  # noqa: F401
    except ImportError:
        assert_clean_error(run_jaft(*base, "--executor", "ray"), "jaft[cluster]")


FIELD = Path(__file__).resolve().parent / "data" / "field"


@pytest.fixture
def reader_cases(tmp_path) -> list[str]:
    """The CP932 field files (Excel CSV, math JSONL), and line files cut into several shards: UTF-8 with a
    BOM, U+2028 inside JSON strings, a lone surrogate and a CP932 line; CP932 text; UTF-16 text (whose
    0x0A bytes are not all line ends, so it must stay one shard)."""
    paras = (SAMPLES / "text_ja.txt").read_text(encoding="utf-8").splitlines()[:60]
    mixed = tmp_path / "mixed.jsonl"
    rows = [json.dumps({"text": p[:20] + "\u2028" + p[20:]}, ensure_ascii=False) for p in paras]
    rows[7] = '{"text": "今日は友達と映画を見ました。とても楽しかったです\\ud83d。また行きたいです。"}'
    body = ("\n".join(rows[:30]) + "\n").encode() + '{"text": "二行目です。"}\n'.encode("cp932") + (
        "\n".join(rows[30:]) + "\n").encode()
    mixed.write_bytes(b"\xef\xbb\xbf" + body)
    sjis = tmp_path / "sjis.txt"
    sjis.write_bytes(("\n".join(paras[::-1]) + "\n").encode("cp932", "replace"))
    wide = tmp_path / "wide.txt"
    wide.write_text("\n".join(p[::-1] for p in paras) + "\n", encoding="utf-16")
    return [str(FIELD / "excel_cp932.csv"), str(FIELD / "math_eval_cp932.jsonl"), str(mixed), str(sjis), str(wide)]


@pytest.mark.slow
def test_cli_parallel_reads_like_the_one_process_prepare(reader_cases, tmp_path):
    """`jaft data prepare` (parallel, 2 workers, files cut into shards) and prepare() read through the one
    reader: same kept records, same rejects (reasons, path:line, read messages), same encodings report
    and answer rules, and the console names each file's encoding."""
    single = prepare(reader_cases, tmp_path / "one", JapaneseDataConfig(), console=QUIET)
    result = run_jaft("data", "prepare", *reader_cases, "--out", str(tmp_path / "par"), "--workers", "2",
                      "--set", "data.shard_bytes=1500", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    par = json.loads((tmp_path / "par" / "report.json").read_text(encoding="utf-8"))
    assert par["shards"] > len(reader_cases)  # the line files really were cut
    assert par["encodings"] == single["encodings"]
    assert {p: e["encoding"] for p, e in par["encodings"].items()} == dict(zip(reader_cases, [
        "cp932", "cp932", "utf-8", "cp932", "utf-16"], strict=True))
    assert par["encodings"][reader_cases[2]]["how"] == "bom"
    assert par["answer_rules"] == single["answer_rules"] and par["answer_rules"]["answer_field"] > 0
    for key in ("input_records", "kept", "rejected", "duplicates_removed", "filtered", "reasons", "per_source"):
        assert par[key] == single[key], key
    for source in reader_cases:
        assert f"encoding of {source}: {par['encodings'][source]['encoding']}" in result.stdout

    def rejects(out):
        rows = [json.loads(line) for line in (out / "rejects.jsonl").open(encoding="utf-8")]
        return sorted((r["source"], r["reason"], r["message"] if r["stage"] == "read" else "") for r in rows)

    assert rejects(tmp_path / "par") == rejects(tmp_path / "one")
    by_reason = {r[1]: r[0] for r in rejects(tmp_path / "par")}
    assert by_reason["invalid_unicode"] == f"{reader_cases[2]}:8"
    assert by_reason["not_utf8"] == f"{reader_cases[2]}:31"

    def kept(out):
        t, v = read_prepared(out)
        return sorted(r.model_dump_json() for r in t + v)

    kept_par = kept(tmp_path / "par")
    assert kept_par == kept(tmp_path / "one")
    assert any("\u2028" in r for r in kept_par)  # U+2028 stayed inside its record
    assert not any("\ufeff" in r for r in kept_par)  # BOM dropped at the file start only


def test_parallel_honours_the_requested_encoding_like_prepare(reader_cases, tmp_path):
    """data.encoding / --encoding wins over detection in both pipelines: forced UTF-8 on the CP932 files
    rejects their lines as not_utf8 (same path:line), and the report says it was requested."""
    inputs = [reader_cases[0], reader_cases[3]]
    par = run(inputs, tmp_path / "par", workers=2, shard_bytes=1500, encoding="utf-8")
    single = prepare(inputs, tmp_path / "one", JapaneseDataConfig(encoding="utf-8"), console=QUIET)
    assert par["shards"] > len(inputs)
    assert par["encodings"] == single["encodings"] == {p: {"encoding": "utf-8", "how": "requested"} for p in inputs}
    assert par["reasons"] == single["reasons"] and par["reasons"]["not_utf8"] > 10

    def rejects(out):
        return sorted((r["source"], r["reason"], r["message"])
                      for r in map(json.loads, (out / "rejects.jsonl").open(encoding="utf-8")) if r["stage"] == "read")

    assert rejects(tmp_path / "par") == rejects(tmp_path / "one")


def _named_input_cases(tmp_path: Path) -> list[tuple[str, str]]:
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "broken.txt").symlink_to(tmp_path / "gone.txt")
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    return [(str(tmp_path / "nosuch.txt"), "nosuch.txt: file not found; check the path"),
            (str(folder), "is a folder; pass the files inside it, e.g. '"),
            (str(folder / "*.txt"), "broken.txt: file not found (a symbolic link to a missing file)"),
            (str(fifo), "pipe.txt: not a regular file (a pipe or device); write it to a file first")]


def test_named_inputs_that_cannot_be_read_stop_before_any_work(tmp_path):
    """Missing files, folders and broken links (also when a glob matches them) are one line with the fix
    and exit 2, not a run whose only record is the missing file; nothing is left in --out."""
    for i, (name, message) in enumerate(_named_input_cases(tmp_path)):
        out = tmp_path / f"o{i}"
        result = run_jaft("data", "prepare", name, "--out", str(out))
        assert_clean_error(result, message)
        assert not out.exists(), name


def test_unreadable_file_and_folder_are_named(tmp_path, monkeypatch):
    """Permission problems (tested by patching: this suite may run as root, who reads anything)."""
    def deny(method: str, path: Path) -> None:  # Path.<method> on ``path`` fails as without permission
        real = getattr(Path, method)

        def denied(self, *args, **kwargs):
            if self == path:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, method, denied)

    text = tmp_path / "locked.txt"
    text.write_text("今日は良い天気です。\n", encoding="utf-8")
    deny("open", text)
    with pytest.raises(JaftError, match=r"locked\.txt: cannot read \(Permission denied\); check its permissions"):
        run([str(text)], tmp_path / "o")
    monkeypatch.undo()
    inside = tmp_path / "closed" / "a.txt"  # a file in a folder that cannot be searched: stat fails
    deny("stat", inside)
    with pytest.raises(JaftError, match=r"a\.txt: cannot read \(Permission denied\); check the permissions of the "
                                        r"file and its folders"):
        run([str(inside)], tmp_path / "o1")
    monkeypatch.undo()
    folder = tmp_path / "private"
    folder.mkdir()
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != folder)
    with pytest.raises(JaftError, match=r"cannot read the folder .*private \(permission denied\)"):
        run([str(folder / "*.txt")], tmp_path / "o2")


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("今日は良い天気です。散歩に行きましょう。\n", encoding="utf-8")
    blocker = tmp_path / "a_file"
    blocker.write_text("", encoding="utf-8")
    result = run_jaft("data", "prepare", str(src), "--out", str(blocker / "out"))
    assert_clean_error(result, "cannot create the output (Not a directory); choose another --out")


def test_strict_bad_input_says_fix_the_input_and_leaves_nothing(tmp_path):
    src = tmp_path / "cut.txt"
    src.write_bytes("今日は良い天気です。散歩に行きましょう。\n".encode() * 50 + "明日も晴れるでしょう".encode()[:-1])
    out = tmp_path / "o"
    result = run_jaft("data", "prepare", str(src), "--out", str(out), "--mode", "production")
    assert_clean_error(result, "cut.txt:51: not valid UTF-8", "cut off at the end of the line (was the file truncated?)",
                       "--mode production", "fix the input and run again")
    assert "CP932" not in result.stderr and "re-run the same command" not in result.stderr
    assert not out.exists()


def test_an_input_listed_twice_is_read_once_and_named(tmp_path):
    """The same file twice, another path to it, or a glob that overlaps a named file: read once (not
    counted as duplicates of itself), and the repeats are named on the console and in the report."""
    from jaft.data.shards import unique_inputs

    folder = tmp_path / "d"
    folder.mkdir()
    a, b = folder / "a.txt", folder / "b.txt"
    a.write_text("今日は良い天気ですね。散歩に行きましょう。\n猫が庭で昼寝をしています。\n", encoding="utf-8")
    b.write_text("駅前に新しい喫茶店ができました。\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(a)
    same_via_dots = str(folder / ".." / "d" / "a.txt")
    for names, kept, repeats in [
        ([str(a), str(b)], [str(a), str(b)], []),
        ([str(a), str(a)], [str(a)], [str(a)]),
        ([str(a), same_via_dots, str(tmp_path / "link.txt")], [str(a)], [same_via_dots, str(tmp_path / "link.txt")]),
        (["owner/set", "owner/set", str(b)], ["owner/set", str(b)], ["owner/set"]),  # Hub names as written
    ]:
        assert unique_inputs(names) == (kept, repeats), names

    once = run_jaft("data", "prepare", str(a), str(b), "--out", str(tmp_path / "once"), "--workers", "1")
    twice = run_jaft("data", "prepare", str(a), str(folder / "*.txt"), "--out", str(tmp_path / "twice"),
                     "--workers", "1", env={"COLUMNS": "400"})
    assert once.returncode == 0 and twice.returncode == 0, twice.stderr
    assert f"listed more than once, read once: {a}" in twice.stderr
    reports = [json.loads((tmp_path / o / "report.json").read_text(encoding="utf-8")) for o in ("once", "twice")]
    assert reports[0]["input_records"] == reports[1]["input_records"] == 3
    assert reports[1]["duplicates_removed"] == 0 and reports[1]["repeated_inputs"] == [str(a)]
