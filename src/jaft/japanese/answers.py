"""Final answers written the Japanese way, made comparable: normalization, extraction and matching.

math-verify compares mathematics well but misses how Japanese answers are written: full-width digits
(`１５`), `答えは15個です`, kanji numerals (`二十五`, `1万2千`), `−5` / `ー5` / `△5`, `1,200円`,
`3分の2`. :func:`normalize_answer` rewrites those into plain ASCII mathematics; :func:`answers_match`
then compares cheaply (exact numbers as fractions) and calls math-verify only for what is left
(LaTeX, `\\boxed{}`, surds, symbolic forms). Normalization is applied to gold and prediction alike,
so a rewrite can never make equal answers differ.

The rules, in the order they apply (repeated until nothing changes):
- LaTeX wrappers: the last `\\boxed{…}` / `\\fbox{…}`; `$…$`, `\\(…\\)`, `\\[…\\]`, also inline inside a
  longer answer (`$15$ 個`); `\\text{…}` and friends become their content; `\\,` `\\!` `\\;` spacing and
  `\\left`/`\\right` go.
- Unicode mathematics typed with an IME: vulgar fractions with their whole part (`2½` = 2.5), `√2` /
  `∛8` → `\\sqrt{2}` / `\\sqrt[3]{8}`, `∞` `±` `π` → `\\infty` `\\pm` `\\pi`, `⁄` (U+2044) → `/`.
- Superscript digits (`m²` → `m^2`), unit symbols (`㎡` → `m^2`), then NFKC (full-width → ASCII,
  half-width kana → full-width).
- Minus: `−` (U+2212) always; dashes (`‐ ‑ ‒ – — ―`), `ー`, `△`/`▲` (accounting) and `マイナス` only
  when a number follows, and `ー` only when not after katakana (`メーター` keeps its `ー`).
- Thousands separators: a comma between digits followed by exactly three digits (`1,200` → `1200`;
  `1,2` stays a pair).
- Phrases around the answer: `答えは`, `よって`, `したがって`, `約`, `合計`, `…です`, `…になります`,
  `…くらい`, trailing `。` etc.
- Kanji numerals (`〇一二三…十百千万億兆`, `壱弐参拾`, mixed `1万2千`, `1.5万`, positional
  `二〇二四`) are rewritten when they stand alone or next to a counter (`三個`, `十分`); a numeral
  inside a word (`千葉`, `一般`, `二等辺三角形`) is left alone.
- Ratios: `3割` = 0.3, `3割5分` = 0.35, `1割2分5厘` = 0.125 (`分`/`厘` only after `割`: alone `5分` is
  five minutes); a percentage matches its value / 100, so `3割` = `30%`.
- Choice labels in brackets, Latin, kana, 甲乙… or numbers: `(A)`, `（イ）`, `[ウ]`, `(1)`, `⑴` → the
  label (`①` is `1` by NFKC).
- `X分のY` → `Y/X`, `AとX分のY` → `A+Y/X`; `\\frac{a}{b}` of integers → `a/b`.
- Trailing units and counters, bare or in brackets (`15 (個)`) (円 個 人 本 枚 匹 台 冊 回 歳 分 秒 時間 日 年 m cm kg km/h … see
  ``_UNITS``), only right after a number, so a word answer is never cut.
- `%`, `％`, `パーセント` are removed; :func:`answers_match` also accepts the value / 100 for a
  percentage (`50%` = `0.5`).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from fractions import Fraction
from functools import lru_cache

__all__ = ["answers_match", "extract_answer", "is_han", "last_boxed", "normalize_answer", "parse_kanji_number"]

# --------------------------------------------------------------------------------------------------
# extraction

_ANSWER_OPEN = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)


def extract_answer(completion: str) -> str | None:
    """Content of the last `<answer>…</answer>` block, stripped; ``None`` when there is none.

    Tags may carry whitespace and any case (`< Answer >`, `</ answer>`). An opening tag without a
    closing one (a truncated completion) is no answer.
    """
    closes = list(_ANSWER_CLOSE.finditer(completion))
    if not closes:
        return None
    last_close = closes[-1]
    opens = [m for m in _ANSWER_OPEN.finditer(completion, 0, last_close.start())]
    if not opens:
        return None
    return completion[opens[-1].end() : last_close.start()].strip()


# --------------------------------------------------------------------------------------------------
# kanji numerals

_KANJI_DIGITS = {
    "〇": 0, "零": 0, "一": 1, "壱": 1, "二": 2, "弐": 2, "三": 3, "参": 3, "四": 4,
    "五": 5, "六": 6, "七": 7, "八": 8, "九": 9,
}  # fmt: skip
_SMALL_UNITS = {"十": 10, "拾": 10, "百": 100, "千": 1000, "阡": 1000}
_BIG_UNITS = {"万": 10**4, "萬": 10**4, "億": 10**8, "兆": 10**12}
_KANJI_NUMERAL_CHARS = "".join(_KANJI_DIGITS) + "".join(_SMALL_UNITS) + "".join(_BIG_UNITS)
# A run of numeral characters; ASCII digits and a decimal point may mix in (`1万2千`, `1.5万`).
_NUMERAL_RUN = re.compile(rf"[0-9.{_KANJI_NUMERAL_CHARS}]+")


def parse_kanji_number(run: str) -> Fraction | None:
    """Value of a kanji (or mixed kanji / ASCII) numeral, or ``None`` when it is not a valid one.

    ``二十五`` → 25, ``千二百`` → 1200, ``1万2千`` → 12000, ``1.5万`` → 15000, ``二〇二四`` → 2024.
    Units must fall from left to right within a group of four digits and between groups
    (``十十``, ``万億`` are invalid); a run may not start with ``万``/``億``/``兆``.
    """
    total = Fraction(0)
    section = Fraction(0)  # the part below the current big unit
    buf = ""  # digits not yet multiplied by a unit
    last_small = 10**5
    last_big = 10**17
    if not run or run[0] in _BIG_UNITS or run.strip(".") == "":
        return None
    for ch in run:
        if ch.isdigit() or ch == ".":
            buf += ch
        elif ch in _KANJI_DIGITS:
            buf += str(_KANJI_DIGITS[ch])
        elif ch in _SMALL_UNITS:
            unit = _SMALL_UNITS[ch]
            if unit >= last_small:
                return None
            coef = _to_fraction(buf) if buf else Fraction(1)
            if coef is None:
                return None
            section += coef * unit
            last_small, buf = unit, ""
        else:  # big unit
            unit = _BIG_UNITS[ch]
            if unit >= last_big:
                return None
            if buf:
                value = _to_fraction(buf)
                if value is None:
                    return None
                section += value
            if section == 0:
                return None
            total += section * unit
            section, buf, last_small, last_big = Fraction(0), "", 10**5, unit
    if buf:
        value = _to_fraction(buf)
        if value is None:
            return None
        section += value
    return total + section


def _to_fraction(digits: str) -> Fraction | None:
    if digits.count(".") > 1 or digits.startswith(".") or digits.endswith("."):
        return None
    return Fraction(digits)


def _format_number(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    # Terminating decimals print as decimals, others as fractions.
    den = value.denominator
    for p in (2, 5):
        while den % p == 0:
            den //= p
    if den == 1:
        text = f"{float(value):.12f}".rstrip("0").rstrip(".")
        if Fraction(text) == value:
            return text
    return f"{value.numerator}/{value.denominator}"


def is_han(ch: str) -> bool:
    """Whether ``ch`` is a Han character (kanji), including 々 and 〆."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0xF900 <= cp <= 0xFAFF
        or 0x20000 <= cp <= 0x2FA1F
        or ch in "々〆"
    )


