"""Reward functions: tables of completions → scores, in TRL's calling convention."""

from __future__ import annotations

import functools
import pickle
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jaft.errors import JaftError
from jaft.rewards import (
    REWARDS,
    accuracy_reward,
    format_reward,
    japanese_share,
    language_consistency_reward,
    length_penalty,
    reasoning_block,
    repetition_penalty,
    resolve_reward,
    template_opens_think,
    tiered_reward,
)

R1_PROMPT = "<｜User｜>3と4を足すといくつですか？<｜Assistant｜><think>\n"  # R1-Distill generation prompt
PLAIN_PROMPT = "<|im_start|>user\n3と4を足すといくつですか？<|im_end|>\n<|im_start|>assistant\n"
CHAT_PROMPT = [{"role": "user", "content": "3と4を足すといくつですか？"}]
GOOD = "<think>\n3と4を足すと7です。\n</think>\n<answer>7</answer>"
OPEN = "3と4を足すと7です。\n</think>\n<answer>7</answer>"  # the prompt opened <think>


def msg(content: str, **extra: Any) -> list[dict[str, Any]]:
    return [{"role": "assistant", "content": content, **extra}]


def trl_kwargs(**columns: Any) -> dict[str, Any]:
    """The extra keyword arguments TRL 1.x passes to every reward function."""
    return {"trainer_state": None, "log_extra": lambda *a, **k: None, "log_metric": lambda *a, **k: None, **columns}


# --------------------------------------------------------------------------------------------------
# format

FORMAT = [
    # (completion, prompt, expected)
    (GOOD, None, 1.0),
    (GOOD, PLAIN_PROMPT, 1.0),
    (GOOD, CHAT_PROMPT, 1.0),
    ("<think>考える</think><answer>7</answer>", None, 1.0),
    ("  <think>\n考える\n</think>\n\n<answer>\n7\n</answer>\n", None, 1.0),
    (GOOD + "<|im_end|>", None, 1.0),
    (GOOD + "<｜end▁of▁sentence｜>", None, 1.0),
    (GOOD + "\n</s>\n", None, 1.0),
    (msg(GOOD), CHAT_PROMPT, 1.0),
    # the R1 template opened <think> in the prompt
    (OPEN, R1_PROMPT, 1.0),
    (OPEN, None, 1.0),
    (OPEN, CHAT_PROMPT, 1.0),
    (msg(OPEN), CHAT_PROMPT, 1.0),
    (GOOD, R1_PROMPT, 0.0),  # a second <think> after the prompt's: two reasoning blocks
    (OPEN, PLAIN_PROMPT, 0.0),  # nobody opened the reasoning block
    # reasoning split off by the tokenizer's response parser
    (msg("<answer>7</answer>", reasoning_content="3と4で7。"), CHAT_PROMPT, 1.0),
    # broken
    ("<answer>7</answer>", None, 0.0),
    ("<think>考える</think>", None, 0.0),
    ("<think>考える</think>7", None, 0.0),
    ("<answer>7</answer><think>考える</think>", None, 0.0),
    ("<think>考える</think><answer>7</answer>\nおまけの文章", None, 0.0),
    ("<think>考える</think>説明<answer>7</answer>", None, 0.0),
    ("<think>a</think><think>b</think><answer>7</answer>", None, 0.0),
    ("<think>a</think><answer>7</answer><answer>8</answer>", None, 0.0),
    ("<think></think><answer>7</answer>", None, 0.0),  # empty reasoning
    ("<think>考える</think><answer> </answer>", None, 0.0),  # empty answer
    ("前置き<think>考える</think><answer>7</answer>", None, 0.0),
    ("<think>考える<answer>7</answer>", None, 0.0),  # reasoning never closed
    ("<Think>考える</Think><answer>7</answer>", None, 0.0),  # tags are exact
    ("", None, 0.0),
    (msg(""), CHAT_PROMPT, 0.0),
]


@pytest.mark.parametrize(("completion", "prompt", "expected"), FORMAT)
def test_format_reward(completion: Any, prompt: Any, expected: float) -> None:
    prompts = None if prompt is None else [prompt]
    assert format_reward([completion], prompts=prompts, **trl_kwargs()) == [expected]


@pytest.mark.parametrize(
    ("completion", "think_in_prompt", "expected"),
    [(OPEN, True, 1.0), (GOOD, True, 0.0), (OPEN, False, 0.0), (GOOD, False, 1.0)],
)
def test_format_reward_told_where_think_opens(completion: str, think_in_prompt: bool, expected: float) -> None:
    # chat prompts hide the template; the caller knows it and says so
    assert format_reward([completion], prompts=[CHAT_PROMPT], think_in_prompt=think_in_prompt) == [expected]
    bound = resolve_reward("format", think_in_prompt=think_in_prompt)
    assert bound([completion], prompts=[CHAT_PROMPT]) == [expected]


