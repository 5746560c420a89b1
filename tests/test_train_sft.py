"""SFT end to end on tiny models: LoRA, QLoRA and full learn; continue; NaN and OOM handling."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from safetensors.torch import load_file

from jaft.config import load_run_config
from jaft.data.records import Record
from jaft.errors import JaftError
from jaft.train.sft import run_sft


def math_records(n: int = 16) -> list[Record]:
    out = []
    for i in range(n):
        a, b = i % 5 + 1, (i * 3) % 5 + 2
        out.append(Record(kind="prompt_completion", prompt=f"{a}個と{b}個で全部で何個ですか。",
                          completion=f"<think>\n{a}+{b}={a + b}です。\n</think>\n<answer>{a + b}</answer>",
                          answer=str(a + b)))
    return out


def train(model_dir, out, *sets, records=None, **kw):
    cfg = load_run_config(sets=[f"model.model_name={model_dir}", f"train.output_dir={out}", "train.logging_steps=1",
                                "train.save_steps=1000", "train.batch_size=4", "train.gradient_accumulation=1",
                                "train.packing=false", *sets])
    recs = records or math_records()
    return run_sft(cfg, records=(recs, []), generation_test=False, **kw)


def losses(run) -> list[float]:
    return [r["loss"] for r in run.read_metrics() if "loss" in r]


@pytest.mark.parametrize(
    ("method", "extra"),
    [("lora", ["train.learning_rate=5e-3"]), ("full", ["train.learning_rate=1e-3"]),
     ("qlora", ["train.learning_rate=5e-3"])],
)
def test_methods_learn(tiny_qwen, tmp_path, method, extra):
    run = train(tiny_qwen, tmp_path / method, f"train.method={method}", "train.max_steps=8", *extra)
    ls = losses(run)
    assert len(ls) >= 8 and ls[-1] < ls[0] * 0.9, ls
    kind, path = run.final_weights()
    assert kind == ("model" if method == "full" else "adapter")
    weights = load_file(path / ("model.safetensors" if method == "full" else "adapter_model.safetensors"))
    if method == "full":
        base = load_file(tiny_qwen / "model.safetensors")
        changed = [k for k in base if k in weights and not torch.equal(base[k], weights[k].to(base[k].dtype))]
        assert len(changed) > len(base) // 2
    else:
        lora_b = [v for k, v in weights.items() if "lora_B" in k]
        assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # B starts at zero: it moved
    recorded = run.read_run_file()
    assert recorded["status"] == "finished" and recorded["applied"]["method"]["value"] == method
    if method == "qlora":
        assert recorded["applied"]["load_in"]["value"] == "4bit"
        cfg = json.loads((path / "adapter_config.json").read_text())
        assert set(cfg["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert (run.path / "report.md").is_file() and (run.path / "loss.png").is_file()
    assert (path / "tokenizer.json").is_file() and (path / "chat_template.jinja").is_file()


def test_strategy_from_registry_recorded(tiny_qwen, tmp_path):
    run = train(tiny_qwen, tmp_path / "r", "train.max_steps=1")
    applied = run.read_run_file()["applied"]
    assert applied["lora_r"] == {"value": 8, "source": "registry", "why": "derived from config.json"}
    assert applied["batch_size"]["source"] == "config"
    assert applied["precision"]["value"] == "fp32"


def test_continue_from_adapter(tiny_qwen, tmp_path):
    first = train(tiny_qwen, tmp_path / "a", "train.max_steps=3", "train.learning_rate=5e-3")
    adapter = first.adapter_dir
    before = load_file(adapter / "adapter_model.safetensors")
    cfg = load_run_config(sets=[f"train.continue_from={adapter}", f"train.output_dir={tmp_path / 'b'}",
                                "train.max_steps=3", "train.learning_rate=5e-3", "train.logging_steps=1",
                                "train.batch_size=4", "train.packing=false"])
    second = run_sft(cfg, records=(math_records(), []), generation_test=False)
    after = load_file(second.adapter_dir / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    # It continued, not restarted: its first loss is already below the first run's first loss.
    assert losses(second)[0] < losses(first)[0]
    recorded = second.read_run_file()
    assert recorded["model_path"] == str(tiny_qwen)  # base read from adapter_config.json


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_qwen, tmp_path, monkeypatch):
    from trl import SFTTrainer

    original = SFTTrainer.compute_loss

    def poisoned(self, model, inputs, *a, **k):
        loss = original(self, model, inputs, *a, **k)
        if self.state.global_step >= 3:
            loss = loss * float("nan")
        return loss

    monkeypatch.setattr(SFTTrainer, "compute_loss", poisoned)
    with pytest.raises(JaftError, match=r"training stopped at step \d+.*checkpoint-2"):
        train(tiny_qwen, tmp_path / "n", "train.max_steps=8", "train.save_steps=2")
    ckpts = sorted(p.name for p in (tmp_path / "n" / "checkpoints").iterdir() if p.name.startswith("checkpoint"))
    assert ckpts == ["checkpoint-2"]


def test_oom_names_the_next_things_to_try(tiny_qwen, tmp_path, monkeypatch):
    from trl import SFTTrainer

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(SFTTrainer, "train", oom)
    with pytest.raises(JaftError) as err:
        train(tiny_qwen, tmp_path / "o", "train.max_steps=1")
    msg = str(err.value)
    for needle in ("out of memory", "train.batch_size=2", "gradient_accumulation=2", "--method qlora",
                   "max_seq_length", "jaft plan"):
        assert needle in msg, needle


def test_interactive_settings_offer_defaults(tiny_qwen, tmp_path, monkeypatch):
    """The seed's interactive settings: epochs, learning rate and output name, defaults offered."""
    from rich.prompt import FloatPrompt, Prompt

    asked = []

    def answer(prompt, default=None, **kw):
        asked.append((prompt.split(" /")[0], default))
        return {"エポック数": 2.0, "学習率": 1e-3}.get(prompt.split(" /")[0], str(tmp_path / "picked"))

    monkeypatch.setattr(FloatPrompt, "ask", answer)
    monkeypatch.setattr(Prompt, "ask", answer)
    cfg = load_run_config(sets=[f"model.model_name={tiny_qwen}", "train.max_steps=1", "train.batch_size=4",
                                "train.packing=false"])
    run = run_sft(cfg, records=(math_records(4), []), generation_test=False, interactive=True)
    assert [a[0] for a in asked] == ["エポック数", "学習率", "出力名"]
    assert asked[0][1] == 3.0 and asked[1][1] == pytest.approx(2e-4)  # defaults: config and registry
    assert run.path == tmp_path / "picked"
    applied = run.read_run_file()
    assert applied["config"]["train"]["epochs"] == 2.0
    assert applied["applied"]["learning_rate"] == {"value": 1e-3, "source": "config", "why": "entered interactively"}