# --------------------------------------------------------------------------------------------------
# units, counters and phrases

_UNITS = sorted(
    {
        # counters
        "個", "人", "名", "本", "枚", "匹", "頭", "羽", "台", "冊", "回", "度", "歳", "才", "つ",
        "点", "番", "倍", "通り", "組", "箱", "袋", "杯", "足", "着", "軒", "階", "問", "題",
        "ページ", "頁", "種類", "種", "色", "曲", "件", "隻", "機", "両", "粒", "束", "脚", "票",
        "行", "列", "文字", "字", "語", "段", "歩", "周", "辺", "面", "位",
        "個目", "人目", "回目", "度目", "番目", "本目", "枚目", "つ目", "日目", "年目",
        # time
        "秒", "秒間", "秒後", "分", "分間", "分後", "時", "時間", "時間後", "日", "日間", "日後",
        "週", "週間", "週間後", "か月", "ヶ月", "ケ月", "カ月", "ヵ月", "か月間", "ヶ月間",
        "カ月間", "月", "年", "年間", "年後", "年前", "日前",
        # money
        "円", "ドル", "セント", "ユーロ", "元",
        # lengths, weights, volumes, areas, speeds, angles, temperatures
        "km", "m", "cm", "mm", "μm", "kg", "g", "mg", "L", "mL", "ml", "dL", "dl", "cc",
        "km^2", "m^2", "cm^2", "mm^2", "m^3", "cm^3", "km/h", "m/s", "m/min", "km/s",
        "メートル", "センチメートル", "センチ", "ミリメートル", "ミリ", "キロメートル", "キロ",
        "キログラム", "グラム", "ミリグラム", "トン", "リットル", "ミリリットル", "デシリットル",
        "平方メートル", "平方センチメートル", "平方キロメートル", "立方メートル",
        "立方センチメートル", "ヘクタール", "アール", "°", "°C", "℃", "度C",
    },
    key=len,
    reverse=True,
)  # fmt: skip
_UNIT_RE = re.compile(r"\s*(?:" + "|".join(re.escape(u) for u in _UNITS) + r")$")
# A unit in brackets: `15 (個)`, `100（円）`, `3 [cm]`.
_BRACKET_UNIT_RE = re.compile(r"\s*[(（\[［]\s*(?:" + "|".join(re.escape(u) for u in _UNITS) + r")\s*[)）\]］]$")
# A unit is only cut right after a number (or a closing bracket of a LaTeX / parenthesized value).
_NUMBER_END = re.compile(r"[0-9})\]" + _KANJI_NUMERAL_CHARS + "]$")
# What may stand right before / after a kanji numeral that is to be rewritten (besides non-kanji).
_NUMERAL_PREFIXES = ("約", "第", "計", "各", "全", "毎", "速", "額", "率", "値", "数")
_NUMERAL_SUFFIXES = (*(u for u in _UNITS if is_han(u[0])), "割")