# --------------------------------------------------------------------------------------------------
# accuracy


def wrap(answer: str) -> str:
    return f"<think>\n計算します。\n</think>\n<answer>{answer}</answer>"


ACCURACY = [
    # (completion, gold, expected)
    (wrap("7"), "7", 1.0),
    (wrap("８"), "8", 1.0),
    (wrap("答えは15個です"), "15", 1.0),
    (wrap("答えは１５個です。"), "15", 1.0),
    (wrap("十五"), "15", 1.0),
    (wrap("二十五人"), "25", 1.0),
    (wrap("千二百円"), "1200", 1.0),
    (wrap("1,200円"), "1200", 1.0),
    (wrap("１，２００円"), "1,200円", 1.0),
    (wrap("1万2千円"), "12000", 1.0),
    (wrap("−5"), "-5", 1.0),
    (wrap("ー5"), "-5", 1.0),
    (wrap("5"), "-5", 0.0),
    (wrap("3分の2"), r"\frac{2}{3}", 1.0),
    (wrap(r"\frac{1}{2}"), "0.5", 1.0),
    (wrap(r"\boxed{\dfrac{3}{4}}"), "0.75", 1.0),
    (wrap(r"$2\sqrt{2}$"), r"\sqrt{8}", 1.0),
    (wrap("25%"), "0.25", 1.0),
    (wrap("よって、答えは約3.5kgです。"), "3.5", 1.0),
    (wrap("東京"), "東京", 1.0),
    (wrap("大阪"), "東京", 0.0),
    (wrap("16"), "15", 0.0),
    (wrap("3人と4人"), "3", 0.0),
    (wrap(""), "7", 0.0),
    ("<think>7です</think>", "7", 0.0),  # no answer block
    ("答えは7です", "7", 0.0),
    (OPEN, "7", 1.0),  # the R1 open-<think> completion
    (msg(wrap("答えは7")), "7", 1.0),
    (msg(wrap("6")), "7", 0.0),
    (wrap("7"), None, 0.0),  # a row without gold scores 0
]


@pytest.mark.parametrize(("completion", "gold", "expected"), ACCURACY)
def test_accuracy_reward(completion: Any, gold: str | None, expected: float) -> None:
    assert accuracy_reward(completions=[completion], answer=[gold], prompts=[R1_PROMPT], **trl_kwargs()) == [expected]


def test_accuracy_reward_needs_the_answer_column() -> None:
    with pytest.raises(JaftError, match="'answer' column"):
        accuracy_reward([wrap("7")], prompts=["p"])


# --------------------------------------------------------------------------------------------------
# language consistency


def think(reasoning: str) -> str:
    return f"<think>{reasoning}</think><answer>1</answer>"


LANGUAGE = [
    # (completion, prompt, expected)
    (think("まず3と4を足します。"), None, 1.0),
    (think("カタカナとひらがなと漢字"), None, 1.0),
    (think("ｶﾀｶﾅ"), None, 1.0),  # half-width katakana
    (think("ｶﾞｲﾄﾞ"), None, 1.0),  # with half-width voicing marks
    (think("First add the numbers."), None, 0.0),
    (think("abcd あいうえ"), None, 0.5),
    (think("Let me think. まず足す"), None, 4 / 14),
    (think("x + y = 7 なので x は 3"), None, 1.0),  # single-letter variables are mathematics
    (think(r"$\frac{a}{b}$ を計算する"), None, 1.0),  # so are $…$ spans
    (think(r"\frac{1}{2} を足す"), None, 1.0),  # and LaTeX commands
    (think("πr² を求める"), None, 1.0),  # Greek letters too
    (think("首先我们计算这个"), None, 5 / 8),  # simplified Chinese: 们 计 这 are not Japanese (个 is in JIS)
    (think("我们这样说"), None, 1 / 5),
    (think("안녕하세요 こんにちは"), None, 0.5),
    (think("Привет мир"), None, 0.0),
    (think("12345 + 678 = 13023"), None, 0.0),  # no letters at all
    (think(""), None, 0.0),
    ("<answer>1</answer>", None, 0.0),  # no reasoning block
    ("plain text without tags", None, 0.0),
    ("日本語で考える</think><answer>1</answer>", R1_PROMPT, 1.0),  # R1 open <think>
    ("日本語で考える", R1_PROMPT, 1.0),  # truncated before </think>: all reasoning
    ("<think>日本語で考え続けて", None, 1.0),
    (msg(think("日本語")), CHAT_PROMPT, 1.0),
    (msg("<answer>1</answer>", reasoning_content="Japanese reasoning ここ"), CHAT_PROMPT, 2 / 19),
]


