"""Seed 004's public math sets in their own layouts: GSM8K (question / answer ending '#### N') and MATH
(problem / solution with the last \\boxed{…}), from local files and from their Hub names; prepared,
trained on (tiny model, few steps), used by GRPO and evaluated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaft.data.formats import to_record
from jaft.data.prepare import read_prepared
from jaft.data.reader import HUB_ALIASES, Item, iter_items
from jaft.eval.math import load_problems
from jaft.train.grpo import prompt_rows
from tests.conftest import run_jaft


def gsm8k_rows(n: int = 8) -> list[dict[str, str]]:
    return [{"question": f"りんごが{a}個あります。{b}個もらうと全部で何個になりますか。",
             "answer": f"{a}個に{b}個を足します。{a}+{b}=<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
            for a, b in ((i % 7 + 1, i // 7 + 2) for i in range(n))]


def math_rows(n: int = 8) -> list[dict[str, str]]:
    return [{"problem": f"方程式 $x-{a}={b}$ を解きなさい。", "level": "Level 1", "type": "Algebra",
             "solution": f"両辺に ${a}$ を足すと $x={a}+{b}$ なので、答えは $\\boxed{{{a + b}}}$ です。"}
            for a, b in ((i % 5 + 1, i // 5 + 3) for i in range(n))]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_layouts_become_records_with_gold_answers():
    g = to_record(gsm8k_rows(1)[0])
    assert (g.prompt.startswith("りんごが1個"), g.answer, g.meta["answer_rule"]) == (True, "3", "gsm8k_hash")
    assert g.completion.endswith("#### 3")  # the solution is trained as written
    m = to_record(math_rows(1)[0])
    assert (m.answer, m.meta["answer_rule"]) == ("4", "math_boxed")


@pytest.mark.parametrize(("name", "repo", "config", "rows", "rule"), [
    ("gsm8k", "openai/gsm8k", "main", gsm8k_rows(3), "gsm8k_hash"),
    ("qwedsacf/competition_math", "qwedsacf/competition_math", None, math_rows(3), "math_boxed"),
    ("competition_math", "qwedsacf/competition_math", None, math_rows(3), "math_boxed"),
])
def test_hub_names_of_the_seed_load_with_their_columns(monkeypatch, name, repo, config, rows, rule):
    """No network in tests: datasets.load_dataset is replaced; the call and the column reading are checked."""
    import datasets

    calls = []

    def fake_load_dataset(path, name=None, split=None, streaming=False, **kw):
        calls.append((path, name, split, streaming))
        return iter(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert name in HUB_ALIASES
    items = list(iter_items(name))
    assert calls == [(repo, config, "train", True)]
    assert all(isinstance(i, Item) for i in items)
    recs = [to_record(i.value, source=i.source) for i in items]
    assert [r.meta["answer_rule"] for r in recs] == [rule] * 3


@pytest.mark.slow
def test_prepare_train_grpo_rows_and_eval_on_both_layouts(tiny_qwen, tmp_path):
    from jaft.eval.run import run_eval
    from tests.test_train_sft import train

    gsm = write_jsonl(tmp_path / "gsm8k_ja.jsonl", gsm8k_rows())
    mth = write_jsonl(tmp_path / "math_ja.jsonl", math_rows())
    r = run_jaft("data", "prepare", str(gsm), str(mth), "--out", str(tmp_path / "data"), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["rejected"] == 0 and report["answer_rules"] == {"gsm8k_hash": 8, "math_boxed": 8}
    assert {e["encoding"] for e in report["encodings"].values()} == {"utf-8"}
    train_recs, val_recs = read_prepared(tmp_path / "data")
    rows, skipped = prompt_rows(train_recs + val_recs)  # what GRPO trains on
    assert skipped == 0 and len(rows) == report["kept"]
    run = train(tiny_qwen, tmp_path / "run", "train.max_steps=2", records=train_recs)
    for path, golds in ((gsm, [str(a + b) for a, b in ((i % 7 + 1, i // 7 + 2) for i in range(3))]),
                        (mth, ["4", "5", "6"])):
        assert [p["answer"] for p in load_problems(path, limit=3)] == golds
        result = run_eval(run.path, "math", data=str(path), limit=3, max_new_tokens=8,
                          out=str(tmp_path / f"{path.stem}_preds.jsonl"))
        assert result["n"] == 3 and 0.0 <= result["accuracy"] <= 1.0
        preds = [json.loads(x) for x in Path(result["predictions"]).read_text(encoding="utf-8").splitlines()]
        assert [p["gold"] for p in preds] == golds
