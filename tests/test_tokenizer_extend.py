"""tokenizer extend: new Japanese merges, old ids untouched, mean-initialised rows, same old logits."""

import functools
import json

import pytest

from jaft.errors import JaftError
from tests.conftest import assert_clean_error, run_jaft

# Hand-written technical Japanese (not the bundled text the tiny BPE was trained on), so its word
# pairs are new to the tiny vocabulary and repeat often enough to be learned.
TECH_JA = """\
パッケージをインストールする前に、設定ファイルを確認してください。
設定ファイルはディレクトリの中にあります。ディレクトリの権限を確認してください。
パッケージの依存関係を確認するには、次のコマンドを実行してください。
コマンドを実行すると、インストールされたパッケージの一覧が表示されます。
ファイルを編集したあとは、サービスを再起動してください。
サービスの設定を変更するには、管理者の権限が必要です。
ネットワークの設定ファイルを編集して、インターフェースを有効にします。
インターフェースが有効になったら、ネットワークの接続を確認してください。
カーネルのバージョンを確認するには、次のコマンドを実行します。
バージョンが古い場合は、パッケージを更新してください。
ユーザーの権限を変更するには、設定ファイルを編集します。
ディレクトリを作成したあとは、ファイルの権限を変更してください。
"""
# Held-out non-Japanese text: must encode to the very same ids after the extension.
ENGLISH = [
    "The package manager resolves dependencies before it installs anything.",
    "Edit /etc/apt/sources.list, then run `apt update && apt full-upgrade -y`.",
    "def extend(model, add=16000):\n    return model.resize_token_embeddings(add)\n",
    "  indented\ttabs\r\nand CRLF lines; numbers 1234567 and 3.14159, emoji 🚀🦙",
    "Ünïcödé façade, naïve café; Привет мир; Γειά σου; “smart quotes” — dashes…",
    "<think>check the units</think><answer>42</answer>",
    "User: what's up? Assistant: I'm fine, you'll see, we've done it, they'd agree.",
]


@pytest.fixture(scope="module")
def tech_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tech_ja.txt"
    path.write_text(TECH_JA * 3, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bundled_file():
    from jaft.data.bundled import samples_dir

    return samples_dir() / "text_ja.txt"


@pytest.fixture(scope="module")
def ext_qwen25(tiny_qwen25, bundled_file, tmp_path_factory):
    """Real Qwen2.5 vocabulary (tied embeddings) extended with 60 tokens from the bundled text."""
    from jaft.tokenizer.extend import extend_model

    out = tmp_path_factory.mktemp("ext") / "qwen25-ext"
    record = extend_model(str(tiny_qwen25), [bundled_file], 60, out, min_frequency=2)
    return out, record


@pytest.fixture(scope="module")
def ext_bpe(tiny_qwen, tech_file, tmp_path_factory):
    """Small BPE vocabulary, untied LM head, extended from the technical text."""
    from jaft.tokenizer.extend import extend_model

    out = tmp_path_factory.mktemp("ext") / "bpe-ext"
    record = extend_model(str(tiny_qwen), [tech_file], 40, out, min_frequency=2)
    return out, record


@functools.cache
def _tok(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))  # ~5 s for a 152k vocabulary: load each once


