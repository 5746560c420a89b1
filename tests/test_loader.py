import pytest

import jaft.models.loader as loader
from jaft.errors import JaftError
from jaft.models.loader import LoadSpec, load_model


class FakeOOM(RuntimeError):
    pass


def test_oom_falls_back_to_4bit_then_next_model(monkeypatch, tiny_qwen, tiny_llama):
    calls = []

    def fake(spec):
        calls.append((spec.name_or_path, spec.load_in))
        if spec.name_or_path == "big/model":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return object()

    monkeypatch.setattr(loader, "_from_pretrained", fake)
    monkeypatch.setattr(loader, "check_model_source", lambda name: None)
    notes = []
    got = load_model(LoadSpec("big/model", fallback_models=[str(tiny_qwen)]), log=notes.append)
    assert calls == [("big/model", "16bit"), ("big/model", "4bit"), (str(tiny_qwen), "16bit")]
    assert got.name_or_path == str(tiny_qwen) and got.load_in == "16bit"
    assert "retrying in 4bit" in notes[0] and "falling back to" in notes[1]
    assert got.notes[-1].startswith("loaded")


def test_all_oom_is_a_clear_error(monkeypatch):
    import torch

    def fake(spec):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(loader, "_from_pretrained", fake)
    monkeypatch.setattr(loader, "check_model_source", lambda name: None)
    with pytest.raises(JaftError, match="even in 4-bit"):
        load_model(LoadSpec("big/model"), log=lambda s: None)


def test_other_errors_are_not_swallowed(monkeypatch):
    def fake(spec):
        raise KeyError("weights mismatch")

    monkeypatch.setattr(loader, "_from_pretrained", fake)
    monkeypatch.setattr(loader, "check_model_source", lambda name: None)
    with pytest.raises(KeyError):
        load_model(LoadSpec("big/model"))


def test_real_loads_16bit_and_4bit(tiny_qwen):
    import bitsandbytes as bnb

    m = load_model(LoadSpec(str(tiny_qwen), load_in="32bit"))
    assert m.load_in == "32bit" and not m.notes
    q = load_model(LoadSpec(str(tiny_qwen), load_in="4bit", device_map="cpu"))
    assert isinstance(q.model.model.layers[0].self_attn.q_proj, bnb.nn.Linear4bit)
    assert q.model.config.quantization_config.bnb_4bit_use_double_quant


@pytest.mark.parametrize(
    ("setup", "needle"),
    [("missing", "no such model directory"), ("empty", "no config.json"), ("adapter", "LoRA adapter"),
     ("file", "is a file")],
)
def test_bad_sources(tmp_path, setup, needle):
    p = tmp_path / "m"
    if setup == "empty":
        p.mkdir()
    elif setup == "adapter":
        p.mkdir()
        (p / "adapter_config.json").write_text("{}")
    elif setup == "file":
        p.write_text("x")
    with pytest.raises(JaftError, match=needle):
        load_model(LoadSpec(str(p)))


def test_trust_remote_code_defaults_off():
    assert LoadSpec("x/y").trust_remote_code is False
