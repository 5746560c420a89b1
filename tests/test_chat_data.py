"""Chat data through the renderer: reasoning fields trained as the think block, bad conversations counted,
missing templates chosen from the vocabulary (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jaft.data.formats import BadRecord, to_record
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.models.chat import ensure_chat_template, render_turns
from jaft.models.reasoning import think_text
from tests.conftest import assert_clean_error, run_jaft

FIELD = Path(__file__).parent / "data" / "field"
TEMPLATES = Path(__file__).parent / "data" / "templates"


@pytest.fixture(scope="module")
def r1_tok(tiny_qwen):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen)


def _lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (FIELD / name).read_text(encoding="utf-8").splitlines() if x.strip()]


# neighbours file, line by line: (reasoning kept in the think block | None, reject reason | None)
NEIGHBOURS = [
    ("5から2を引くと3。", None),
    ("3かける4で12。", None),
    ("10÷2=5。", None),
    ("7+8=15。", None),
    (None, None),
    (None, "conflicting_fields"),
    (None, "conflicting_fields"),
    (None, "wrong_type"),
    (None, "wrong_type"),
]


@pytest.mark.parametrize(("line", "expected"), list(enumerate(NEIGHBOURS, 1)))
def test_reasoning_field_spellings(line, expected):
    reasoning, reason = expected
    row = _lines("chat_reasoning_neighbours.jsonl")[line - 1]
    if reason:
        with pytest.raises(BadRecord) as e:
            to_record(row, source=f"n.jsonl:{line}")
        assert e.value.reason == reason
        return
    rec = to_record(row, source=f"n.jsonl:{line}")
    assistant = rec.messages[-1].content
    if reasoning is None:
        assert "<think>" not in assistant
    else:
        # Stored exactly as the renderer writes a turn with reasoning.
        answer = assistant.split("</think>")[-1].strip()
        assert assistant == think_text(reasoning, answer)


def test_field_case_reasoning_content_is_trained(tmp_path, r1_tok):
    """The field file through `jaft data prepare` and SFT rendering: every reasoning is in the labels."""
    from jaft.config import JapaneseDataConfig
    from jaft.data.prepare import prepare, read_prepared
    from jaft.train.data import build_dataset

    rows = _lines("chat_reasoning_content.jsonl")
    report = prepare([FIELD / "chat_reasoning_content.jsonl"], tmp_path / "p",
                     JapaneseDataConfig(mode="development", augment=0))
    train, val = read_prepared(tmp_path / "p")
    kept = train + val
    assert report["input_records"] == len(rows)
    assert len(kept) + sum(report["reasons"].values()) == len(rows)
    reasonings = {m["reasoning_content"] for r in rows for m in r["messages"] if "reasoning_content" in m}
    trained_text = []
    ds, stats = build_dataset(kept, r1_tok, 512)
    for row in ds:
        trained_text.append(r1_tok.decode([i for i, m in zip(row["input_ids"], row["completion_mask"], strict=True)
                                           if m]))
    assert stats["rejected"] == {} and len(trained_text) == len(kept)
    for rec, text in zip(kept, trained_text, strict=True):
        (reasoning,) = [r for r in reasonings if r in rec.messages[-1].content]
        # The R1 prompt opened <think>: the completion is reasoning, </think>, answer, EOS.
        assert text.startswith(reasoning) and "</think>" in text and text.endswith(r1_tok.eos_token)


def _chat(*turns: tuple[str, str], source: str = "d.jsonl:3") -> Record:
    return Record(kind="chat", messages=[{"role": r, "content": c} for r, c in turns], source=source)


def test_conversation_not_ending_with_the_assistant_is_counted_or_stops_strict(r1_tok):
    from jaft.train.data import build_dataset

    good = _chat(("user", "1+1は？"), ("assistant", "2です。"), source="d.jsonl:1")
    bad = _chat(("user", "1+1は？"), ("assistant", "2です。"), ("user", "では2+2は？"))
    _, stats = build_dataset([good, bad], r1_tok, 512)
    assert stats["rejected"] == {"last_turn_not_assistant": 1} and stats["examples"] == 1
    with pytest.raises(JaftError, match=r"^d\.jsonl:3: .*last turn is not the assistant"):
        build_dataset([good, bad], r1_tok, 512, strict=True)


def test_template_that_drops_the_system_prompt_is_refused(r1_tok):
    from jaft.train.data import build_dataset

    tok = r1_tok.__class__.from_pretrained(r1_tok.name_or_path)
    tok.chat_template = (TEMPLATES / "no-system.jinja").read_text(encoding="utf-8")
    rec = _chat(("user", "質問"), ("assistant", "回答"))
    with pytest.raises(JaftError, match="drops the system prompt"):
        build_dataset([rec], tok, 512, system="丁寧に答えてください。", strict=True)
    with pytest.raises(JaftError, match="every record was rejected"):  # nothing left to train
        build_dataset([rec], tok, 512, system="丁寧に答えてください。")


def _vocab_tokenizer(specials: list[str], bos: str | None, eos: str):
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(pre_tokenizers.ByteLevel.alphabet())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos)


LLAMA3 = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
CHATML = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
R1 = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"]


@pytest.mark.parametrize(
    ("specials", "bos", "eos", "family", "end"),
    [
        (LLAMA3, "<|begin_of_text|>", "<|end_of_text|>", "llama3", "<|eot_id|>"),
        (CHATML, None, "<|im_end|>", "chatml", "<|im_end|>"),
        (R1, R1[0], R1[1], "deepseek-r1", R1[1]),
    ],
)
def test_missing_template_is_chosen_from_the_vocabulary(specials, bos, eos, family, end):
    tok = _vocab_tokenizer(specials, bos, eos)
    said = []
    note = ensure_chat_template(tok, "chatml", log=said.append)  # the registry's guess loses to the vocabulary
    assert note.startswith(family) and said == [f"chat template: {note}"]
    (r,) = render_turns(_chat(("user", "質問"), ("assistant", "回答")), tok)
    ids = tok(r.completion, add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids).count(end) == 1  # the turn's end is one token, and it is trained


def test_missing_template_without_known_markers_is_refused():
    tok = _vocab_tokenizer(["<s>", "</s>"], "<s>", "</s>")
    with pytest.raises(JaftError, match=r"--set model\.chat_template="):
        ensure_chat_template(tok, None)
    # A registry family without marker tokens (StableLM-ja: turns end with EOS) is used as the registry says.
    assert ensure_chat_template(tok, "stablelm-ja").startswith("stablelm-ja")


def test_configured_template_whose_turn_end_is_not_a_token_is_refused():
    tok = _vocab_tokenizer(LLAMA3, "<|begin_of_text|>", "<|end_of_text|>")
    with pytest.raises(JaftError, match="not a single token"):
        ensure_chat_template(tok, None, "chatml")  # <|im_end|> is 9 byte tokens in a Llama-3 vocabulary


def test_configured_template_conflicting_with_the_tokenizers_own_is_refused(r1_tok):
    tok = r1_tok.__class__.from_pretrained(r1_tok.name_or_path)
    with pytest.raises(JaftError, match=r"model\.chat_template=llama3 conflicts"):
        ensure_chat_template(tok, None, "llama3")
    assert ensure_chat_template(tok, None, None) is None  # its own template is kept as is


def test_prepare_strict_names_the_record(tmp_path):
    r = run_jaft("data", "prepare", str(FIELD / "chat_reasoning_neighbours.jsonl"), "--out", str(tmp_path / "o"),
                 "--strict")
    assert_clean_error(r, "chat_reasoning_neighbours.jsonl:6", "reasoning")


def test_reasoning_the_template_cannot_express_is_rejected(r1_tok):
    """A template that strips reasoning and whose generation prompt is not how it renders the turn."""
    from jaft.train.data import build_dataset

    tok = r1_tok.__class__.from_pretrained(r1_tok.name_or_path)
    tok.chat_template = ("{% for m in messages %}{% if m['role'] == 'user' %}{{ 'U: ' + m['content'] + '\\n' }}"
                         "{% else %}{{ 'Assistant: ' + m['content'].split('</think>')[-1] + eos_token }}{% endif %}"
                         "{% endfor %}{% if add_generation_prompt %}{{ 'A: ' }}{% endif %}")
    rec = Record(kind="chat", source="r.jsonl:2", messages=[
        {"role": "user", "content": "1+1は？"}, {"role": "assistant", "content": "<think>\n足す\n</think>\n\n2"}])
    with pytest.raises(JaftError, match=r"^r\.jsonl:2: .*cannot express"):
        build_dataset([rec], tok, 512, strict=True)
    with pytest.raises(JaftError, match="every record was rejected"):
        build_dataset([rec], tok, 512)


def test_conflicting_chat_template_setting_is_one_line_exit_2(tiny_qwen, tmp_path):
    r = run_jaft("train", "--model-name", str(tiny_qwen), "--set", "model.chat_template=llama3",
                 "--set", "train.max_steps=1", "--set", f"train.output_dir={tmp_path / 'run'}")
    # The run has printed its plan by then; the error is still one line, exit 2, no traceback.
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    last = [ln for ln in r.stderr.splitlines() if ln.strip()][-1]
    assert last.startswith("error: model.chat_template=llama3 conflicts"), last


def test_generation_stops_at_the_turn_end_as_well_as_eos():
    from jaft.models.chat import stop_token_ids

    tok = _vocab_tokenizer(LLAMA3, "<|begin_of_text|>", "<|end_of_text|>")
    assert stop_token_ids(tok) == [tok.eos_token_id]  # no template: raw continuation stops at EOS
    ensure_chat_template(tok, None)
    assert tok.convert_ids_to_tokens(stop_token_ids(tok)) == ["<|end_of_text|>", "<|eot_id|>"]
