"""Rendering records for SFT: R1 reasoning survives, loss only on completions."""

import pytest

from jaft.data.records import Record
from jaft.models.chat import render_turns, tokenize_rendered

EOS = "<｜end▁of▁sentence｜>"


@pytest.fixture(scope="module")
def tok(tiny_qwen):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_qwen)


def test_reasoning_and_answer_are_in_the_completion(tok):
    rec = Record(kind="prompt_completion", prompt="りんごが3個と4個あります。全部で何個？",
                 completion="<think>\n3と4を足すと7です。\n</think>\n<answer>7</answer>")
    (r,) = render_turns(rec, tok)
    assert r.prompt.endswith("<｜Assistant｜><think>\n")
    assert r.completion == "3と4を足すと7です。\n</think>\n<answer>7</answer>" + EOS
    ex = tokenize_rendered(r, tok, None)
    trained = tok.decode([i for i, m in zip(ex["input_ids"], ex["completion_mask"], strict=True) if m])
    assert trained == r.completion
    untrained = tok.decode([i for i, m in zip(ex["input_ids"], ex["completion_mask"], strict=True) if not m])
    assert untrained == r.prompt


def test_multi_turn_one_example_per_assistant_turn(tok):
    rec = Record(kind="chat", messages=[
        {"role": "user", "content": "1+1は？"},
        {"role": "assistant", "content": "<think>足す</think><answer>2</answer>"},
        {"role": "user", "content": "では2+2は？"},
        {"role": "assistant", "content": "<think>また足す</think><answer>4</answer>"},
    ])
    first, second = render_turns(rec, tok)
    assert first.completion.startswith("足す</think>")
    # The history's reasoning is stripped, exactly as the R1 template does at inference.
    assert "足す</think>" not in second.prompt and "<answer>2</answer>" in second.prompt
    assert second.completion.startswith("また足す</think>")


def test_text_records_train_every_token(tok):
    (r,) = render_turns(Record(kind="text", text="日本語の文章です。"), tok)
    ex = tokenize_rendered(r, tok, None)
    assert r.prompt == tok.bos_token and r.completion == "日本語の文章です。" + EOS
    assert sum(ex["completion_mask"]) == len(ex["input_ids"]) - 1


def test_other_templates_keep_their_turn_end(tok):
    from jaft.models.templates import template_text

    tok = tok.__class__.from_pretrained(tok.name_or_path)
    tok.chat_template = template_text("chatml")
    (r,) = render_turns(Record(kind="prompt_completion", prompt="質問", completion="回答"), tok)
    assert r.prompt.endswith("<|im_start|>assistant\n") and r.completion == "回答<|im_end|>\n"


def test_truncation_keeps_start_and_drops_empty(tok):
    rec = Record(kind="prompt_completion", prompt="長い質問" * 50, completion="答え")
    (r,) = render_turns(rec, tok)
    assert tokenize_rendered(r, tok, 10) is None
    ex = tokenize_rendered(r, tok, 10_000)
    assert ex is not None and not ex["truncated"]


def test_labels_through_the_trl_training_path(tiny_qwen, tmp_path):
    """Build the real SFTTrainer datasets and read its labels: reasoning + answer + EOS are trained."""
    from rich.console import Console

    from jaft.config import load_run_config
    from jaft.hardware import detect
    from jaft.rundir import RunDir
    from jaft.selection import select_model
    from jaft.train.common import load_for_training
    from jaft.train.data import build_dataset
    from jaft.train.sft import _make_trainer
    from jaft.train.strategy import resolve_training

    cfg = load_run_config(sets=[f"model.model_name={tiny_qwen}", "train.max_steps=1"])
    choice = select_model(model_name=str(tiny_qwen))
    hw = detect()
    res = resolve_training(cfg, choice, hw)
    bundle = load_for_training(cfg, choice, res, hw, Console(quiet=True))
    rec = Record(kind="prompt_completion", prompt="3+4は？", completion="<think>\n3に4を足す。\n</think>\n<answer>7</answer>")
    ds, _ = build_dataset([rec], bundle.tokenizer, 512)
    trainer = _make_trainer(cfg, res, hw, bundle.model, bundle.tokenizer, ds, None, RunDir(tmp_path))
    row = trainer.train_dataset[0]
    labelled = [i for i, lab in zip(row["input_ids"], row["labels"], strict=True) if lab != -100]
    text = bundle.tokenizer.decode(labelled)
    assert "3に4を足す。" in text and "</think>" in text and "<answer>7</answer>" in text
    assert text.endswith(EOS)
    assert "3+4は？" not in text
