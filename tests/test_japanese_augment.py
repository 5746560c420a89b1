"""Linguistic variants: each kind by table, labels, determinism, and the never-produce rules."""

import pytest

from jaft.japanese.augment import VARIANT_KINDS, generate_variants, variants_of_fields


def one(text: str, kind: str, seed: int = 0) -> str | None:
    out = generate_variants(text, 1, seed=seed, kinds=[kind])
    assert all(k == kind for k, _ in out)
    return out[0][1] if out else None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("毎朝コーヒーを飲む。", "毎朝コーヒーを飲みます。"),
        ("毎朝コーヒーを飲みます。", "毎朝コーヒーを飲む。"),
        ("昨日は雨だった。今日は晴れだ。", "昨日は雨でした。今日は晴れです。"),
        ("本日の天気、晴れ。", None),  # no predicate to convert: no variant
    ],
)
def test_style_variant(text, expected):
    assert one(text, "style") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ご飯を食べる。", "ご飯食べる。"),
        ("時間がない。", "時間ない。"),
        ("これは何だ。", "これ何だ。"),
        ("今日は暑い。", "今日暑い。"),
        ("日本語が分かる。", "日本語分かる。"),
        ("本を読むことを忘れた。", "本読むことを忘れた。"),  # こと を stays
        ("雨が降る。", None),  # が before an ordinary verb is not dropped
        ("毎朝コーヒーを飲みます。", None),  # polite register keeps its particles
    ],
)
def test_particle_omission_variant(text, expected):
    assert one(text, "particle_omission") == expected


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("とても寒い。", {"大変寒い。", "すごく寒い。"}),
        ("少し休もう。", {"ちょっと休もう。"}),
        ("やはり雨だ。", {"やっぱり雨だ。"}),
        ("かなり高い。", {"ずいぶん高い。", "相当高い。"}),
        ("天気がいい。", {None}),
    ],
)
def test_adverb_variant(text, allowed):
    assert one(text, "adverb") in allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("彼は学生だ。", "彼は学生である。"),
        ("これは問題である。", "これは問題だ。"),
        ("行くのだ。", "行くんだ。"),
        ("行くんです。", "行くのです。"),
        ("明日は晴れると思う。", "明日は晴れると考える。"),
        ("明日は晴れると思います。", "明日は晴れると考えます。"),
        ("急がなければならない。", "急がなくてはならない。"),
        ("雨のようだ。", "雨みたいだ。"),
        ("雨みたいだ。", "雨のようだ。"),
        ("行くみたいです。", "行くようです。"),
        ("行きました。", None),
    ],
)
def test_sentence_final_variant(text, expected):
    assert one(text, "sentence_final") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("茶を飲む。", "お茶を飲む。"),
        ("お茶を飲む。", "茶を飲む。"),
        ("店で野菜を買った。", "お店でお野菜を買った。"),
        ("日本茶を飲む。", None),  # part of a compound: no prefix
        ("花屋に行く。", None),
        ("私の名前は田中です。", None),  # 名前 is not on the list: お名前 would honour the speaker
    ],
)
def test_honorific_variant(text, expected):
    assert one(text, "honorific") == expected


TEXTS = [
    "今日はとても暑い。ご飯を食べたら、お茶を飲もう。",
    "私は毎朝コーヒーを飲みます。それはとても大事な時間だと思います。",
    "駅前の店で野菜を買った。時間がないので、急がなければならない。",
    "これは重要な問題である。",
]


@pytest.mark.parametrize("text", TEXTS)
def test_variants_are_labelled_distinct_and_never_the_original(text):
    out = generate_variants(text, 5, seed=3)
    assert out, text
    kinds = [k for k, _ in out]
    texts = [t for _, t in out]
    assert set(kinds) <= set(VARIANT_KINDS)
    assert len(set(kinds)) == len(kinds)
    assert len(set(texts)) == len(texts)
    assert text not in texts


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_number_of_variants_is_capped(n):
    assert len(generate_variants(TEXTS[0], n, seed=1)) == n


def test_deterministic_for_a_seed():
    a = [generate_variants(t, 2, seed=7) for t in TEXTS]
    b = [generate_variants(t, 2, seed=7) for t in TEXTS]
    assert a == b


def test_all_fields_of_a_record_vary_together():
    [v] = variants_of_fields(["明日は雨だ。", "傘を持って行く。"], 1, kinds=["style"])
    assert v.texts == ("明日は雨です。", "傘を持って行きます。")
    assert v.detail == "to polite"


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown variant kind"):
        generate_variants("明日は雨だ。", 1, kinds=["particle_swap"])


_SWAPS = {("が", "を"), ("を", "が"), ("に", "で"), ("で", "に")}


def _is_particle_swap(a: str, b: str) -> bool:
    if len(a) != len(b) or a == b:
        return False
    return all((x, y) in _SWAPS for x, y in zip(a, b, strict=True) if x != y)


def _is_deletion_of(original: str, variant: str, allowed: set[str]) -> bool:
    """``variant`` is ``original`` with some characters from ``allowed`` removed."""
    i = 0
    removed = []
    for ch in original:
        if i < len(variant) and variant[i] == ch:
            i += 1
        else:
            removed.append(ch)
    return i == len(variant) and bool(removed) and set(removed) <= allowed


def test_no_particle_substitutions_on_the_bundled_corpus():
    from jaft.data.bundled import tokenizer_training_texts

    texts = list(tokenizer_training_texts())[:400]
    checked = 0
    for text in texts:
        for kind, variant in generate_variants(text, len(VARIANT_KINDS), seed=0):
            checked += 1
            assert not _is_particle_swap(text, variant), (text, variant)
            if kind == "particle_omission":
                assert _is_deletion_of(text, variant, {"は", "が", "を"}), (text, variant)
    assert checked > 200


def test_edits_over_unlocated_morphemes_are_left_out():
    """A morpheme MeCab could not place in the line (start -1) is never rewritten; other edits still are."""
    from jaft.japanese.augment import Analysed

    a = Analysed("雨が降る。風が吹く。")
    t = a.tokens[0]
    first, second = t.surface.index("降る"), t.surface.index("吹く")
    assert a.rewrite(lambda t, spans: [(first, first + 1, "止む"), (second, second + 1, "止む")]) == (
        "雨が止む。風が止む。", 2)
    t.start[second] = -1
    assert a.rewrite(lambda t, spans: [(first, first + 1, "止む"), (second, second + 1, "止む")]) == (
        "雨が止む。風が吹く。", 1)