_LEADING = [
    re.compile(p)
    for p in (
        r"^(?:よって|したがって|従って|ゆえに|故に|∴|以上より|以上から|以上|つまり|結局|すなわち|即ち|結論として|結論は)[、,\s]*",
        r"^(?:最終的な|求める|正しい)?(?:答え|答|解答|正解|解|結果|値|回答)(?:は|が|:|=)\s*",
        r"^(?:最終的に|最終的には)[、,\s]*",
        r"^(?:合計|全部で|全部|全体で|合わせて|あわせて|総計|総数|総額)(?:は|で)?[、,\s]*",
        r"^(?:約|およそ|おおよそ|だいたい|大体|ほぼ|概ね|おおむね|ちょうど|丁度)\s*",
        r"^(?i:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*)",
        r"^(?:時速|分速|秒速)\s*",
        r"^[¥$€£]\s*(?=[-0-9])",
    )
]
_TRAILING = [
    re.compile(p)
    for p in (
        r"[\s。.!！、,]+$",
        r"(?:です|でした|である|であります|だ|だよ|ですね|になります|となります|になる|となる|になった|となった|でしょう|と思います|と考えられます|と求まります|が答え|が正解)$",
        r"(?:くらい|ぐらい|位|程度|ほど|前後|ちょうど|丁度|です)$",
    )
]
_QUOTES = {"「": "」", "『": "』", '"': '"', "'": "'", "**": "**", "【": "】", "`": "`"}

_TEXT_CMD = re.compile(r"\\(?:text|textrm|mathrm|mbox|textbf|mathbf|operatorname)\s*\{([^{}]*)\}")
_LATEX_SPACING = re.compile(r"\\[,;:!]|\\(?:quad|qquad)\b|\\ |\\left\b|\\right\b|~")
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
_SUPERSCRIPT_RUN = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+")
_UNIT_SYMBOLS = {"㎡": "m^2", "㎠": "cm^2", "㎢": "km^2", "㎥": "m^3", "㎤": "cm^3", "㎟": "mm^2"}