@pytest.mark.parametrize(("completion", "prompt", "expected"), LANGUAGE)
def test_language_consistency_reward(completion: Any, prompt: Any, expected: float) -> None:
    prompts = None if prompt is None else [prompt]
    (score,) = language_consistency_reward([completion], prompts=prompts, **trl_kwargs())
    assert score == pytest.approx(expected)
    assert 0.0 <= score <= 1.0


@pytest.mark.parametrize(
    ("text", "think_in_prompt", "expected"),
    [
        ("<think>a</think>b", None, "a"),
        ("a</think>b", None, "a"),
        ("a</think>b", True, "a"),
        ("<think>a<answer>b</answer>", None, "a"),
        ("a<answer>b</answer>", True, "a"),
        ("a<answer>b</answer>", None, None),
    ],
)
def test_reasoning_block(text: str, think_in_prompt: bool | None, expected: str | None) -> None:
    assert reasoning_block(text, think_in_prompt) == expected


def test_japanese_share_ignores_tags() -> None:
    assert japanese_share("<think>あ</think>") == 1.0


# --------------------------------------------------------------------------------------------------
# tiered (seed 004: 0 / 1 / 10)

TIERED = [
    # (completion, gold, prompt, expected)
    (wrap("7"), "7", None, 10.0),
    (wrap("答えは７個です。"), "7", None, 10.0),
    (wrap("七"), "7", None, 10.0),
    (wrap("−3"), "-3", None, 10.0),
    (wrap("1,200円"), "1200", None, 10.0),
    (wrap(r"\frac{1}{2}"), "0.5", None, 10.0),
    (wrap("3分の1"), "1/3", None, 10.0),
    (wrap("8"), "7", None, 1.0),
    (wrap("大阪"), "東京", None, 1.0),
    (wrap("3"), "-3", None, 1.0),
    (wrap("わからない"), "7", None, 1.0),
    (OPEN, "7", R1_PROMPT, 10.0),
    (OPEN.replace(">7<", ">8<"), "7", R1_PROMPT, 1.0),
    (GOOD, "7", R1_PROMPT, 0.0),  # duplicated <think> after the R1 prompt
    (msg(GOOD), "7", CHAT_PROMPT, 10.0),
    (msg(OPEN), "7", CHAT_PROMPT, 10.0),
    ("<answer>7</answer>", "7", None, 0.0),  # right answer, bad format
    ("答えは7です", "7", None, 0.0),
    (wrap("7") + "\nおまけ", "7", None, 0.0),
    ("<think>7</think>", "7", None, 0.0),
    ("", "7", None, 0.0),
]


@pytest.mark.parametrize(("completion", "gold", "prompt", "expected"), TIERED)
def test_tiered_reward(completion: Any, gold: str, prompt: Any, expected: float) -> None:
    prompts = None if prompt is None else [prompt]
    assert tiered_reward([completion], answer=[gold], prompts=prompts, **trl_kwargs()) == [expected]


def test_tiered_reward_levels_are_configurable() -> None:
    bound = resolve_reward("tiered", bad_format=-1.0, wrong_answer=0.0, right_answer=2.0)
    completions = ["x", wrap("8"), wrap("7")]
    assert bound(completions, answer=["7"] * 3) == [-1.0, 0.0, 2.0]


# --------------------------------------------------------------------------------------------------
# length

LENGTH = [
    # (length, max_length, cache, expected)
    (0, 100, 20, 0.0),
    (10, 100, 20, 0.0),
    (80, 100, 20, 0.0),
    (81, 100, 20, -0.05),
    (85, 100, 20, -0.25),
    (90, 100, 20, -0.5),
    (95, 100, 20, -0.75),
    (100, 100, 20, -1.0),
    (101, 100, 20, -1.0),
    (500, 100, 20, -1.0),
    (50, 100, 100, -0.5),
    (1, 100, 100, -0.01),
    (0, 100, 100, 0.0),
    (768, 1024, 256, 0.0),
    (896, 1024, 256, -0.5),
    (1024, 1024, 256, -1.0),
    (4096, 4096, 1024, -1.0),
    (3072, 4096, 1024, 0.0),
    (3584, 4096, 1024, -0.5),
    (10, 10, 1, -1.0),
    (9, 10, 1, 0.0),
]


