"""Field classes from tests/data/field/ (copied from the shared turn-2 cases) and their neighbours in
tests/data/*.tsv / *.jsonl: answers, gold-answer rules, dedup folding, R1 math in the filters, NFD style."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from jaft.config.data import JapaneseDataConfig
from jaft.data.formats import BadRecord, problem_answer, record_texts, to_record
from jaft.data.prepare import prepare
from jaft.data.quality import QualityFilter
from jaft.eval.math import load_problems
from jaft.japanese.answers import answers_match
from jaft.japanese.letters import japanese_share, letter_counts
from jaft.japanese.normalize import normalize_key
from jaft.rewards import accuracy_reward
from jaft.rewards import japanese_share as reward_share

DATA = Path(__file__).parent / "data"
FIELD = DATA / "field"


def _rows(name: str, base: Path = DATA) -> list[list[str]]:
    return [line.split("\t") for line in (base / name).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


# --- answer matching -------------------------------------------------------------------------------

ANSWERS = [(p, g, "yes") for p, g in _rows("answers_match.tsv", FIELD)] + _rows("answers_match_neighbours.tsv")


@pytest.mark.parametrize(("pred", "gold", "match"), ANSWERS)
def test_answers_match_table(pred, gold, match):
    assert answers_match(pred, gold) is (match == "yes")
    # the accuracy reward (GRPO, eval) agrees: the same answer inside <answer> tags
    completion = f"<think>\n計算します。\n</think>\n<answer>{pred}</answer>"
    assert accuracy_reward([completion], answer=[gold]) == [1.0 if match == "yes" else 0.0]


# --- gold answers: GSM8K '#### N', MATH \boxed{}, counted per rule ----------------------------------

GOLD = [json.loads(line) for line in (DATA / "gold_answers.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("row", GOLD, ids=[f"{i}-{r['rule']}" for i, r in enumerate(GOLD)])
def test_gold_answer_rules(row):
    rec = row["record"]
    if row["answer"] is None:
        with pytest.raises(BadRecord) as e:
            to_record(rec)
        assert e.value.reason == row["rule"]
        return
    r = to_record(rec)
    assert (r.answer, r.meta["answer_rule"]) == (row["answer"], row["rule"])
    assert problem_answer(rec)[1:] == (row["answer"], row["rule"])  # eval reads it the same way


def test_field_gold_hash_and_boxed_through_prepare_and_eval(tmp_path):
    path = FIELD / "gold_hash_and_boxed.jsonl"
    report = prepare([path], tmp_path / "o", JapaneseDataConfig(val_ratio=0))
    assert report["kept"] == 2 and report["rejected"] == 0
    assert report["answer_rules"] == {"gsm8k_hash": 1, "math_boxed": 1}
    assert [p["answer"] for p in load_problems(path)] == ["8", "9"]


# --- dedup keys fold JIS/cp932 mapping pairs; kept text stays as written ---------------------------

@pytest.mark.parametrize(("a", "b"), _rows("dedup_pairs.tsv"))
def test_mapping_pairs_share_a_dedup_key(a, b):
    assert a != b and normalize_key(a) == normalize_key(b)


def test_field_dedup_wavedash_minus(tmp_path):
    src = FIELD / "dedup_wavedash_minus.jsonl"
    report = prepare([src], tmp_path / "o", JapaneseDataConfig(val_ratio=0))
    assert report["kept"] == 2 and report["reasons"] == {"duplicate_exact": 2}
    kept = [json.loads(x)["text"] for x in (tmp_path / "o" / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    originals = [json.loads(x)["text"] for x in src.read_text(encoding="utf-8").splitlines()]
    assert kept == [originals[0], originals[2]]  # the first spelling, exactly as written (〜 and −)


def test_dedup_pairs_through_prepare(tmp_path):
    rows = _rows("dedup_pairs.tsv")
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for pair in rows for t in pair),
                   encoding="utf-8")
    report = prepare([src], tmp_path / "o", JapaneseDataConfig(val_ratio=0, min_chars=0, min_hiragana_ratio=0))
    assert report["reasons"].get("duplicate_exact") == len(rows)


# --- quality filters measure language like the reward does -----------------------------------------

LANGUAGE = _rows("language_filter.tsv")


@pytest.mark.parametrize(("text", "verdict"), LANGUAGE)
def test_filter_ignores_markup_latex_and_variables(text, verdict):
    text = text.replace("\\n", "\n")
    got = QualityFilter(JapaneseDataConfig()).check(normalize_key(text))
    assert (got.reason if got else "keep") == verdict
    # one measure: the reward's share and the filter's counts come from the same function
    assert reward_share(text) == japanese_share(text)
    letters, ja, _ = letter_counts(text)
    if verdict in ("keep", "low_japanese_ratio"):
        assert (ja / letters >= 0.3) is (verdict == "keep")


def _letter_counts_by_definition(text: str) -> tuple[int, int, int]:
    """letter_counts as its docstring defines it, one pass per class over strip_notation's text."""
    import re

    from jaft.japanese.letters import _japanese_runs, strip_notation

    text = strip_notation(text)
    letters = sum(map(str.isalpha, text)) + text.count("〇")
    if not letters:
        return 0, 0, 0
    japanese_letters = _japanese_runs().pattern[2:-3]  # "([…]+)"
    japanese = len(re.sub(f"[^{japanese_letters}]+", "", text))
    hiragana = len(re.sub("[^\u3041-\u309f]+", "", text))
    return letters, min(japanese, letters), min(hiragana, letters)


