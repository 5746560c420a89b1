"""One conversation, one token sequence: SFT, GRPO, eval, the GGUF and Ollama agree (issue 12).

For each chat-template family the registry uses, with the template as published (tests/data/templates),
× the tokenizer adds BOS or not × with / without a system prompt × with / without reasoning, the ids of
one two-turn conversation are compared across:

- SFT: the trained example's prompt ids (render_turns + tokenize_rendered), and its completion;
- GRPO: the dataset prompt text tokenized the way TRL 1.x does it (``processing_class(text=prompts)``);
- eval / the generation test: the ids ``generate_batch`` feeds the model;
- the GGUF: the template embedded in a (vocab-only) GGUF, tokenized by llama.cpp as ``jaft serve`` and
  ``jaft eval --gguf`` do;
- Ollama: the Modelfile TEMPLATE derived from that GGUF, run through the Go-template evaluator with the
  run's instruction as SYSTEM, tokenized by llama.cpp with the GGUF's add_bos (as Ollama's runner does).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import pytest

from jaft.data.formats import to_record
from jaft.models.chat import encode_prompt, render_turns, tokenize_rendered, trl_prompt_text

TEMPLATES = Path(__file__).parent / "data" / "templates"
R1_SPECIALS = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜▁pad▁｜>"]
# family → (template file, bos, eos, pad, special tokens, R1's non-special <think> tokens)
FAMILIES = {
    "r1-distill": ("r1-distill.jinja", R1_SPECIALS[0], R1_SPECIALS[1], R1_SPECIALS[4], R1_SPECIALS, True),
    "r1-distill-original": ("r1-distill-original.jinja", R1_SPECIALS[0], R1_SPECIALS[1], R1_SPECIALS[4],
                            R1_SPECIALS, True),
    "llama3": ("llama3.jinja", "<|begin_of_text|>", "<|end_of_text|>", "<|end_of_text|>",
               ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
               False),
    "qwen2.5": ("qwen2.5.jinja", "<s>", "<|im_end|>", "<|endoftext|>",
                ["<s>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"], False),
    "stablelm-ja": ("stablelm-ja.jinja", "<|startoftext|>", "<|endoftext|>", "<|padding|>",
                    ["<|startoftext|>", "<|endoftext|>", "<|padding|>"], False),
}
SYSTEM = "あなたは数学が得意なアシスタントです。<think>で考え、<answer>で答えてください。"
CASES = list(itertools.product(sorted(FAMILIES), [True, False], [True, False], [True, False]))


def _bpe():
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    from jaft.data.bundled import tokenizer_training_texts
    from jaft.models.tiny import _pre_tokenizer

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = _pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, min_frequency=2, special_tokens=[],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(tokenizer_training_texts()), trainer=trainer)
    return tok


def build_family_tokenizer(base_json: str, family: str, add_bos: bool, out: Path):
    """A tokenizer of ``family`` saved at ``out`` (reloaded from disk, as training and export read it)."""
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    file, bos, eos, pad, specials, think = FAMILIES[family]
    backend = Tokenizer.from_str(base_json)
    backend.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    if think:
        backend.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    if add_bos:
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, backend.token_to_id(bos))])
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=bos, eos_token=eos, pad_token=pad,
                                  chat_template=(TEMPLATES / file).read_text(encoding="utf-8"),
                                  clean_up_tokenization_spaces=False)
    tok.save_pretrained(out)
    return AutoTokenizer.from_pretrained(out)


def write_vocab_gguf(tokenizer_dir: Path, n_vocab: int, out: Path) -> Path:
    """A GGUF with jaft's export vocabulary and chat template and no tensors (llama.cpp loads it vocab-only)."""
    import gguf

    from jaft.export.gguf import add_tokenizer
    from jaft.export.vocab import build_vocab

    v = build_vocab(tokenizer_dir, n_vocab, arch="qwen2")
    w = gguf.GGUFWriter(str(out), "qwen2")
    w.add_name("vocab")
    w.add_context_length(4096)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_layer_norm_rms_eps(1e-6)
    add_tokenizer(w, v)  # the exporter's own tokenizer keys, so this vocab-only file is what export writes
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    return out