@pytest.mark.parametrize(("length", "max_length", "cache", "expected"), LENGTH)
def test_length_penalty_in_tokens(length: int, max_length: int, cache: int, expected: float) -> None:
    ids = [[1] * length]
    (score,) = length_penalty(["ignored"], completion_ids=ids, max_length=max_length, cache=cache, **trl_kwargs())
    assert score == pytest.approx(expected)


@pytest.mark.parametrize(
    ("completion", "expected"),
    [("あ" * 80, 0.0), ("あ" * 90, -0.5), ("あ" * 100, -1.0), (msg("漢" * 90), -0.5), ("", 0.0)],
)
def test_length_penalty_in_characters(completion: Any, expected: float) -> None:
    bound = resolve_reward("length", max_length=100, cache=20)
    assert bound([completion]) == [pytest.approx(expected)]  # no completion_ids: characters
    assert length_penalty([completion], completion_ids=[[1]], max_length=100, cache=20, unit="chars") == [
        pytest.approx(expected)
    ]


@pytest.mark.parametrize(
    "params",
    [{"unit": "words"}, {"max_length": 0}, {"cache": 0}, {"cache": 200, "max_length": 100}, {"unit": "tokens"}],
)
def test_length_penalty_rejects_bad_parameters(params: dict[str, Any]) -> None:
    with pytest.raises(JaftError, match="length_penalty"):
        length_penalty(["x"], **params)


# --------------------------------------------------------------------------------------------------
# repetition

NATURAL = (
    "太郎君はりんごを5個持っていました。花子さんから3個もらったので、合わせて8個になりました。"
    "そのうち2個を弟にあげると、残りは6個です。最後に、友だちと1個ずつ分けることにしました。"
)
LOOP = "まず3と4を足します。" * 30

REPETITION = [
    # (completion, n, expected score range)
    (NATURAL, 12, (-0.02, 0.0)),
    (NATURAL, 8, (-0.05, 0.0)),
    (think(NATURAL), 12, (-0.02, 0.0)),
    (msg(NATURAL), 12, (-0.02, 0.0)),
    (LOOP, 12, (-1.0, -0.9)),
    (LOOP, 4, (-1.0, -0.9)),
    (msg(LOOP), 12, (-1.0, -0.9)),
    (NATURAL + "もう一度確認します。" * 10, 12, (-0.6, -0.3)),
    ("あ" * 200, 12, (-1.0, -0.98)),
    ("あいうえお" * 40, 5, (-1.0, -0.97)),
    ("", 12, (0.0, 0.0)),
    ("短い", 12, (0.0, 0.0)),
    ("あいうえおかきくけこ", 12, (0.0, 0.0)),  # shorter than n
    ("あいうえおかきくけこさしす", 12, (0.0, 0.0)),
    ("abcabc", 3, (-0.25, -0.25)),  # abc bca cab abc: 4 trigrams, 3 unique
    ("ab ab", 2, (-0.25, -0.25)),  # "ab", "b ", " a", "ab"
    ("ab   \n\tab", 2, (-0.25, -0.25)),  # whitespace runs count as one space
    ("The cat sat on the mat. " * 20, 12, (-1.0, -0.9)),
    ("一二三四五六七八九十" * 2, 10, (-1 / 11, -1 / 11)),  # 11 grams, 10 unique
    ("<think>あいう</think><answer>え</answer>", 2, (0.0, 0.0)),  # tags are not text
    ("同じ文。" * 50, 3, (-1.0, -0.95)),
]


@pytest.mark.parametrize(("completion", "n", "bounds"), REPETITION)
def test_repetition_penalty(completion: Any, n: int, bounds: tuple[float, float]) -> None:
    (score,) = repetition_penalty([completion], n=n, **trl_kwargs())
    low, high = bounds
    assert low - 1e-9 <= score <= high + 1e-9
    assert -1.0 <= score <= 0.0


def test_repetition_penalty_scale() -> None:
    bound = resolve_reward("repetition", n=2, scale=0.5)
    assert bound(["ab ab"]) == [pytest.approx(-0.125)]


# --------------------------------------------------------------------------------------------------
# TRL calling convention, registry, resolution


def test_every_reward_takes_trls_keyword_call() -> None:
    """TRL calls reward(prompts=…, completions=…, completion_ids=…, **columns, trainer_state=…)."""
    completions = [msg(GOOD), msg("だめ")]
    kwargs = trl_kwargs(answer=["7", "7"], id=["a", "b"], meta=[{}, {}])
    for name, func in REWARDS.items():
        scores = func(prompts=[CHAT_PROMPT] * 2, completions=completions, completion_ids=[[1, 2], [3]], **kwargs)
        assert len(scores) == 2, name
        assert all(isinstance(s, float) for s in scores), name
    assert REWARDS["tiered"](prompts=[CHAT_PROMPT] * 2, completions=completions, **kwargs) == [10.0, 0.0]


