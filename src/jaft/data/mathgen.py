"""Japanese math word problems generated from templates, with answers computed, not written.

The bundled ``math_train.jsonl`` / ``math_eval.jsonl`` are this module's output (seed 004 format:
``{"problem", "solution": "<think>…</think><answer>…</answer>", "answer"}``). Problems are one or two
sentences and the reasoning one to three short steps, so a 2-layer model trained for a few minutes
on a CPU can learn the format. ``python -m jaft.data.mathgen`` rewrites the two files; a test checks
that they equal a fresh generation and recomputes every answer independently.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

NAMES = ("太郎", "花子", "さくら", "健太", "ゆい", "翔太", "美咲", "大輔", "陽菜", "蓮")
# (item, counter) pairs; problems mention the counter as the unit.
THINGS = (("りんご", "個"), ("みかん", "個"), ("鉛筆", "本"), ("ノート", "冊"), ("花", "本"),
          ("クッキー", "枚"), ("シール", "枚"), ("ボール", "個"), ("卵", "個"), ("カード", "枚"))
SHOP = (("パン", "個"), ("ノート", "冊"), ("鉛筆", "本"), ("りんご", "個"), ("ケーキ", "個"), ("消しゴム", "個"))

Problem = tuple[str, list[str], int]  # problem text, reasoning steps, integer answer


def _add(r: random.Random) -> Problem:
    name, (item, u) = r.choice(NAMES), r.choice(THINGS)
    a, b = r.randint(2, 40), r.randint(2, 30)
    return (f"{name}は{item}を{a}{u}持っています。{b}{u}もらうと、全部で何{u}になりますか。",
            [f"{a}+{b}={a + b}です。"], a + b)


def _give_away(r: random.Random) -> Problem:
    name, (item, u) = r.choice(NAMES), r.choice(THINGS)
    a = r.randint(10, 60)
    b = r.randint(1, a - 1)
    return (f"{name}は{item}を{a}{u}持っていました。友達に{b}{u}あげると、残りは何{u}ですか。",
            [f"{a}-{b}={a - b}です。"], a - b)


def _price(r: random.Random) -> Problem:
    item, u = r.choice(SHOP)
    p, n = r.choice(range(30, 300, 10)), r.randint(2, 9)
    return (f"1{u}{p}円の{item}を{n}{u}買うと、代金は何円ですか。", [f"{p}×{n}={p * n}です。"], p * n)


def _share(r: random.Random) -> Problem:
    item, u = r.choice(THINGS)
    n, q = r.randint(2, 9), r.randint(2, 12)
    return (f"{n * q}{u}の{item}を{n}人で同じ数ずつ分けると、1人分は何{u}ですか。",
            [f"{n * q}÷{n}={q}です。"], q)


def _change(r: random.Random) -> Problem:
    item, _ = r.choice(SHOP)
    pay = r.choice((500, 1000, 2000, 5000))
    price = r.choice(range(50, pay, 10))
    return (f"{pay}円を出して、{price}円の{item}を買いました。おつりは何円ですか。",
            [f"{pay}-{price}={pay - price}です。"], pay - price)


def _boxes(r: random.Random) -> Problem:
    item, u = r.choice(THINGS)
    a, b = r.randint(2, 12), r.randint(2, 9)
    return (f"{item}が{a}{u}ずつ入った箱が{b}箱あります。{item}は全部で何{u}ですか。",
            [f"{a}×{b}={a * b}です。"], a * b)


def _bus(r: random.Random) -> Problem:
    a = r.randint(10, 40)
    b, c = r.randint(1, a - 1), r.randint(1, 20)
    return (f"バスに{a}人乗っていて、次のバス停で{b}人降りて{c}人乗りました。今、何人乗っていますか。",
            [f"{a}-{b}={a - b}です。", f"{a - b}+{c}={a - b + c}です。"], a - b + c)


def _equation(r: random.Random) -> Problem:
    a, x, b = r.randint(2, 9), r.randint(1, 12), r.randint(1, 20)
    c = a * x + b
    return (f"方程式 {a}x+{b}={c} を解いてください。",
            [f"{a}x={c}-{b}={c - b}です。", f"x={c - b}÷{a}={x}です。"], x)


def _rectangle(r: random.Random) -> Problem:
    a, b = r.randint(2, 15), r.randint(2, 15)
    return (f"縦{a}cm、横{b}cmの長方形の面積は何平方センチメートルですか。", [f"{a}×{b}={a * b}です。"], a * b)


def _speed(r: random.Random) -> Problem:
    v, t = r.choice(range(20, 90, 5)), r.randint(2, 6)
    return (f"時速{v}kmで{t}時間進むと、何km進みますか。", [f"{v}×{t}={v * t}です。"], v * t)


def _age(r: random.Random) -> Problem:
    name = r.choice(NAMES)
    a = r.randint(8, 40)
    b = r.randint(1, min(a - 1, 10))
    return (f"{name}は{a}歳で、妹は{b}歳年下です。妹は何歳ですか。", [f"{a}-{b}={a - b}です。"], a - b)


def _average(r: random.Random) -> Problem:
    m = r.randint(50, 90)
    d1, d2 = r.randint(-10, 10), r.randint(-10, 10)
    s1, s2, s3 = m + d1, m + d2, m - d1 - d2
    if max(s1, s2, s3) > 100:
        s1, s2, s3 = m, m, m
    return (f"3回のテストの点数は{s1}点、{s2}点、{s3}点でした。平均点は何点ですか。",
            [f"合計は{s1}+{s2}+{s3}={3 * m}点です。", f"{3 * m}÷3={m}です。"], m)


def _remainder(r: random.Random) -> Problem:
    n = r.randint(3, 9)
    q, rem = r.randint(2, 9), r.randint(1, n - 1)
    a = n * q + rem
    return (f"{a}個のあめを{n}人に同じ数ずつ配ると、何個余りますか。", [f"{a}÷{n}={q}余り{rem}です。"], rem)


def _discount(r: random.Random) -> Problem:
    price, pct = r.choice(range(200, 5001, 100)), r.choice((10, 20, 25, 30, 50))
    off = price * pct // 100
    return (f"{price}円の品物が{pct}%引きで売られています。値段は何円ですか。",
            [f"{price}×{pct}÷100={off}円引きです。", f"{price}-{off}={price - off}です。"], price - off)


def _pages(r: random.Random) -> Problem:
    p, d = r.choice(range(5, 41, 5)), r.randint(3, 12)
    return (f"{p * d}ページの本を1日{p}ページずつ読むと、読み終わるまでに何日かかりますか。",
            [f"{p * d}÷{p}={d}です。"], d)


def _two_items(r: random.Random) -> Problem:
    p1, p2 = r.choice(range(80, 400, 10)), r.choice(range(80, 300, 10))
    return (f"{p1}円のパンと{p2}円の牛乳を買いました。合計は何円ですか。", [f"{p1}+{p2}={p1 + p2}です。"], p1 + p2)


def _square(r: random.Random) -> Problem:
    a = r.randint(2, 30)
    return (f"1辺が{a}cmの正方形のまわりの長さは何cmですか。", [f"{a}×4={4 * a}です。"], 4 * a)


def _buy_and_change(r: random.Random) -> Problem:
    item, u = r.choice(SHOP)
    p, n = r.choice(range(50, 200, 10)), r.randint(2, 5)
    pay = 1000 if p * n < 1000 else 2000
    return (f"1{u}{p}円の{item}を{n}{u}買って、{pay}円払いました。おつりは何円ですか。",
            [f"代金は{p}×{n}={p * n}円です。", f"{pay}-{p * n}={pay - p * n}です。"], pay - p * n)


TEMPLATES: dict[str, Callable[[random.Random], Problem]] = {
    "add": _add, "give_away": _give_away, "price": _price, "share": _share, "change": _change,
    "boxes": _boxes, "bus": _bus, "equation": _equation, "rectangle": _rectangle, "speed": _speed,
    "age": _age, "average": _average, "remainder": _remainder, "discount": _discount, "pages": _pages,
    "two_items": _two_items, "square": _square, "buy_and_change": _buy_and_change,
}


def solution_text(steps: list[str], answer: int) -> str:
    return f"<think>{''.join(steps)}</think><answer>{answer}</answer>"


def generate(n: int, seed: int = 2024) -> list[dict[str, str]]:
    """``n`` distinct problems, templates taken in turn, numbers drawn from ``seed``."""
    r = random.Random(seed)
    names = list(TEMPLATES)
    seen: set[str] = set()
    out: list[dict[str, str]] = []
    i = 0
    while len(out) < n:
        problem, steps, answer = TEMPLATES[names[i % len(names)]](r)
        i += 1
        if problem in seen:
            continue
        seen.add(problem)
        out.append({"problem": problem, "solution": solution_text(steps, answer), "answer": str(answer)})
    return out


def train_eval_split(n_train: int = 420, n_eval: int = 100, seed: int = 2024) -> tuple[list[dict], list[dict]]:
    """Disjoint training and held-out evaluation problems (shuffled, so both mix every template)."""
    rows = generate(n_train + n_eval, seed)
    random.Random(seed + 1).shuffle(rows)
    return rows[n_eval:], rows[:n_eval]


def render_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_bundled(samples: Path) -> None:
    from jaft.fsutil import write_text

    train, held_out = train_eval_split()
    write_text(samples / "math_train.jsonl", render_jsonl(train))
    write_text(samples / "math_eval.jsonl", render_jsonl(held_out))


if __name__ == "__main__":
    from jaft.data.bundled import samples_dir

    write_bundled(samples_dir())
    print(f"wrote {samples_dir() / 'math_train.jsonl'} and math_eval.jsonl")