@pytest.fixture(scope="module")
def stacks(tmp_path_factory):
    """(tokenizer, gguf path, llama.cpp vocab) per (family, add_bos), built once."""
    from jaft.export.verify import open_gguf

    base = _bpe().to_str()
    built: dict[tuple[str, bool], tuple] = {}
    opened = []

    def get(family: str, add_bos: bool):
        key = (family, add_bos)
        if key not in built:
            d = tmp_path_factory.mktemp(f"{family}-{int(add_bos)}")
            tok = build_family_tokenizer(base, family, add_bos, d / "tok")
            path = write_vocab_gguf(d / "tok", len(tok), d / "vocab.gguf")
            llm = open_gguf(path, vocab_only=True)
            opened.append(llm)
            built[key] = (tok, path, llm)
        return built[key]

    yield get
    for llm in opened:
        llm.close()


def _conversation(system: bool, reasoning: bool) -> dict:
    """A chat record as a user's dataset has it (DeepSeek API style reasoning_content)."""
    a1 = {"role": "assistant", "content": "答えは5です。"}
    a2 = {"role": "assistant", "content": "<answer>12</answer>"}
    if reasoning:
        a1["reasoning_content"] = "2と3を足すと5。"
        a2["reasoning_content"] = "3を4回足すと12になる。"
    msgs = [{"role": "user", "content": "2+3は？"}, a1, {"role": "user", "content": "では3×4は？"}, a2]
    if system:
        msgs.insert(0, {"role": "system", "content": SYSTEM})
    return {"messages": msgs}


@pytest.mark.parametrize(("family", "add_bos", "system", "reasoning"), CASES)
def test_one_conversation_one_token_sequence(stacks, family, add_bos, system, reasoning):
    from jaft.export.gguf_chat import deployed_from_gguf, gguf_prompt_ids, ollama_prompt_ids
    from jaft.models.chat import conversation_prompt

    tok, gguf_path, llm = stacks(family, add_bos)
    row = _conversation(system, reasoning)
    record = to_record(row, source="conv.jsonl:1")

    # SFT: the last assistant turn, as the trainer sees it.
    last = render_turns(record, tok)[-1]
    ex = tokenize_rendered(last, tok, None)
    n_prompt = ex["completion_mask"].index(1)
    sft_prompt, sft_completion = ex["input_ids"][:n_prompt], ex["input_ids"][n_prompt:]

    history = [{"role": m["role"], "content": m["content"],
                **({"reasoning": m["reasoning_content"]} if "reasoning_content" in m else {})}
               for m in row["messages"][:-1]]
    # GRPO: the prompt text TRL receives, through the installed TRL's own prompt tokenization.
    from trl import GRPOTrainer

    trainer_stub = SimpleNamespace(processing_class=tok, _is_vlm=False)
    grpo_text = trl_prompt_text(tok, conversation_prompt(tok, history))
    grpo_ids = list(GRPOTrainer._tokenize_prompts(trainer_stub, [grpo_text])[0][0])
    # Eval and the generation test: what generate_batch feeds the model.
    eval_ids = encode_prompt(tok, conversation_prompt(tok, history))
    # The GGUF: its own embedded template, llama.cpp's tokenizer, BOS per the GGUF's add_bos.
    deployed = deployed_from_gguf(gguf_path, system=SYSTEM if system else None)
    gguf_ids = gguf_prompt_ids(llm, deployed, [m for m in history if m["role"] != "system"])
    # Ollama: the Modelfile TEMPLATE + SYSTEM through the Go evaluator, tokenized as Ollama's runner does.
    ollama_ids = ollama_prompt_ids(llm, deployed, [m for m in history if m["role"] != "system"])

    assert sft_prompt == grpo_ids == eval_ids == gguf_ids == ollama_ids
    bos_id = tok.bos_token_id
    assert sft_prompt.count(bos_id) == (1 if add_bos or family.startswith("r1") or family == "llama3" else 0)
    # The completion: same ids from llama.cpp's vocabulary, the reasoning in it, the turn's end trained.
    text = last.completion
    assert llm.tokenize(text.encode("utf-8"), add_bos=False, special=True) == sft_completion
    if reasoning:
        assert "3を4回足すと12になる。" in text and "</think>" in text
        # Opened by the prompt (newer R1) or trained (every other template): never a lone </think>.
        assert (last.prompt.rstrip().endswith("<think>")) != (text.lstrip().startswith("<think>"))
    end = {"llama3": "<|eot_id|>", "qwen2.5": "<|im_end|>"}.get(family, tok.eos_token)
    assert tok.convert_ids_to_tokens(sft_completion).count(end) == 1
    if system:
        assert SYSTEM in last.prompt