_DASHES = "‐‑‒–—―ー△▲"
_MINUS_ALWAYS = "−﹣➖"
_KATAKANA = re.compile(r"[\u30a1-\u30fa\u30fc]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_JA_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*分\s*の\s*(-?\d+(?:\.\d+)?)")
_MIXED = re.compile(r"^(\d+)\s*と\s*(\d+)/(\d+)$")
_PERCENT = re.compile(r"\s*(?:%|\\%|パーセント|percent)$")
_ASSIGN = re.compile(r"^[A-Za-z]\s*=\s*(?=[-0-9\\(])")
_LATEX_FRACTION = re.compile(r"^(-?)\\[dt]?frac\s*(?:\{\s*(-?\d+)\s*\}|(\d))\s*(?:\{\s*(\d+)\s*\}|(\d))$")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$")
_PLAIN_FRACTION = re.compile(r"^([-+]?\d+(?:\.\d+)?)/(\d+(?:\.\d+)?)$")
# Inline math inside a longer answer (`$15$ 個`, `答えは \(x=3\)`): its content, the rest kept.
_INLINE_MATH = re.compile(r"\$\$(.+?)\$\$|\$([^$]+?)\$|\\\((.+?)\\\)", re.S)
# Unicode mathematics as an IME types it. Vulgar fractions (½ ⅓ ¾ …), with a whole part before them
# (`2½` = 5/2), are read before NFKC (which would make `2½` into `21⁄2`).
_VULGAR = "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞⅐⅑⅒"
_VULGAR_NUMBER = re.compile(rf"(\d*)\s*([{_VULGAR}])")
_SQRT = re.compile(r"([√∛∜])\s*(\d+(?:\.\d+)?|[A-Za-z]|\([^()]*\)|\{[^{}]*\})")
_SYMBOLS = {"∞": "\\infty ", "±": "\\pm ", "∓": "\\mp ", "π": "\\pi ", "⁄": "/", "∕": "/"}
# Japanese ratios: 割 = 1/10, then 分 = 1/100 and 厘 = 1/1000 only after 割 (alone, 分 is minutes).
_WARI = re.compile(r"(\d+(?:\.\d+)?)\s*割(?:\s*(\d)\s*分)?(?:\s*(\d)\s*厘)?")
# A choice label in brackets: (A), （イ）, [ウ], (1), ⑴ (NFKC: (1)); ① is 1 after NFKC already.
_CHOICE = re.compile(r"^[(（\[［〔]\s*([A-Za-z]|\d{1,2}|[\u3041-\u3096\u30a1-\u30fa]|[甲乙丙丁戊己庚辛壬癸])\s*[)）\]］〕]$")
_MIXED_SPACE = re.compile(r"^(\d+)\s+(\d+)/(\d+)$")


def _unicode_math(text: str) -> str:
    """√2 → \\sqrt{2}, ∛8 → \\sqrt[3]{8}, ∞ → \\infty, ± → \\pm, ⁄ → /; after NFKC."""
    def root(m: re.Match[str]) -> str:
        arg = m.group(2)
        if arg[0] in "({" and arg[-1] in ")}":
            arg = arg[1:-1]
        index = {"√": "", "∛": "[3]", "∜": "[4]"}[m.group(1)]
        return f"\\sqrt{index}{{{arg}}}"

    if any(c in text for c in "√∛∜"):
        text = _SQRT.sub(root, text)
    for symbol, latex in _SYMBOLS.items():
        if symbol in text:
            text = text.replace(symbol, latex).strip()
    return text


def _vulgar(m: re.Match[str]) -> str:
    value = Fraction(unicodedata.numeric(m.group(2))).limit_denominator(100)
    return _format_number(int(m.group(1) or 0) + value)


