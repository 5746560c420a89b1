"""Normalization: the stored form keeps meaning; the key form is aggressive (tables of input → output)."""

import unicodedata

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
        ("本\x00文", "本文"),  # NUL: a UTF-16 file read byte-wise, a C string's terminator
        ("本\x00\x00文\x01", "本文\x01"),  # only NUL: other controls are left to the filters
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


def test_repetition_ratio_equals_the_share_of_repeated_ngrams():
    """The block shortcut gives exactly the set-of-n-grams share, on texts rich in repeats, around the
    length where the shortcut stops, for several n."""
    import random

    rng = random.Random(0)
    texts = ["", "あ" * 30, "同じ言葉を繰り返す。" * 45]
    for _ in range(3000):
        alphabet = rng.choice(["ab", "abc", "あいうえお漢字", "あいうえおかきくけこさしすせそ"])
        t = "".join(rng.choice(alphabet) for _ in range(rng.choice([rng.randint(0, 60), rng.randint(380, 420)])))
        if rng.random() < 0.3:
            t += t[: rng.randint(0, len(t))]
        texts.append(t)
    for text in texts:
        for n in (-1, 0, 1, 2, 3, 10):
            total = len(text) - n + 1
            expected = 0.0 if total < n else 1.0 - len({text[i : i + n] for i in range(total)}) / total
            assert repetition_ratio(text, n) == expected, (text, n)


def test_normalize_key_removes_exactly_whitespace_and_invisible_joiners():
    """normalize_key drops whitespace with str.split: the same key as one regex over \\s and the
    joiners, on every character (alone, in runs and between others)."""
    import re

    from jaft.japanese.normalize import _KEY_FOLD, _NEEDS_FOLD

    def by_regex(text: str) -> str:
        if _NEEDS_FOLD.search(text):
            text = text.translate(_KEY_FOLD)
        return re.sub(r"[\s\u200b-\u200d\u2060\ufeff]+", "", unicodedata.normalize("NFKC", text).casefold())

    everything = "".join(map(chr, [*range(0xD800), *range(0xE000, 0x110000)]))
    spaces = re.findall(r"[\s\u200b-\u200d\u2060\ufeff]", everything)
    assert len(spaces) > 25
    texts = [everything[i : i + 512] for i in range(0, len(everything), 512)]
    texts += [f"あ{ch}い{ch}{ch}a" for ch in spaces] + ["".join(spaces), " \u200b\tＡ\u3000ｶﾞ\n"]
    for text in texts:
        assert normalize_key(text) == by_regex(text), text
