"""jaft eval on a run directory, a model + adapter and a merged model."""

from __future__ import annotations

import json

import pytest

from jaft.errors import JaftError
from jaft.eval.math import load_problems
from tests.conftest import assert_clean_error, run_jaft
from tests.test_train_sft import train

PROBLEMS = [
    {"problem": "りんごが3個あります。2個もらうと何個？", "solution": "<think>3+2=5</think><answer>5</answer>"},
    {"problem": "100円のノートを2冊買うといくら？", "answer": "200円"},
    {"prompt": "5-7は？", "answer": "-2"},
]


@pytest.fixture(scope="module")
def sft_run(tiny_qwen, tmp_path_factory):
    return train(tiny_qwen, tmp_path_factory.mktemp("eval") / "run", "train.max_steps=2")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_load_problems_formats(tmp_path):
    probs = load_problems(write_jsonl(tmp_path / "p.jsonl", PROBLEMS))
    assert [p["answer"] for p in probs] == ["5", "200円", "-2"]
    assert len(load_problems(tmp_path / "p.jsonl", limit=2)) == 2


@pytest.mark.parametrize(
    ("content", "needle"),
    [('{"problem": "x"}\n', ":1: needs a problem"), ("not json\n", ":1: invalid JSON"), ("", "file is empty"), ("\n\n", "no problems")],
)
def test_bad_problem_files(tmp_path, content, needle):
    p = tmp_path / "bad.jsonl"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(JaftError, match=needle):
        load_problems(p)


def test_math_eval_on_run_dir(sft_run, tmp_path):
    data = write_jsonl(tmp_path / "p.jsonl", PROBLEMS)
    preds = tmp_path / "preds.jsonl"
    r = run_jaft("eval", "--model", str(sft_run.path), "--task", "math", "--data", str(data), "--json",
                 "--max-new-tokens", "16", "--out", str(preds))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["n"] == 3 and 0 <= result["accuracy"] <= 1 and 0 <= result["format_rate"] <= 1
    lines = [json.loads(x) for x in preds.read_text(encoding="utf-8").splitlines()]
    assert [x["gold"] for x in lines] == ["5", "200円", "-2"]
    assert {"completion", "extracted", "correct", "format_ok", "language_consistency"} <= set(lines[0])
    assert "adapter" in result["model"]


def test_generate_and_perplexity_on_model_plus_adapter(sft_run, tiny_qwen, tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("日本語の文章です。\n機械学習とは、データから学ぶ技術です。\n", encoding="utf-8")
    r = run_jaft("eval", "--model", str(tiny_qwen), "--adapter", str(sft_run.adapter_dir), "--task",
                 "perplexity", "--data", str(text), "--json")
    assert r.returncode == 0, r.stderr
    ppl = json.loads(r.stdout)
    assert ppl["documents"] == 2 and 1 < ppl["perplexity"] < 1e5
    g = run_jaft("eval", "--model", str(tiny_qwen), "--task", "generate", "--json", "--max-new-tokens", "8")
    gens = json.loads(g.stdout)["generations"]
    assert [x["prompt"] for x in gens] == ["こんにちは、私は", "日本語について", "機械学習とは"]


def test_eval_bad_inputs(tmp_path):
    assert_clean_error(run_jaft("eval", "--model", str(tmp_path), "--task", "math"), "neither a model directory")
    assert_clean_error(run_jaft("eval", "--model", str(tmp_path), "--task", "speed"), "--task speed")