def _wari(m: re.Match[str]) -> str:
    value = Fraction(m.group(1)) / 10 + Fraction(int(m.group(2) or 0), 100) + Fraction(int(m.group(3) or 0), 1000)
    return _format_number(value)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` (braces balanced), stripped; None when
    there is none. ``\\boxed 5`` (one token, no braces) gives ``5``. How MATH / competition_math
    solutions state their final answer (Hendrycks et al., 2021)."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    rest = text[idx + (6 if text.startswith("\\boxed", idx) else 5):]
    if rest[:1] == " " and rest[1:2] not in ("", "{"):
        token = rest[1:].split(maxsplit=1)
        return token[0].rstrip("$.") or None if token else None
    start = rest.find("{")
    if start < 0 or rest[:start].strip():
        return None
    depth = 0
    for i in range(start, len(rest)):
        if rest[i] == "{":
            depth += 1
        elif rest[i] == "}":
            depth -= 1
            if depth == 0:
                return rest[start + 1 : i].strip() or None
    return None


def _unwrap_boxed(text: str) -> str:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` with balanced braces, else ``text``."""
    boxed = last_boxed(text)
    return text if boxed is None else boxed


def _strip_math_delimiters(text: str) -> str:
    t = text.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if t.startswith(left) and t.endswith(right) and len(t) >= len(left) + len(right):
            return t[len(left) : len(t) - len(right)].strip()
    return t


def _fix_minus(text: str) -> str:
    for ch in _MINUS_ALWAYS:
        text = text.replace(ch, "-")
    text = re.sub(r"マイナス\s*(?=[0-9.\u4e00-\u9fff〇])", "-", text)
    out = []
    for i, ch in enumerate(text):
        if ch in _DASHES:
            nxt = text[i + 1 : i + 2]
            prev = text[i - 1] if i else ""
            acts_as_minus = bool(nxt) and (nxt.isdigit() or nxt in _KANJI_NUMERAL_CHARS)
            if ch == "ー" and prev and _KATAKANA.match(prev):
                acts_as_minus = False  # a long vowel mark inside a katakana word
            if acts_as_minus:
                out.append("-")
                continue
        out.append(ch)
    return "".join(out)


def _convert_kanji_numerals(text: str) -> str:
    def replace(m: re.Match[str]) -> str:
        run = m.group(0)
        if not any(c in _KANJI_NUMERAL_CHARS for c in run):
            return run
        before = text[: m.start()]
        after = text[m.end() :]
        if before and is_han(before[-1]) and not before.endswith(_NUMERAL_PREFIXES):
            return run  # inside a word: 合計 is handled by phrases, 千葉 / 一般 are words
        if after and is_han(after[0]) and not after.startswith(_NUMERAL_SUFFIXES):
            return run
        value = parse_kanji_number(run)
        return run if value is None else _format_number(value)

    return _NUMERAL_RUN.sub(replace, text)


def _canonical_number(text: str) -> str:
    if _PLAIN_NUMBER.match(text):
        return _format_number(Fraction(text.rstrip(".") or "0"))
    return text


def _step(text: str) -> str:
    t = text.strip()
    for left, right in _QUOTES.items():
        if len(t) > len(left) + len(right) and t.startswith(left) and t.endswith(right):
            t = t[len(left) : len(t) - len(right)].strip()
    for pattern in _LEADING:
        t = pattern.sub("", t, count=1)
    for pattern in _TRAILING:
        t = pattern.sub("", t, count=1)
    t = _strip_math_delimiters(t)
    t = _convert_kanji_numerals(t)
    t = _WARI.sub(_wari, t)
    choice = _CHOICE.match(t)
    if choice:
        t = choice.group(1)
    t = _JA_FRACTION.sub(lambda m: f"{m.group(2)}/{m.group(1)}", t)
    mixed = _MIXED.match(t) or _MIXED_SPACE.match(t)
    if mixed:
        t = _format_number(Fraction(mixed.group(1)) + Fraction(int(mixed.group(2)), int(mixed.group(3))))
    t = _ASSIGN.sub("", t, count=1)
    frac = _LATEX_FRACTION.match(t)
    if frac and int(frac.group(4) or frac.group(5)) != 0:
        num = int(frac.group(2) or frac.group(3)) * (-1 if frac.group(1) else 1)
        t = f"{num}/{int(frac.group(4) or frac.group(5))}"
    # Units come after a number only: a word answer ending in 人 or 分 keeps its ending.
    unit = _BRACKET_UNIT_RE.search(t) or _UNIT_RE.search(t)
    if unit and unit.start() > 0 and _NUMBER_END.search(t[: unit.start()].rstrip()):
        t = t[: unit.start()]
    t = re.sub(r"\^\s*\{?\\circ\}?$", "", t)
    return t.strip()


def _normalize(text: str) -> tuple[str, bool]:
    """The normalized answer and whether it was a percentage."""
    t = _unwrap_boxed(text)
    if "$" in t or "\\(" in t:
        t = _INLINE_MATH.sub(lambda m: next(g for g in m.groups() if g is not None), t)
    t = _TEXT_CMD.sub(r"\1", t)
    t = _LATEX_SPACING.sub(" ", t)
    t = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group(0).translate(_SUPERSCRIPTS), t)
    for symbol, plain in _UNIT_SYMBOLS.items():
        t = t.replace(symbol, plain)
    t = _VULGAR_NUMBER.sub(_vulgar, t)
    t = unicodedata.normalize("NFKC", t)
    t = _unicode_math(t)
    t = _fix_minus(t)
    t = _THOUSANDS.sub("", t)
    t = re.sub(r"\s+", " ", t).strip()
    percent = False
    for _ in range(8):
        previous = t
        t = _step(t)
        stripped = _PERCENT.sub("", t)
        if stripped != t:
            percent, t = True, stripped.strip()
        if t == previous:
            break
    if t.startswith("+") and _PLAIN_NUMBER.match(t):
        t = t[1:]
    return _canonical_number(t), percent


@lru_cache(maxsize=8192)
def _normalize_cached(text: str) -> tuple[str, bool]:
    return _normalize(text)


def normalize_answer(text: str) -> str:
    """``text`` as plain ASCII mathematics: ``"答えは１，２００円です。"`` → ``"1200"``.

    See the module docstring for the rules. Non-numeric answers keep their words (``"東京都"``).
    """
    return _normalize_cached(text)[0]


# --------------------------------------------------------------------------------------------------
# matching

# math-verify's timeouts use SIGALRM, which only works in the main thread; elsewhere (TRL may score in
# worker threads) it runs without a timeout, so overly long answers skip it instead.
_MATH_VERIFY_TIMEOUT_S = 3
_MATH_VERIFY_MAX_CHARS = 300


def _as_fraction(text: str) -> Fraction | None:
    if _PLAIN_NUMBER.match(text):
        return Fraction(text.rstrip(".") or "0")
    m = _PLAIN_FRACTION.match(text)
    if m:
        den = Fraction(m.group(2))
        if den == 0:
            return None
        return Fraction(m.group(1)) / den
    return None


class _DropTimeoutDisabled(logging.Filter):
    """math-verify warns once that its timeout is off; off is deliberate outside the main thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Timeout is disabled" not in record.getMessage()


