"""Bundled samples: every format present, licence stated, math answers recomputed independently."""

import json
import re

import pytest

from jaft.data.formats import iter_items, to_record
from jaft.data.samples import (
    SAMPLE_FILES,
    math_eval_path,
    math_train_path,
    sample_file,
    training_files,
    write_samples,
)


def load(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# An independent solver per problem shape: the regex reads the numbers from the problem text and the
# function recomputes the answer (none of this comes from the generator).
SOLVERS = [
    (r"(\d+)(?:個|本|冊|枚)持っています。(\d+)(?:個|本|冊|枚)もらうと", lambda a, b: a + b),
    (r"(\d+)(?:個|本|冊|枚)持っていました。友達に(\d+)", lambda a, b: a - b),
    (r"^1(?:個|本|冊)(\d+)円の.+を(\d+)(?:個|本|冊)買うと、代金", lambda p, n: p * n),
    (r"^(\d+)(?:個|本|冊|枚)の.+を(\d+)人で同じ数ずつ分けると", lambda a, n: a // n),
    (r"^(\d+)円を出して、(\d+)円の", lambda pay, price: pay - price),
    (r"が(\d+)(?:個|本|冊|枚)ずつ入った箱が(\d+)箱", lambda a, b: a * b),
    (r"バスに(\d+)人乗っていて、次のバス停で(\d+)人降りて(\d+)人乗りました", lambda a, b, c: a - b + c),
    (r"方程式 (\d+)x\+(\d+)=(\d+) を解いて", lambda a, b, c: (c - b) // a),
    (r"縦(\d+)cm、横(\d+)cmの長方形", lambda a, b: a * b),
    (r"時速(\d+)kmで(\d+)時間", lambda v, t: v * t),
    (r"は(\d+)歳で、妹は(\d+)歳年下", lambda a, b: a - b),
    (r"点数は(\d+)点、(\d+)点、(\d+)点", lambda a, b, c: (a + b + c) // 3),
    (r"^(\d+)個のあめを(\d+)人に同じ数ずつ配ると、何個余り", lambda a, n: a % n),
    (r"^(\d+)円の品物が(\d+)%引き", lambda p, pct: p - p * pct // 100),
    (r"^(\d+)ページの本を1日(\d+)ページずつ", lambda n, p: n // p),
    (r"^(\d+)円のパンと(\d+)円の牛乳", lambda a, b: a + b),
    (r"1辺が(\d+)cmの正方形のまわり", lambda a: 4 * a),
    (r"1(?:個|本|冊)(\d+)円の.+を(\d+)(?:個|本|冊)買って、(\d+)円払いました", lambda p, n, pay: pay - p * n),
]


def solve(problem: str) -> int:
    matches = [(pat, fn) for pat, fn in SOLVERS if re.search(pat, problem)]
    assert len(matches) == 1, (problem, [p for p, _ in matches])
    pat, fn = matches[0]
    return fn(*map(int, re.search(pat, problem).groups()))


TRAIN = load(math_train_path())
EVAL = load(math_eval_path())


def test_math_sizes_and_no_overlap():
    assert len(TRAIN) >= 400 and 90 <= len(EVAL) <= 110
    problems = [r["problem"] for r in TRAIN + EVAL]
    assert len(set(problems)) == len(problems)


@pytest.mark.parametrize("row", TRAIN + EVAL, ids=[f"train{i}" for i in range(len(TRAIN))] + [f"eval{i}" for i in range(len(EVAL))])
def test_every_math_answer_is_correct(row):
    answer = solve(row["problem"])
    assert row["answer"] == str(answer)
    m = re.fullmatch(r"<think>(.+)</think><answer>(.+)</answer>", row["solution"])
    assert m, row["solution"]
    assert m.group(2) == row["answer"]
    steps = [s for s in m.group(1).split("。") if s]
    assert 1 <= len(steps) <= 3
    assert str(answer) in steps[-1]  # the last step arrives at the answer
    assert row["problem"].count("。") <= 2


def test_math_covers_templates_and_units():
    shapes = {pat for row in TRAIN for pat, _ in SOLVERS if re.search(pat, row["problem"])}
    assert len(shapes) == len(SOLVERS)
    assert any(u in r["problem"] for r in TRAIN for u in ("個", "本", "冊", "枚", "円", "人"))


def test_math_files_match_the_generator():
    from jaft.data.mathgen import render_jsonl, train_eval_split

    train, held_out = train_eval_split()
    assert math_train_path().read_text(encoding="utf-8") == render_jsonl(train)
    assert math_eval_path().read_text(encoding="utf-8") == render_jsonl(held_out)


@pytest.mark.parametrize(
    ("name", "kind", "minimum"),
    [("text", "text", 100), ("chat", "chat", 30), ("qa", "prompt_completion", 40),
     ("summarization", "prompt_completion", 20), ("math_train", "prompt_completion", 400)],
)
def test_bundled_files_parse_cleanly(name, kind, minimum):
    items = list(iter_items(sample_file(name)))
    records = [to_record(i.value, source=i.source) for i in items]
    assert len(records) >= minimum
    assert {r.kind for r in records} == {kind}
    if name == "math_train":
        assert all(r.answer for r in records)


def test_write_samples_copies_every_file_and_the_licence(tmp_path):
    written = write_samples(tmp_path / "samples")
    assert set(written) == {*SAMPLE_FILES, "readme"}
    for name, path in written.items():
        assert path.read_bytes() == (sample_file(name) if name != "readme" else path).read_bytes()
    assert "Apache-2.0" in written["readme"].read_text(encoding="utf-8")
    assert math_eval_path() not in training_files()


def test_tokenizer_texts_cover_every_bundled_file():
    from jaft.data.bundled import tokenizer_training_texts

    texts = list(tokenizer_training_texts())
    joined = "\n".join(texts)
    assert "春になると" in joined  # text_ja.txt
    assert "どういたしまして" in joined  # chat
    assert "<think>" in joined and "</answer>" in joined  # math solutions
    assert "user" not in texts and "assistant" not in texts  # roles are not text
