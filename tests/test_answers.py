"""Japanese answer normalization, kanji numerals, answer extraction and matching."""

from __future__ import annotations

import threading
from fractions import Fraction

import pytest

from jaft.japanese.answers import answers_match, extract_answer, normalize_answer, parse_kanji_number

NORMALIZE = [
    # full-width digits and punctuation
    ("１５", "15"),
    ("３．５", "3.5"),
    ("ｘ＝３", "3"),
    ("１，２００", "1200"),
    # minus signs
    ("−5", "-5"),
    ("ー5", "-5"),
    ("－５", "-5"),
    ("‐3", "-3"),
    ("答えはー5です", "-5"),
    ("マイナス3", "-3"),
    ("△500円", "-500"),
    ("メーター", "メーター"),  # a long vowel mark, not a minus
    ("+7", "7"),
    # thousands separators
    ("1,200円", "1200"),
    ("1,234,567", "1234567"),
    ("1，000人", "1000"),
    ("1,2", "1,2"),  # not a thousands separator: a pair
    ("¥1,200", "1200"),
    # kanji numerals
    ("三", "3"),
    ("二十五", "25"),
    ("千二百", "1200"),
    ("十", "10"),
    ("〇", "0"),
    ("1万2千", "12000"),
    ("1万2千円", "12000"),
    ("1.5万", "15000"),
    ("二〇二四年", "2024"),
    ("十二万三千四百五十六", "123456"),
    ("一億二千万", "120000000"),
    ("三個", "3"),
    ("百人", "100"),
    ("一つ", "1"),
    ("弐拾", "20"),
    ("合計三個", "3"),
    ("千葉", "千葉"),  # a place, not 1000
    ("一般", "一般"),
    ("二等辺三角形", "二等辺三角形"),
    # Japanese fractions and mixed numbers
    ("三分の二", "2/3"),
    ("3分の2", "2/3"),
    ("1と3分の2", "5/3"),
    ("2と1/2", "2.5"),
    # units and counters
    ("15個", "15"),
    ("3人", "3"),
    ("4本", "4"),
    ("7枚", "7"),
    ("2匹", "2"),
    ("5台", "5"),
    ("6冊", "6"),
    ("3回", "3"),
    ("12歳", "12"),
    ("30分", "30"),
    ("45秒", "45"),
    ("3時間", "3"),
    ("5日", "5"),
    ("2024年", "2024"),
    ("100m", "100"),
    ("12 cm", "12"),
    ("約3.5kg", "3.5"),
    ("100m²", "100"),
    ("25㎡", "25"),
    ("時速60km", "60"),
    ("3倍", "3"),
    ("20%", "20"),
    ("５０％", "50"),
    ("90°", "90"),
    ("3時半", "3時半"),  # half past three is not 3
    # phrases
    ("答えは15個です", "15"),
    ("答えは１，２００円です。", "1200"),
    ("よって、答えは約15個です。", "15"),
    ("したがって 42", "42"),
    ("答え：7", "7"),
    ("合計は8になります", "8"),
    ("6となります。", "6"),
    ("およそ100人くらい", "100"),
    ("The answer is 9.", "9"),
    ("**42**", "42"),
    ("「東京」", "東京"),
    ("東京です。", "東京"),
    # LaTeX
    (r"\boxed{3}", "3"),
    (r"\boxed{\frac{1}{2}}", "1/2"),
    (r"$\frac{3}{4}$", "3/4"),
    (r"-\dfrac{3}{4}", "-3/4"),
    (r"\frac12", "1/2"),
    (r"15 \text{個}", "15"),
    (r"12\,\mathrm{cm}", "12"),
    (r"90^\circ", "90"),
    (r"$\sqrt{2}$", r"\sqrt{2}"),
    (r"x = \frac{1}{3}", "1/3"),
    # canonical numbers
    ("3.50", "3.5"),
    ("015", "15"),
    ("15.", "15"),
    ("15.0", "15"),
]


