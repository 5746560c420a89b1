import pytest

from jaft.errors import JaftError
from jaft.registry import entry_from_config, load_registry

# The seed's table (000_…): key → (Hub id, batch, grad-accum, lr, r, alpha, memory GB)
SEED = {
    "llama-8b": ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", 4, 4, 1e-4, 16, 32, 16),
    "qwen-14b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-14B", 2, 8, 8e-5, 32, 64, 28),
    "qwen-32b": ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", 1, 16, 5e-5, 64, 128, 64),
}


@pytest.mark.parametrize("key", sorted(SEED))
def test_seed_strategies_exact(key):
    e = load_registry().get(key)
    s = e.strategy()
    name, batch, accum, lr, r, alpha, mem = SEED[key]
    assert (s["model_name"], s["recommended_batch_size"], s["recommended_gradient_accumulation"]) == (name, batch, accum)
    assert s["recommended_learning_rate"] == lr
    assert (s["recommended_lora_r"], s["recommended_lora_alpha"], s["memory_requirements_gb"]) == (r, alpha, mem)


def test_default_and_seed_lowercase_id():
    reg = load_registry()
    assert reg.default().key == "qwen-1.5b"
    # The seed spells the 1.5B id in lower case; the Hub is case-insensitive, so must we be.
    assert reg.find_by_name("deepseek-ai/deepseek-r1-distill-qwen-1.5b").key == "qwen-1.5b"


@pytest.mark.parametrize(
    "hub_id",
    [
        "elyza/Llama-3-ELYZA-JP-8B",
        "stabilityai/japanese-stablelm-3b-4e1t-instruct",
        "cyberagent/DeepSeek-R1-Distill-Qwen-32B-Japanese",
        "cyberagent/DeepSeek-R1-Distill-Qwen-14B-Japanese",
        "rinna/japanese-gpt-neox-3.6b-instruction-sft",
    ],
)
def test_japanese_models_present(hub_id):
    assert load_registry().find_by_name(hub_id) is not None


def test_rinna_is_fallback_only_and_listed_as_fallback():
    reg = load_registry()
    assert reg.get("rinna-3.6b").fallback_only
    assert "rinna-3.6b" not in [m.key for m in reg.candidates()]
    assert "rinna/japanese-gpt-neox-3.6b-instruction-sft" in reg.fallback_models


@pytest.mark.parametrize("key", [m.key for m in load_registry().models])
def test_arch_matches_parameter_count(key):
    e = load_registry().get(key)
    assert e.arch.parameter_count() / 1e9 == pytest.approx(e.parameters_b, rel=0.03)


def test_gguf_support_by_family():
    reg = load_registry()
    assert reg.get("qwen-32b").gguf_supported and reg.get("elyza-8b").gguf_supported
    assert not reg.get("stablelm-3b").gguf_supported and not reg.get("rinna-3.6b").gguf_supported


def test_unknown_key_suggests():
    with pytest.raises(JaftError, match="did you mean 'qwen-32b'"):
        load_registry().get("qwen-23b")


@pytest.mark.parametrize(
    ("layers", "hidden", "inter", "expected"),
    [
        (2, 256, 512, (8, 2, 2e-4, 8, 16)),  # tiny → smallest band
        (32, 4096, 14336, (4, 4, 1e-4, 16, 32)),  # 8B
        (48, 5120, 13824, (2, 8, 8e-5, 32, 64)),  # 14B
        (64, 5120, 27648, (1, 16, 5e-5, 64, 128)),  # 32B
    ],
)
def test_strategy_derived_from_config(layers, hidden, inter, expected):
    cfg = {"model_type": "qwen2", "hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": inter,
           "num_attention_heads": 32 if hidden >= 4096 else 4, "num_key_value_heads": 8, "vocab_size": 152064}
    e = entry_from_config("me/my-model", cfg, "{{ '<｜User｜>' }}")
    got = (e.recommended_batch_size, e.recommended_gradient_accumulation, e.recommended_learning_rate,
           e.recommended_lora_r, e.recommended_lora_alpha)
    assert got == expected
    assert e.derived and e.chat_template == "deepseek-r1" and e.family == "qwen2"
    assert e.memory_requirements_gb == pytest.approx(e.arch.parameter_count() * 2 / 1e9, rel=0.01)


def test_arch_count_equals_real_model(tiny_qwen, tiny_llama):
    import json

    from transformers import AutoModelForCausalLM

    from jaft.registry import arch_from_config

    for d in (tiny_qwen, tiny_llama):
        cfg = json.loads((d / "config.json").read_text())
        model = AutoModelForCausalLM.from_pretrained(d)
        assert arch_from_config(cfg).parameter_count() == sum(p.numel() for p in model.parameters())
