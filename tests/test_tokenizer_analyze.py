"""tokenizer analyze: figures checked on a hand-built byte-level BPE whose tokenization is known."""

import json

import pytest

from tests.conftest import run_jaft


@pytest.fixture(scope="module")
def handmade():
    """Byte-level BPE over raw bytes plus four merges: あ is one token, 駅 two partial pieces
    (e9a7 | 85), "ab" one token. Everything else stays one token per byte."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    b2u = bytes_to_unicode()
    vocab = {b2u[b]: b for b in range(256)}
    merges = []

    def merge(a, b):
        vocab[a + b] = len(vocab)
        merges.append((a, b))

    merge(b2u[0xE3], b2u[0x81])
    merge(b2u[0xE3] + b2u[0x81], b2u[0x82])  # あ
    merge(b2u[0xE9], b2u[0xA7])  # first two bytes of 駅
    merge("a", "b")
    tok = Tokenizer(models.BPE(vocab, merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    return tok


@pytest.mark.parametrize(
    ("text", "tokens", "partial", "script", "script_cpt"),
    [
        ("あ", 1, 0, "hiragana", 1.0),
        ("ああ", 2, 0, "hiragana", 1.0),
        ("駅", 2, 2, "kanji", 0.5),
        ("ab", 1, 0, "latin", 2.0),
        ("abc", 2, 0, "latin", 1.5),
        ("a駅", 3, 2, "kanji", 0.5),
        ("12", 2, 0, "digit", 1.0),
        ("カ", 3, 3, "katakana", 1 / 3),  # three single-byte pieces
    ],
)
def test_figures_on_known_tokenizations(handmade, text, tokens, partial, script, script_cpt):
    from jaft.tokenizer.analyze import analyze_tokenizer

    r = analyze_tokenizer(handmade, [text], top=5)
    assert r["tokens"] == tokens
    assert r["chars_per_token"] == round(len(text) / tokens, 4)
    assert r["bytes_per_token"] == round(len(text.encode()) / tokens, 4)
    assert r["partial_token_share"] == round(partial / tokens, 4)
    assert r["scripts"][script]["chars_per_token"] == pytest.approx(script_cpt, abs=1e-4)
    assert sum(s["tokens"] for s in r["scripts"].values()) == pytest.approx(tokens)
    assert sum(s["chars"] for s in r["scripts"].values()) == len(text)


def test_mixed_text_is_shared_among_scripts(handmade):
    from jaft.tokenizer.analyze import analyze_tokenizer

    r = analyze_tokenizer(handmade, ["a駅", "あab"], top=5)
    # a駅 → a | e9a7 | 85 ; あab → あ | ab
    assert r["tokens"] == 5
    assert r["scripts"]["latin"]["tokens"] == 2 and r["scripts"]["latin"]["chars"] == 3
    assert r["scripts"]["kanji"]["tokens"] == 2 and r["scripts"]["kanji"]["partial_token_share"] == 1.0
    assert r["scripts"]["hiragana"]["tokens"] == 1
    assert r["sentences"] == 2 and r["tokens_per_sentence"] == 2.5


def test_costly_words(handmade):
    from jaft.tokenizer.analyze import analyze_tokenizer

    r = analyze_tokenizer(handmade, ["駅に行く。駅は近い。", "駅です。"], top=50)
    words = {w["word"]: w for w in r["split_words"]}
    assert words["駅"]["count"] == 3 and words["駅"]["tokens"] == 2
    assert words["駅"]["pieces"] == ["<e9a7>", "<85>"]
    costs = [w["extra_tokens"] for w in r["split_words"]]
    assert costs == sorted(costs, reverse=True)
    assert all(w["extra_tokens"] == w["count"] * (w["tokens"] - 1) for w in r["split_words"])
    assert "あ" not in words  # a single token costs nothing extra


def test_side_by_side_render(handmade):
    from jaft.tokenizer.analyze import analyze_tokenizer, render

    texts = ["駅に行く。", "abc 12"]
    a = analyze_tokenizer(handmade, texts, name="A")
    b = analyze_tokenizer(handmade, texts, name="B")
    text = render([a, b], top=3, backend_b=handmade)
    assert "ratio" in text and "1.00×" in text
    assert "characters / token" in text and "kanji" in text and "partial UTF-8 tokens" in text


def test_cli_json(tiny_qwen, tmp_path):
    data = tmp_path / "ja.txt"
    data.write_text("駅まで歩いて十分です。\nThe station is ten minutes away.\n", encoding="utf-8")
    r = run_jaft("tokenizer", "analyze", "--model", str(tiny_qwen), "--data", str(data), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["texts"] == 2 and out["sentences"] == 2 and out["tokens"] > 0
    assert set(out["scripts"]) == {"kanji", "hiragana", "katakana", "latin", "digit", "other"}
    assert 0 <= out["partial_token_share"] <= 1