def test_reward_names_for_trl_logs() -> None:
    # TRL names a reward by `getattr(func, "__name__", type(func).__name__)` after unwrapping partials
    # (trl.trainer.utils.get_callable_name; not imported here: importing trl takes seconds).
    names = {name: resolve_reward(name).__name__ for name in REWARDS}
    assert names == {
        "format": "format_reward",
        "accuracy": "accuracy_reward",
        "language_consistency": "language_consistency_reward",
        "tiered": "tiered_reward",
        "length": "length_penalty",
        "repetition": "repetition_penalty",
    }
    assert resolve_reward("length", max_length=10).__name__ == "length_penalty"


def test_bound_reward_pickles() -> None:
    bound = resolve_reward("length", max_length=100, cache=20)
    again = pickle.loads(pickle.dumps(bound))
    assert again(["あ" * 90]) == bound(["あ" * 90]) == [-0.5]
    assert "max_length=100" in repr(bound)


def test_resolve_reward_by_dotted_path() -> None:
    assert resolve_reward("jaft.rewards:format_reward") is format_reward
    assert resolve_reward("jaft.rewards.format_reward") is format_reward
    partial = resolve_reward("functools:partial")
    assert partial is functools.partial


def test_resolve_reward_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "my_rewards.py"
    path.write_text(
        textwrap.dedent(
            """
            def short(completions, **kwargs):
                return [1.0 if len(c) < 5 else 0.0 for c in completions]
            """
        ),
        encoding="utf-8",
    )
    func = resolve_reward(f"{path}:short")
    assert func(["abc", "abcdef"]) == [1.0, 0.0]
    assert pickle.loads(pickle.dumps(func))(["abc"]) == [1.0]


def test_resolve_reward_from_a_user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user_rewards_pkg.py").write_text(
        "def polite(completions, scale=1.0, **kwargs):\n    return [scale * ('です' in c) for c in completions]\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    func = resolve_reward("user_rewards_pkg:polite", scale=2.0)
    assert func(["そうです", "そうだ"]) == [2.0, 0.0]
    assert func.__name__ == "polite"
    sys.modules.pop("user_rewards_pkg", None)


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        ("formt", {}, "unknown reward 'formt'; did you mean 'format'"),
        ("acuracy", {}, "did you mean 'accuracy'"),
        ("zzz", {}, "unknown reward 'zzz' (rewards: format, accuracy"),
        ("no_such_pkg.mod:func", {}, "cannot import module 'no_such_pkg.mod'"),
        ("jaft.rewards:format_rewrd", {}, "has no attribute 'format_rewrd'; did you mean 'format_reward'"),
        ("jaft.rewards:REWARDS", {}, "is a dict, not a function"),
        ("missing/file.py:f", {}, "file missing/file.py not found"),
        ("length", {"max_len": 10}, "has no parameter 'max_len'; did you mean 'max_length'"),
        ("format", {"completions": []}, "has no parameter 'completions'"),
    ],
)
def test_resolve_reward_errors(spec: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(JaftError) as err:
        resolve_reward(spec, **params)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_resolve_reward_reports_a_failing_user_module(tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    with pytest.raises(JaftError, match=r"importing .*broken\.py failed: RuntimeError: boom"):
        resolve_reward(f"{path}:f")


def test_mismatched_lengths_are_errors() -> None:
    with pytest.raises(JaftError, match="2 completions but 1 prompts"):
        format_reward(["a", "b"], prompts=["p"])
    with pytest.raises(JaftError, match="2 completions but 1 answers"):
        accuracy_reward(["a", "b"], answer=["7"])


class _Template:
    def __init__(self, suffix: str) -> None:
        self.suffix = suffix

    def apply_chat_template(self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool) -> str:
        assert add_generation_prompt and not tokenize
        return f"<｜User｜>{messages[0]['content']}<｜Assistant｜>{self.suffix}"


@pytest.mark.parametrize(("suffix", "expected"), [("<think>\n", True), ("", False), ("<think></think>", False)])
def test_template_opens_think(suffix: str, expected: bool) -> None:
    assert template_opens_think(_Template(suffix)) is expected


def test_template_opens_think_on_the_tiny_r1_tokenizer(tiny_qwen: Path) -> None:
    from transformers import AutoTokenizer

    assert template_opens_think(AutoTokenizer.from_pretrained(tiny_qwen)) is True