def test_letter_counts_equal_the_one_pass_per_class_definition():
    """letter_counts counts in fewer passes (one split into Japanese letters and the rest): the same
    numbers as the definition on the table's texts, the samples and random mixes of every class's
    edge characters (markup, LaTeX, variables, Greek, 〇, sound marks, unassigned hiragana, cp932
    and Chinese-only kanji)."""
    import random

    samples = Path(__file__).resolve().parents[1] / "src" / "jaft" / "data" / "samples"
    texts = [t.replace("\\n", "\n") for t, _ in LANGUAGE]
    texts += (samples / "text_ja.txt").read_text(encoding="utf-8").splitlines()
    pieces = ["<think>", "</answer>", "$x$", "$$", "\\(", "\\)", "\\frac", "\\[a\\]", "\n", " ", "ab", "x",
              *"aZÀɏＡｚ０1①〇々〆ー・ゝゞゟαπΩ\u3040\u3041\u3096\u3097\u3098\u3099\u309a\u309b\u309c\u309f"
              "\u30a0ァヺ\u30fbヿㇰｦﾞﾟ｡あが漢字这们𠀋\uf929\ufa0e。、！_"]
    rng = random.Random(0)
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 25))) for _ in range(20000)]
    for text in texts:
        assert letter_counts(text) == _letter_counts_by_definition(text), text


def test_japanese_letters_are_letters_except_kanji_zero():
    """letter_counts counts every Japanese letter as a letter without asking str.isalpha: true of each
    one (in this Python's Unicode data) but 〇, which the definition adds to the letters anyway."""
    import re

    from jaft.japanese.letters import _japanese_runs

    everything = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))
    japanese = "".join(re.findall(_japanese_runs(), everything))
    assert len(japanese) > 6000 and "〇" in japanese  # kana and cp932's kanji
    assert japanese.replace("〇", "").isalpha()


def test_field_math_r1_with_latex_is_kept(tmp_path):
    report = prepare([FIELD / "math_r1_with_latex.jsonl"], tmp_path / "o", JapaneseDataConfig(val_ratio=0))
    assert report["kept"] == 3 and report["filtered"] == 0
    assert report["answer_rules"] == {"answer_tag": 3}
    for line in (FIELD / "math_r1_with_latex.jsonl").read_text(encoding="utf-8").splitlines():
        rec = to_record(json.loads(line))
        assert QualityFilter(JapaneseDataConfig()).check(normalize_key("\x1f".join(record_texts(rec)))) is None


# --- jaft style analyses NFD text composed; the rest of the line stays as written -------------------

STYLE = _rows("style_nfd.tsv")


@pytest.mark.parametrize(("text", "to", "expected"), STYLE)
def test_style_converts_nfd_like_nfc(text, to, expected):
    from jaft.japanese.style import convert_line

    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    out = convert_line(nfd, to)
    assert unicodedata.normalize("NFC", out) == expected
    assert out != nfd  # converted
    # the part before the converted predicate is exactly the NFD input
    prefix = 0
    while prefix < min(len(out), len(nfd)) and out[prefix] == nfd[prefix]:
        prefix += 1
    assert unicodedata.is_normalized("NFD", out[:prefix]) and prefix >= len(nfd) // 3


def test_field_style_nfd_cli(tmp_path):
    from tests.conftest import run_jaft

    r = run_jaft("style", "--to", "plain", "--input", str(FIELD / "style_nfd.txt"))
    assert r.returncode == 0, r.stderr
    assert unicodedata.normalize("NFC", r.stdout).splitlines() == ["私は学生だ。", "昨日は雨だった。"]