@pytest.mark.parametrize(("text", "expected"), NORMALIZE)
def test_normalize_answer(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


KANJI = [
    ("一", 1),
    ("九", 9),
    ("十", 10),
    ("十一", 11),
    ("二十", 20),
    ("九十九", 99),
    ("百", 100),
    ("三百五", 305),
    ("千", 1000),
    ("千二百", 1200),
    ("二千二十四", 2024),
    ("一万", 10000),
    ("十万", 100000),
    ("百万", 1000000),
    ("一億", 100000000),
    ("一兆", 10**12),
    ("3千", 3000),
    ("1万2千", 12000),
    ("2.5万", 25000),
    ("一二三", 123),
    ("二〇二四", 2024),
    ("壱萬", 10000),
]


@pytest.mark.parametrize(("run", "value"), KANJI)
def test_parse_kanji_number(run: str, value: int) -> None:
    assert parse_kanji_number(run) == Fraction(value)


@pytest.mark.parametrize("run", ["十十", "万", "万一", "百千", "一万一億", "", "..", "1.2.3万"])
def test_parse_kanji_number_rejects_invalid(run: str) -> None:
    assert parse_kanji_number(run) is None


EXTRACT = [
    ("<think>x</think><answer>15</answer>", "15"),
    ("<think>x</think>\n<answer>\n 答えは15個です \n</answer>", "答えは15個です"),
    ("<answer>1</answer> then <answer>2</answer>", "2"),
    ("<Answer>3</ANSWER>", "3"),
    ("< answer >4</ answer >", "4"),
    ("<answer></answer>", ""),
    ("no tags at all", None),
    ("<answer>truncated", None),
    ("</answer> only closing", None),
    ("<think><answer>a</answer></think><answer>b</answer>", "b"),
]


@pytest.mark.parametrize(("completion", "expected"), EXTRACT)
def test_extract_answer(completion: str, expected: str | None) -> None:
    assert extract_answer(completion) == expected


MATCH = [
    # (prediction, gold, equal?)
    ("15", "15", True),
    ("１５", "15", True),
    ("答えは15個です", "15", True),
    ("15個", "十五", True),
    ("二十五", "25", True),
    ("千二百円", "1,200", True),
    ("1万2千円", "12000", True),
    ("−5", "-5", True),
    ("ー５", "-5", True),
    ("5", "-5", False),
    ("0.5", "1/2", True),
    (r"\frac{1}{2}", "0.5", True),
    (r"\boxed{\frac{2}{4}}", "1/2", True),
    ("三分の二", r"\frac{2}{3}", True),
    ("0.333333", "1/3", True),
    ("0.33", "1/3", False),
    ("15.0", "15", True),
    ("16", "15", False),
    ("1000000", "1000001", False),
    ("50%", "0.5", True),
    ("0.5", "50%", True),
    ("50%", "50", True),
    ("0.5", "50", False),
    (r"\sqrt{8}", r"2\sqrt{2}", True),
    (r"2\pi", r"\pi \cdot 2", True),
    (r"\pi", "3.14", False),
    (r"x^2+2x+1", r"(x+1)^2", True),
    ("x = 3", "3", True),
    ("東京", "東京", True),
    ("東京都", "東京", False),
    ("B", "b", True),
    ("3人と4人", "3", False),  # a hedge is not an answer
    ("1, 2, 3", "3", False),
    ("3 or 4", "3", False),
    ("", "3", False),
    ("3", "", False),
    ("約3.5kg", "3.5", True),
    ("よって、答えは約15個です。", "15", True),
]


@pytest.mark.parametrize(("pred", "gold", "expected"), MATCH)
def test_answers_match(pred: str, gold: str, expected: bool) -> None:
    assert answers_match(pred, gold) is expected


def test_answers_match_in_a_worker_thread() -> None:
    """math-verify's signal-based timeout fails outside the main thread; matching must not."""
    results: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.extend([answers_match(r"\sqrt{8}", r"2\sqrt{2}"), answers_match(r"x^2", "x*x")])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not errors, errors
    assert results == [True, True]