def test_extended_vocabulary_rows_train_under_lora(tiny_qwen, tmp_path):
    """A model extended by `jaft tokenizer extend`: LoRA training also trains exactly the new rows."""
    from jaft.tokenizer.extend import extend_model, read_extension

    text = tmp_path / "ja.txt"
    text.write_text("\n".join(["機械学習のモデルを日本語で学習します。"] * 30 + ["形態素解析で単語に分けます。"] * 30),
                    encoding="utf-8")
    ext = tmp_path / "ext"
    extend_model(str(tiny_qwen), [str(text)], 4, str(ext))
    new_ids = read_extension(ext)["new_token_ids"]
    run = train(ext, tmp_path / "run", "train.max_steps=3", "train.learning_rate=5e-2",
                records=[Record(kind="text", text="機械学習のモデルを日本語で学習します。形態素解析で単語に分けます。")] * 8)
    assert "new_token_rows" in run.read_run_file()["applied"]
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(ext)
    before = base.get_input_embeddings().weight.detach().clone()
    merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(ext), run.adapter_dir).merge_and_unload()
    after = merged.get_input_embeddings().weight.detach()
    changed = (after - before).abs().sum(dim=1) > 0
    assert changed[new_ids].all()
    old = [i for i in range(before.shape[0]) if i not in set(new_ids)]
    assert not changed[old].any()


def test_speed_levers_recorded_and_token_metrics_off_by_default(tiny_qwen, tmp_path):
    run = train(tiny_qwen, tmp_path / "off", "train.max_steps=2")
    applied = run.read_run_file()["applied"]
    # CPU: no Triton kernels, fused AdamW; checkpointing off because the planner's estimate fits.
    assert applied["use_liger"]["value"] is False and "CUDA" in applied["use_liger"]["why"]
    assert applied["optimizer"]["value"] == "adamw_torch_fused"
    assert applied["torch_compile"]["value"] is False
    assert applied["gradient_checkpointing"]["value"] is False
    assert applied["gradient_checkpointing"]["why"].startswith("off: the estimate")
    rows = run.read_metrics()
    assert any("loss" in r for r in rows)
    assert not any("entropy" in r or "mean_token_accuracy" in r for r in rows)
    on = train(tiny_qwen, tmp_path / "on", "train.max_steps=2", "train.token_metrics=true")
    assert on.read_run_file()["applied"]["token_metrics"] == {"value": True, "source": "config", "why": "set by you"}
    assert any("mean_token_accuracy" in r for r in on.read_metrics())


@pytest.mark.parametrize("packing", ["false", "true"])
def test_fixed_examples_train_in_the_given_batches(tiny_qwen, tmp_path, monkeypatch, packing):
    # Benchmarks hand jaft pre-tokenized batches: each step must see exactly the given rows, in order, and
    # the non-pad token count must be theirs (padded or padding-free).
    from trl import SFTTrainer

    examples = [{"input_ids": [5 + i] * n, "completion_mask": [0] * 2 + [1] * (n - 2)}
                for i, n in enumerate([9, 4, 7, 12, 3, 8, 6, 10])]
    seen: list[list[int]] = []
    real = []
    orig = SFTTrainer.compute_loss

    def spy(self, model, inputs, *a, **k):
        if "attention_mask" in inputs:
            rows = [ids[m.bool()].tolist() for ids, m in zip(inputs["input_ids"], inputs["attention_mask"], strict=True)]
        else:  # padding-free: one row, position_ids restart at 0 for each example
            ids, pos = inputs["input_ids"][0].tolist(), inputs["position_ids"][0].tolist()
            starts = [i for i, p in enumerate(pos) if p == 0] + [len(ids)]
            rows = [ids[a:b] for a, b in itertools.pairwise(starts)]
        seen.extend(r[0] for r in rows)
        real.append(sum(len(r) for r in rows))
        return orig(self, model, inputs, *a, **k)

    monkeypatch.setattr(SFTTrainer, "compute_loss", spy)
    cfg = load_run_config(sets=[f"model.model_name={tiny_qwen}", f"train.output_dir={tmp_path / 'r'}",
                                "train.save_steps=1000", "train.batch_size=4", "train.gradient_accumulation=1",
                                "train.max_steps=2", f"train.packing={packing}", "train.max_seq_length=16"])
    run = run_sft(cfg, examples=examples, generation_test=False)
    assert seen == [5 + i for i in range(8)]
    assert real == [9 + 4 + 7 + 12, 3 + 8 + 6 + 10]
    assert run.read_run_file()["applied"]["batching"]["value"] == ("packed" if packing == "true" else "grouped")
