"""The analyzer's morpheme offsets and sentence spans, column-wise (Tokens) and as Morph objects."""

from __future__ import annotations

import pytest

from jaft.japanese import analyzer
from jaft.japanese.analyzer import Morph, analyze, analyze_tokens, sentence_spans, spans_of

# Offsets come from MeCab's skipped whitespace + surface lengths; each row's morphemes must sit in
# the line exactly where a left-to-right search finds them.
OFFSET_LINES = [
    "Linux システムは便利です。",
    "  先頭に空白がある。",
    "末尾に空白がある。  ",
    "タブ\tで\t区切った\t行。",
    "全角　スペース　の　行。",
    "半角ｶﾀｶﾅとＡＢＣ１２３。",
    "絵文字😀を含む。",
    "Debian 12 (bookworm) を 2023-06-10 に リリース した。",
    "<think>\\n$x=2$</think>\tkeep",
    "「行こう。帰ろう。」と言った。それから寝た！？",
    "改行\r文字と\x0b垂直タブ\x0cと\u00a0空白。",  # other whitespace MeCab skips, beside the tab
    "\t\t先頭がタブ\t",
]


def _searched(line: str, surfaces: list[str]) -> list[int]:
    out, pos = [], 0
    for s in surfaces:
        i = line.find(s, pos)
        out.append(i)
        pos = i + len(s)
    return out


@pytest.mark.parametrize("line", OFFSET_LINES)
def test_offsets_match_the_line(line):
    t = analyze_tokens(line)
    assert len(t) > 0 and t.located
    assert t.start == _searched(line, t.surface)
    assert all(line[s : s + len(w)] == w for s, w in zip(t.start, t.surface, strict=True))
    assert t.end == [s + len(w) for s, w in zip(t.start, t.surface, strict=True)]
    morphs = analyze(line)
    assert [m.surface for m in morphs] == t.surface and [m.start for m in morphs] == t.start
    assert [m.pos1 for m in morphs] == t.pos1 and [m.orthBase for m in morphs] == t.orthBase


def test_a_newline_inside_a_line_is_whitespace():
    """analyze wants lines, but a stray newline is skipped like a space, not a broken row."""
    assert [(m.surface, m.start) for m in analyze("a \n b")] == [("a", 0), ("b", 4)]
    assert analyze_tokens("行く。\n来る。").start == analyze_tokens("行く。 来る。").start


@pytest.mark.parametrize("line", ["", " ", "\t", "   "])
def test_empty_and_blank_lines_have_no_morphemes(line):
    assert len(analyze_tokens(line)) == 0 and analyze(line) == []


def test_conjugation_columns():
    t = analyze_tokens("学校へ行きました")
    i = t.surface.index("行き")
    assert (t.pos1[i], t.cType[i], t.cForm[i], t.lemma[i], t.orthBase[i]) == (
        "動詞", "五段-カ行", "連用形-一般", "行く", "行く")
    assert t.cType[t.surface.index("まし")] == "助動詞-マス"


SPANS = [
    ("行く。来る。", ["行く。", "来る。"]),
    ("「行こう。帰ろう。」と言った。", ["「行こう。帰ろう。」と言った。"]),
    ("本当？！そうか…", ["本当？！", "そうか…"]),
    ("終わり。。。次", ["終わり。。。", "次"]),
    ("句点なし", ["句点なし"]),
    ("(括弧。閉じない", ["(括弧。閉じない"]),
]


@pytest.mark.parametrize(("line", "sentences"), SPANS)
def test_sentence_spans(line, sentences):
    t = analyze_tokens(line)
    spans = spans_of(t.surface, t.pos1)
    assert ["".join(t.surface[a:b]) for a, b in spans] == sentences
    assert sentence_spans(analyze(line)) == spans


def test_misplaced_surfaces_fall_back_to_search(monkeypatch):
    """If MeCab's surfaces did not add up to the line, each is searched for; one not found is unlocated."""

    class Tagger:
        def parse(self, text):
            rows = [("", "行く", "動詞"), ("", "XX", "名詞"), ("", "。", "補助記号")]
            return "\n".join(f"{ws}\t{s}\t{p}\t\t\t\t{s}\t{s}" for ws, s, p in rows)

    monkeypatch.setattr(analyzer, "tagger", lambda: Tagger())
    t = analyze_tokens("行く。")
    assert t.surface == ["行く", "XX", "。"] and t.start == [0, -1, 2] and t.end == [2, -1, 3] and not t.located
    assert analyze("行く。")[1] == Morph("XX", "名詞", "", "", "", "XX", "XX", -1)
