"""Normalization: the stored form keeps meaning; the key form is aggressive (tables of input → output)."""

import pytest

from jaft.japanese.normalize import char_ratios, normalize_key, normalize_text, repetition_ratio


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # full-width ASCII letters and digits → half-width
        ("ＡＩモデル", "AIモデル"),
        ("価格は１２３４円", "価格は1234円"),
        ("ｐｙｔｈｏｎ３", "python3"),
        # half-width katakana → full-width, sound marks composed
        ("ｶﾀｶﾅ", "カタカナ"),
        ("ｶﾞｷﾞｸﾞ", "ガギグ"),
        ("ﾊﾟﾝ", "パン"),
        ("ｺｰﾋｰ", "コーヒー"),
        ("｢ﾃｽﾄ｣｡", "「テスト」。"),
        # kana followed by a combining sound mark composes
        ("か\u3099", "が"),
        ("ハ\u309a", "パ"),
        # meaning-bearing characters stay exactly as written
        ("①番線", "①番線"),
        ("10時〜18時", "10時〜18時"),
        ("10時～18時", "10時～18時"),
        ("㈱ジャフト", "㈱ジャフト"),
        ("今日は晴れ！明日は？", "今日は晴れ！明日は？"),
        ("（注）", "（注）"),
        ("全角　スペース", "全角　スペース"),
        ("神\ufa19", "神\ufa19"),  # CJK compatibility ideograph (names): NFC would replace it
        ("ｘ＋１＝３", "x＋1＝3"),  # full-width operators are not letters or digits
        # encoding artefacts
        ("\ufeff本文", "本文"),
        ("一行目\r\n二行目", "一行目\n二行目"),
        ("", ""),
        ("plain ascii", "plain ascii"),
    ],
)
def test_normalize_text_keeps_meaning(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("①番線", "1番線"),
        ("ＡＢＣ", "abc"),
        ("ABC", "abc"),
        ("ｶﾀｶﾅ", "カタカナ"),
        ("全角　スペース と 半角", "全角スペースと半角"),
        ("！？", "!?"),
        ("㈱", "(株)"),
        ("\ufeffテ\u200bスト", "テスト"),
    ],
)
def test_normalize_key_is_aggressive(raw, expected):
    assert normalize_key(raw) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [("ＡＩは①番です", "aiは1番です"), ("ｶﾀｶﾅ です", "カタカナです"), ("Hello", "ｈｅｌｌｏ")],
)
def test_different_spellings_share_a_key(a, b):
    assert normalize_key(a) == normalize_key(b)


@pytest.mark.parametrize(
    ("text", "letters", "ja", "hira"),
    [
        ("ひらがな", 4, 1.0, 1.0),
        ("カタカナ", 4, 1.0, 0.0),
        ("漢字", 2, 1.0, 0.0),
        ("abcd", 4, 0.0, 0.0),
        ("りんごが3個あります。", 9, 1.0, 8 / 9),
        ("123 !?", 0, 0.0, 0.0),
        ("日本語とEnglish", 11, 4 / 11, 1 / 11),
    ],
)
def test_char_ratios(text, letters, ja, hira):
    n, j, h = char_ratios(text)
    assert n == letters
    assert j == pytest.approx(ja)
    assert h == pytest.approx(hira)


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("今日は晴れ。", 0.0, 0.0),  # too short to judge
        ("春になると川沿いの桜並木が一斉に咲き始め、週末には多くの家族連れが花見に訪れる。", 0.0, 0.05),
        ("同じ言葉を繰り返す。" * 10, 0.8, 1.0),
    ],
)
def test_repetition_ratio(text, low, high):
    assert low <= repetition_ratio(text) <= high