@lru_cache(maxsize=1)
def _quiet_math_verify() -> None:
    for name in ("math_verify.parser", "math_verify.grader"):
        logging.getLogger(name).addFilter(_DropTimeoutDisabled())


def _mv_timeout() -> int | None:
    return _MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _mv_parse(text: str, timeout: int | None) -> tuple:
    _quiet_math_verify()
    from math_verify import LatexExtractionConfig, parse

    # Wrapped as one LaTeX expression: math-verify's free-text extraction would otherwise pick a number
    # out of "3人と4人" or "1, 2, 3" and reward a hedge.
    return tuple(
        parse(
            f"${text}$",
            extraction_config=[LatexExtractionConfig(boxed_match_priority=0)],
            fallback_mode="no_fallback",
            extraction_mode="first_match",
            parsing_timeout=timeout,  # type: ignore[arg-type]  # None disables the signal alarm
        )
    )


_JAPANESE_LETTER = re.compile(r"[\u3041-\u309f\u30a1-\u30fa\u30fc\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@lru_cache(maxsize=8192)
def _math_verify(gold: str, pred: str) -> bool:
    if len(gold) > _MATH_VERIFY_MAX_CHARS or len(pred) > _MATH_VERIFY_MAX_CHARS:
        return False
    if _JAPANESE_LETTER.search(gold) or _JAPANESE_LETTER.search(pred):
        return False  # words left after normalization are not mathematics; equal strings matched earlier
    _quiet_math_verify()
    from math_verify import verify

    timeout = _mv_timeout()
    gold_parsed = _mv_parse(gold, timeout)
    pred_parsed = _mv_parse(pred, timeout)
    if not gold_parsed or not pred_parsed:
        return False
    return bool(verify(list(gold_parsed), list(pred_parsed), timeout_seconds=timeout))


def _loose(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


def answers_match(pred: str, gold: str) -> bool:
    """Whether ``pred`` states the same final answer as ``gold``.

    Both are normalized (:func:`normalize_answer`). Then: equal strings (ignoring whitespace and case)
    match; two plain numbers or fractions match when they differ by at most 1e-6 (``0.5`` = ``1/2``,
    ``15.0`` = ``15``) and never match otherwise; anything else goes to math-verify (LaTeX, ``\\sqrt``,
    ``\\pi``, sets, intervals). A percentage also matches its value / 100.
    """
    if pred is None or gold is None:
        return False
    p, p_pct = _normalize_cached(pred)
    g, g_pct = _normalize_cached(gold)
    if not p or not g:
        return False
    if _loose(p) == _loose(g):
        return True
    pf, gf = _as_fraction(p), _as_fraction(g)
    if pf is not None and gf is not None:
        candidates = [(pf, gf)]
        if p_pct != g_pct:
            candidates.append((pf / 100, gf) if p_pct else (pf, gf / 100))
        return any(abs(a - b) <= Fraction(1, 10**6) for a, b in candidates)
    if _math_verify(g, p):
        return True
    if p_pct != g_pct:
        return _math_verify(g if not g_pct else f"({g})/100", p if not p_pct else f"({p})/100")
    return False
