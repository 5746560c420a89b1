from pathlib import Path

import pytest
import yaml

from jaft.config import load_run_config
from jaft.errors import JaftError
from jaft.registry import load_registry

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRESETS = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name not in ("accelerate", "recipes"))
RECIPES = sorted((CONFIGS / "recipes").glob("*.yaml"))
ACCELERATE = sorted((CONFIGS / "accelerate").glob("*.yaml"))


def test_every_model_and_method_has_a_preset():
    names = {(p.parent.name, p.stem) for p in PRESETS}
    for m in load_registry().models:
        for method in ("lora", "qlora", "full"):
            assert (m.key, method) in names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_preset_loads_and_matches_registry(path):
    cfg = load_run_config(path)
    entry = load_registry().get(cfg.model.model_type)
    assert cfg.train.method == path.stem
    assert cfg.train.batch_size == entry.recommended_batch_size
    assert cfg.train.gradient_accumulation == entry.recommended_gradient_accumulation
    if path.stem != "full":
        assert cfg.train.learning_rate == entry.recommended_learning_rate
        assert (cfg.lora.r, cfg.lora.alpha) == (entry.recommended_lora_r, entry.recommended_lora_alpha)
    if path.stem == "qlora":
        assert cfg.model.load_in == "4bit"


def test_precedence_defaults_yaml_set_flags(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train:\n  epochs: 2\n  learning_rate: 1.0e-4\nlora:\n  r: 4\n", encoding="utf-8")
    cfg = load_run_config(p, overrides={"train.epochs": 5, "train.max_steps": None},
                          sets=["train.learning_rate=3e-4", "lora.target_modules=[q_proj, v_proj]"])
    assert cfg.train.epochs == 5  # flag beats --set and YAML
    assert cfg.train.learning_rate == 3e-4  # --set beats YAML
    assert cfg.lora.r == 4 and cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.train.max_steps == -1  # a flag left at None does not override


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["train.lerning_rate=1"], "did you mean 'learning_rate'"),
        (["grpo.num_generations=3"], "must divide"),
        (["export.quant=[q3_x]"], "export.quant.0"),
        (["data.mode=prod"], "data.mode"),
    ],
)
def test_validation_messages(sets, message):
    with pytest.raises(JaftError, match=message):
        load_run_config(sets=sets)


def test_resolved_config_round_trips():
    cfg = load_run_config(sets=["train.epochs=1", "model.model_type=qwen-1.5b"])
    from jaft.config import RunConfig

    assert RunConfig.model_validate(yaml.safe_load(yaml.safe_dump(cfg.model_dump(mode="json")))) == cfg


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipes_load(path):
    cfg = load_run_config(path)
    assert cfg.train.system_prompt == cfg.grpo.system_prompt  # SFT and GRPO ask the same way


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_presets_are_valid_accelerate_configs(path):
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(path))
    assert cfg.num_machines == 1 and cfg.distributed_type.value in ("MULTI_GPU", "FSDP", "DEEPSPEED")


def test_accelerate_presets_cover_ddp_fsdp_deepspeed():
    from jaft.train.distributed import PRESETS as NAMES

    assert sorted(p.stem for p in ACCELERATE) == sorted(NAMES)