@functools.cache
def _file_tok(path):
    """The tokenizer.json of ``path`` as a bare tokenizers.Tokenizer (fast to load; same ids)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path / "tokenizer.json"))


def _ids(tok, text):
    if hasattr(tok, "backend_tokenizer"):
        return tok(text, add_special_tokens=False)["input_ids"]
    return tok.encode(text, add_special_tokens=False).ids


@functools.cache
def _model(path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path)).eval()


def _joins_across_words(backend, plan, lines):
    """New-token occurrences whose pieces meet at a fugashi word start (a merge across two words)."""
    from jaft.tokenizer.vocab import token_bytes_table
    from jaft.tokenizer.words import word_starts

    table = token_bytes_table(backend)
    by_id = {t.id: t for t in plan.tokens}
    found = []
    for line in lines:
        starts = word_starts(line)
        enc = backend.encode(line, add_special_tokens=False)
        for tid, (s, e) in zip(enc.ids, enc.offsets, strict=True):
            if tid not in by_id:
                continue
            text = line[s:e]
            raw, cut = text.encode(), 0
            char_ends = {len(text[:k].encode()): k for k in range(len(text) + 1)}
            for p in by_id[tid].pieces[:-1]:
                cut += len(table[p])
                if cut in char_ends and (s + char_ends[cut]) in starts:
                    found.append(text)
            assert raw == b"".join(table[p] for p in by_id[tid].pieces)
    return found


@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_old_vocabulary_keeps_its_ids_and_new_ids_follow(which, request, tiny_qwen25, tiny_qwen):
    out, record = request.getfixturevalue(which)
    src = tiny_qwen25 if which == "ext_qwen25" else tiny_qwen
    old, new = _file_tok(src), _tok(out)
    old_vocab, new_vocab = old.get_vocab(with_added_tokens=True), new.get_vocab()
    assert all(new_vocab[t] == i for t, i in old_vocab.items())
    first = len(old_vocab)
    assert record["original_vocab_size"] == first
    n = len(record["new_token_ids"])
    assert record["new_token_ids"] == list(range(first, first + n))
    assert len(new) == first + n
    # special tokens stay special and keep their ids (they sit before the new ids)
    assert new.convert_tokens_to_ids("</think>") == old.token_to_id("</think>")
    assert new.eos_token_id == old.token_to_id("<｜end▁of▁sentence｜>")
    assert "</think>" not in new.all_special_tokens and new.eos_token in new.all_special_tokens


@pytest.mark.parametrize("text", ENGLISH)
@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_non_japanese_text_encodes_to_the_same_ids(which, text, request, tiny_qwen25, tiny_qwen):
    out, _ = request.getfixturevalue(which)
    src = tiny_qwen25 if which == "ext_qwen25" else tiny_qwen
    # the extended dir as transformers loads it vs the original tokenizer.json
    assert _ids(_tok(out), text) == _ids(_file_tok(src), text)


def test_japanese_takes_fewer_tokens_and_decodes_back(ext_qwen25, tiny_qwen25, bundled_file):
    out, record = ext_qwen25
    old, new = _file_tok(tiny_qwen25), _tok(out)
    lines = bundled_file.read_text(encoding="utf-8").splitlines()
    n_old = sum(len(_ids(old, t)) for t in lines)
    n_new = sum(len(_ids(new, t)) for t in lines)
    assert n_new < n_old
    assert record["report"]["tokens_before"] == n_old and record["report"]["tokens_after"] == n_new
    for t in lines[:20]:
        assert new.decode(new(t, add_special_tokens=False)["input_ids"]) == t
    assert sum(t["count"] for t in record["tokens"]) > 0


def test_new_tokens_are_whole_japanese_text_spelled_by_their_pieces(ext_qwen25):
    from jaft.tokenizer.scripts import is_japanese_char

    out, record = ext_qwen25
    tok = _tok(out)
    for t in record["tokens"]:
        assert any(is_japanese_char(c) for c in t["text"])
        assert tok.convert_ids_to_tokens(t["id"]) == t["token"]
        assert tok.decode(t["pieces"]) == t["text"]
        assert all(p < record["original_vocab_size"] for p in t["pieces"])


@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_logits_of_old_token_inputs_are_unchanged(which, request, tiny_qwen25, tiny_qwen):
    import torch

    out, record = request.getfixturevalue(which)
    src = tiny_qwen25 if which == "ext_qwen25" else tiny_qwen
    a, b = _model(src), _model(out)
    texts = ["Hello, world. 日本語の文章です。", "ファイルを確認してください。これは長い文"]
    ids = torch.tensor([_ids(_file_tok(src), t)[:7] for t in texts])
    v = record["original_vocab_size"]
    with torch.no_grad():
        la, lb = a(ids).logits, b(ids).logits
    assert lb.shape[-1] == record["embedding_rows"]
    assert torch.equal(la[..., :v], lb[..., :v])


@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_new_rows_are_the_mean_of_their_pieces(which, request):
    import torch

    out, record = request.getfixturevalue(which)
    m = _model(out)
    emb = m.get_input_embeddings().weight
    head = m.get_output_embeddings().weight
    tied = record["tied_embeddings"]
    assert tied == (which == "ext_qwen25")
    assert (head.data_ptr() == emb.data_ptr()) == tied
    for t in record["tokens"][:20]:
        assert torch.allclose(emb[t["id"]], emb[t["pieces"]].mean(0), atol=1e-6)
        assert torch.allclose(head[t["id"]], head[t["pieces"]].mean(0), atol=1e-6)


@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_extended_dir_is_a_standard_model_dir(which, request, tiny_qwen25, tiny_qwen):
    out, record = request.getfixturevalue(which)
    src = tiny_qwen25 if which == "ext_qwen25" else tiny_qwen
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["vocab_size"] == record["embedding_rows"]
    assert cfg["vocab_size"] % 64 == 0 and cfg["vocab_size"] >= record["new_vocab_size"]
    assert record["embedding_rows"] >= record["original_embedding_rows"]
    msgs = [{"role": "user", "content": "日本語で答えてください。"}]
    assert (out / "chat_template.jinja").read_text() == (src / "chat_template.jinja").read_text()
    assert _tok(out).apply_chat_template(msgs, tokenize=False, add_generation_prompt=True).endswith("<think>\n")
    m = _model(out)
    ids = _tok(out)("設定ファイル", return_tensors="pt")["input_ids"]
    gen = m.generate(ids, max_new_tokens=3, do_sample=False)
    assert gen.shape[1] == ids.shape[1] + 3


def test_read_extension(ext_qwen25, tiny_qwen25, tmp_path):
    from jaft.tokenizer.extend import EXTENSION_FILE, read_extension

    out, record = ext_qwen25
    got = read_extension(out)
    assert got is not None and got["new_token_ids"] == record["new_token_ids"]
    assert got["original_vocab_size"] == record["original_vocab_size"]
    assert read_extension(tiny_qwen25) is None
    (tmp_path / EXTENSION_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(JaftError, match="unreadable extension record"):
        read_extension(tmp_path)
    (tmp_path / EXTENSION_FILE).write_text('{"format": 99}', encoding="utf-8")
    with pytest.raises(JaftError, match="not a jaft tokenizer extension record"):
        read_extension(tmp_path)


@pytest.mark.parametrize("which", ["ext_qwen25", "ext_bpe"])
def test_lora_trains_the_new_rows_and_leaves_old_rows(which, request):
    """PEFT LoRA with jaft's trainable_token_indices: new rows (and an untied head's) learn, old rows stay."""
    import torch
    from peft import LoraConfig, get_peft_model

    from jaft.tokenizer.extend import trainable_token_indices

    out, record = request.getfixturevalue(which)
    indices = trainable_token_indices(out)
    assert indices["embed_tokens"] == record["new_token_ids"]
    assert ("lm_head" in indices) == (not record["tied_embeddings"])
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(out))
    before_emb = model.get_input_embeddings().weight.detach().clone()
    before_head = model.get_output_embeddings().weight.detach().clone()
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                  trainable_token_indices=indices))
    new_ids = record["new_token_ids"][:8]
    ids = torch.tensor([new_ids + new_ids])
    opt = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=1.0)
    peft_model(input_ids=ids, labels=ids).loss.backward()
    opt.step()
    merged = peft_model.merge_and_unload()
    emb, head = merged.get_input_embeddings().weight, merged.get_output_embeddings().weight
    v = record["original_vocab_size"]
    assert torch.equal(emb[:v], before_emb[:v]) and torch.equal(head[:v], before_head[:v])
    assert not torch.equal(emb[new_ids], before_emb[new_ids])
    assert not torch.equal(head[new_ids], before_head[new_ids])


def test_loaded_model_path_writes_the_same_weights(ext_bpe, tiny_qwen, tech_file, tmp_path):
    """Growing shards in place (default for local safetensors) and growing the loaded model agree."""
    import torch
    from safetensors.torch import load_file

    from jaft.tokenizer.extend import extend_model

    out, record = ext_bpe
    assert record["method"] == "safetensors"
    other = extend_model(str(tiny_qwen), [tech_file], 40, tmp_path / "mem", min_frequency=2, in_memory=True)
    assert other["method"] == "transformers"
    assert other["new_token_ids"] == record["new_token_ids"] and other["embedding_rows"] == record["embedding_rows"]
    a, b = load_file(str(out / "model.safetensors")), load_file(str(tmp_path / "mem" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((out / "config.json").read_text())["vocab_size"] == record["embedding_rows"]


def test_sharded_checkpoint(ext_bpe, tiny_qwen, tech_file, tmp_path):
    """A checkpoint in several shards: only the shards holding the embeddings are rewritten."""
    import shutil

    import torch

    from jaft.tokenizer.extend import extend_model

    sharded = tmp_path / "sharded"
    _model(tiny_qwen).save_pretrained(sharded, max_shard_size="1MB")
    for f in tiny_qwen.iterdir():
        if f.name.startswith(("tokenizer", "chat_template")):
            shutil.copy(f, sharded / f.name)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    record = extend_model(str(sharded), [tech_file], 40, tmp_path / "out", min_frequency=2)
    assert record["method"] == "safetensors"
    new_index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert new_index["weight_map"] == index["weight_map"]
    grown = (record["embedding_rows"] - record["original_embedding_rows"]) * 256 * 4 * 2  # embed + lm_head, fp32
    assert new_index["metadata"]["total_size"] == index["metadata"]["total_size"] + grown
    a, b = _model(ext_bpe[0]).state_dict(), _model(tmp_path / "out").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_trainable_token_indices_of_a_plain_model(tiny_qwen):
    from jaft.tokenizer.extend import trainable_token_indices

    assert trainable_token_indices(tiny_qwen) is None


def test_within_words_tokens_never_join_two_words(tiny_qwen, tech_file):
    from jaft.tokenizer.extend import extended_backend, learn_extension

    backend = _tok(tiny_qwen).backend_tokenizer
    lines = tech_file.read_text(encoding="utf-8").splitlines()
    strict = learn_extension(backend, lines, 60, min_frequency=2, word_boundaries=True)
    free = learn_extension(backend, lines, 60, min_frequency=2)
    assert _joins_across_words(extended_backend(backend, strict), strict, lines) == []
    # without the constraint BPE joins frequent word sequences (a noun and its particle, …)
    assert _joins_across_words(extended_backend(backend, free), free, lines)


# -- bad input ------------------------------------------------------------------------------------


def test_no_japanese_in_the_data(tiny_qwen, tmp_path):
    data = tmp_path / "en.txt"
    data.write_text("\n".join(ENGLISH), encoding="utf-8")
    r = run_jaft("tokenizer", "extend", "--model", str(tiny_qwen), "--data", str(data), "--add", "10",
                 "--out", str(tmp_path / "out"))
    assert_clean_error(r, "no Japanese text")
    assert not (tmp_path / "out").exists()


def test_add_more_than_the_data_supports(tiny_qwen, tech_file):
    from jaft.tokenizer.extend import learn_extension

    lines = tech_file.read_text(encoding="utf-8").splitlines()
    with pytest.raises(JaftError, match=r"--add 100000: this data supports only (\d+) new tokens") as e:
        learn_extension(_tok(tiny_qwen).backend_tokenizer, lines, 100000, min_frequency=2)
    supported = int(e.value.message.split("supports only ")[1].split()[0])
    assert len(learn_extension(_tok(tiny_qwen).backend_tokenizer, lines, supported, min_frequency=2).tokens) == supported


def test_model_without_a_fast_tokenizer(tmp_path, tech_file):
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "config.json").write_text('{"model_type": "t5"}', encoding="utf-8")
    (slow / "tokenizer_config.json").write_text('{"tokenizer_class": "ByT5Tokenizer"}', encoding="utf-8")
    r = run_jaft("tokenizer", "extend", "--model", str(slow), "--data", str(tech_file), "--out", str(tmp_path / "o"))
    assert_clean_error(r, "not a fast tokenizer")
    from jaft.tokenizer.hf import load_fast_tokenizer

    with pytest.raises(JaftError, match="not a fast tokenizer"):  # analyze loads the same way
        load_fast_tokenizer(str(slow))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--add", "0"], "--add 0"),
        (["--min-frequency", "1"], "--min-frequency 1"),
        (["--data", "/nonexistent/ja.txt"], "no such file"),
        (["--model", "/nonexistent/model"], "no such model directory"),
    ],
)
def test_bad_options(args, needle, tiny_qwen, tech_file, tmp_path):
    base = {"--model": str(tiny_qwen), "--data": str(tech_file), "--out": str(tmp_path / "o")}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    assert_clean_error(run_jaft("tokenizer", "extend", *flat), needle)


def test_existing_out_needs_force(tiny_qwen, tech_file, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = run_jaft("tokenizer", "extend", "--model", str(tiny_qwen), "--data", str(tech_file), "--out", str(out))
    assert_clean_error(r, "already exists", "--force")
    assert (out / "keep.txt").exists()


def test_learn_refuses_a_non_bpe_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers

    from jaft.tokenizer.extend import learn_extension

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "日本": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(JaftError, match="byte-level BPE"):
        learn_extension(tok, ["日本 日本"], 5)


@pytest.mark.slow
def test_cli_extend_end_to_end(tiny_qwen25, tech_file, tmp_path):
    out = tmp_path / "ext"
    r = run_jaft("tokenizer", "extend", "--model", str(tiny_qwen25), "--data", str(tech_file), "--add", "20",
                 "--min-frequency", "2", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "added 20 tokens" in r.stdout
    rec = json.loads((out / "jaft_tokenizer_extension.json").read_text(encoding="utf-8"))
    assert len(rec["new_token_ids"]) == 20
    r = run_jaft("tokenizer", "analyze", "--model", str(tiny_qwen25), "--compare", str(out), "--data", str(tech_file))
    assert r.returncode == 0, r.stderr
    header = next(line for line in r.stdout.splitlines() if "figure" in line)
    assert "tiny-qwen25" in header and " ext " in header and "ratio" in header


@pytest.mark.slow
def test_gguf_export_carries_the_new_tokens(ext_qwen25, bundled_file, tmp_path):
    """jaft export gguf writes the new tokens and merges; llama.cpp then tokenizes like transformers."""
    import llama_cpp

    out, record = ext_qwen25
    r = run_jaft("export", "gguf", "--model", str(out), "--out", str(tmp_path / "exp"))
    assert r.returncode == 0, r.stderr
    gguf = tmp_path / "exp" / "model-f16.gguf"
    llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    assert llm.n_vocab() == record["embedding_rows"]
    texts = [*bundled_file.read_text(encoding="utf-8").splitlines(), *ENGLISH]
    used = 0
    for text in texts:
        hf = _ids(_tok(out), text)
        used += sum(1 for i in hf if i in set(record["new_token_ids"]))
        assert llm.tokenize(text.encode(), add_bos=False, special=False) == hf, text
    assert used > 0
