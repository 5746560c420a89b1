"""Polite (敬体) ↔ plain (常体) conversion, table-driven from tests/data/style_pairs.tsv."""

import subprocess
import sys
from pathlib import Path

import pytest

from jaft.japanese import to_plain, to_polite
from jaft.japanese.conjugate import forms

PAIRS_FILE = Path(__file__).parent / "data" / "style_pairs.tsv"


def load_pairs() -> list[tuple[str, str, str]]:
    rows = []
    for line in PAIRS_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            plain, polite, direction = line.split("\t")
            rows.append((plain, polite, direction))
    return rows


PAIRS = load_pairs()
TO_POLITE = [(a, b) for a, b, d in PAIRS if d in ("both", "polite")]
TO_PLAIN = [(a, b) for a, b, d in PAIRS if d in ("both", "plain")]


def test_table_is_large_enough():
    assert len({a for a, _, _ in PAIRS}) >= 60
    assert len(TO_POLITE) >= 60 and len(TO_PLAIN) >= 60


@pytest.mark.parametrize(("plain", "polite"), TO_POLITE, ids=[p for p, _ in TO_POLITE])
def test_to_polite(plain, polite):
    assert to_polite(plain) == polite


@pytest.mark.parametrize(("plain", "polite"), TO_PLAIN, ids=[p for _, p in TO_PLAIN])
def test_to_plain(plain, polite):
    assert to_plain(polite) == plain


@pytest.mark.parametrize(("plain", "polite"), TO_POLITE, ids=[p for _, p in TO_POLITE])
def test_text_in_target_style_comes_back_unchanged(plain, polite):
    assert to_polite(polite) == polite


@pytest.mark.parametrize(("plain", "polite"), TO_PLAIN, ids=[p for p, _ in TO_PLAIN])
def test_plain_text_unchanged_by_to_plain(plain, polite):
    assert to_plain(plain) == plain


def test_lines_are_converted_independently_and_kept():
    text = "明日は雨だ。\n\n傘を持って行く。"
    assert to_polite(text) == "明日は雨です。\n\n傘を持って行きます。"
    assert to_plain(to_polite(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a final particle that is not kept across styles (な: prohibition) leaves the sentence alone
        ("そこへ行くな。", "そこへ行くな。"),
        ("知らないわ。", "知らないわ。"),
        # ending in a closing bracket: the predicate inside the quote is not this sentence's
        ("彼の返事は「行かない」", "彼の返事は「行かない」"),
        # text without sentence punctuation still has a final predicate
        ("駅まで歩く", "駅まで歩きます"),
        ("", ""),
        ("abc", "abc"),
    ],
)
def test_to_polite_edge_cases(text, expected):
    assert to_polite(text) == expected


def test_round_trip_on_bundled_corpus():
    """plain → polite → plain is the identity on (the plain form of) every bundled text, except
    である, whose polite form です comes back as だ."""
    from jaft.data.bundled import tokenizer_training_texts

    texts = [to_plain(t) for t in tokenizer_training_texts()]
    same = [t for t in texts if to_plain(to_polite(t)) == t]
    failures = [t for t in texts if t not in same]
    assert len(same) / len(texts) >= 0.99, failures[:5]
    assert all("である" in t for t in failures), failures[:5]


@pytest.mark.parametrize(
    ("ctype", "base", "expected"),
    [
        ("五段-カ行", "書く", ("書く", "書き", "書か", "書いた", "書こう")),
        ("五段-カ行", "行く", ("行く", "行き", "行か", "行った", "行こう")),
        ("五段-ガ行", "泳ぐ", ("泳ぐ", "泳ぎ", "泳が", "泳いだ", "泳ごう")),
        ("五段-サ行", "話す", ("話す", "話し", "話さ", "話した", "話そう")),
        ("五段-タ行", "待つ", ("待つ", "待ち", "待た", "待った", "待とう")),
        ("五段-ナ行", "死ぬ", ("死ぬ", "死に", "死な", "死んだ", "死のう")),
        ("五段-バ行", "遊ぶ", ("遊ぶ", "遊び", "遊ば", "遊んだ", "遊ぼう")),
        ("五段-マ行", "読む", ("読む", "読み", "読ま", "読んだ", "読もう")),
        ("五段-ラ行", "帰る", ("帰る", "帰り", "帰ら", "帰った", "帰ろう")),
        ("五段-ワア行", "買う", ("買う", "買い", "買わ", "買った", "買おう")),
        ("五段-ラ行", "いらっしゃる", ("いらっしゃる", "いらっしゃい", "いらっしゃら", "いらっしゃった", "いらっしゃろう")),
        ("上一段-マ行", "見る", ("見る", "見", "見", "見た", "見よう")),
        ("下一段-バ行", "食べる", ("食べる", "食べ", "食べ", "食べた", "食べよう")),
        ("カ行変格", "来る", ("来る", "来", "来", "来た", "来よう")),
        ("カ行変格", "くる", ("くる", "き", "こ", "きた", "こよう")),
        ("サ行変格", "する", ("する", "し", "し", "した", "しよう")),
        ("サ行変格", "信ずる", ("信ずる", "信じ", "信じ", "信じた", "信じよう")),
        ("助動詞-レル", "られる", ("られる", "られ", "られ", "られた", "られよう")),
    ],
)
def test_conjugation_forms(ctype, base, expected):
    assert tuple(forms(ctype, base)) == expected


@pytest.mark.parametrize(("ctype", "base"), [("文語四段-カ行", "書く"), ("五段-カ行", "書る"), ("", "")])
def test_unknown_conjugations_give_none(ctype, base):
    assert forms(ctype, base) is None


def test_package_import_does_not_load_fugashi():
    code = "import sys, jaft.japanese; print('fugashi' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_one_tagger_per_process():
    from jaft.japanese.analyzer import tagger

    assert tagger() is tagger()
