import subprocess
import sys
import time

import pytest

from tests.conftest import assert_clean_error, run_jaft


def test_help_lists_every_command_and_each_has_help():
    from jaft.cli import _modules

    r = run_jaft("--help")
    assert r.returncode == 0
    commands = [m.COMMAND for m in _modules()]
    for name in commands:
        top = name.split()[0]
        assert top in r.stdout, name
    for name in commands:
        sub = run_jaft(*name.split(), "--help")
        assert sub.returncode == 0, (name, sub.stderr)
        assert "Usage" in sub.stdout


def test_import_and_help_do_not_load_torch_or_transformers():
    code = (
        "import sys, jaft, jaft.cli; app = jaft.cli.build_app();\n"
        "heavy = [m for m in ('torch', 'transformers', 'trl', 'peft', 'fugashi', 'datasets', 'datatrove')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


def test_help_starts_under_one_second():
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "jaft", "--help"], capture_output=True, text=True)
        best = min(best, time.perf_counter() - t)
        assert r.returncode == 0
    assert best < 1.0, f"jaft --help took {best:.2f}s"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["config", "--model-type", "qwen-41b"], ["qwen-41b", "did you mean 'qwen-14b'"]),
        (["config", "--model-type", "qwen-14b", "--model-name", "x/y"], ["exclusive"]),
        (["config", "--model-name", "/nonexistent/model"], ["/nonexistent/model"]),
        (["plan", "--model", "lama-8b"], ["did you mean 'llama-8b'"]),
        (["config", "--set", "train.epochs"], ["section.key=value"]),
        (["config", "--set", "trian.epochs=1"], ["trian", "did you mean 'train'"]),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needles):
    assert_clean_error(run_jaft(*args), *needles)


def test_path_without_config_json(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    assert_clean_error(run_jaft("config", "--model-name", str(tmp_path)), "no config.json")


@pytest.mark.parametrize(
    ("yaml_text", "needles"),
    [
        ("train:\n  lerning_rate: 1e-4\n", [":2:", "train.lerning_rate", "did you mean 'learning_rate'"]),
        ("train:\n  epochs: [1\n", ["YAML syntax error"]),
        ("model:\n  model_type: qwen-14b\ntrain:\n  epochs: many\n", [":4:", "train.epochs", "many"]),
        ("lora:\n  r: -3\n", [":2:", "lora.r"]),
        ("- a\n- b\n", ["mapping"]),
    ],
)
def test_bad_config_files(tmp_path, yaml_text, needles):
    path = tmp_path / "run.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    assert_clean_error(run_jaft("config", "--config", str(path)), str(path), *needles)


def test_no_model_without_tty_names_the_flags():
    r = run_jaft("plan", "--help")
    assert "--model" in r.stdout
    from jaft.errors import JaftError
    from jaft.selection import select_model

    with pytest.raises(JaftError, match=r"--model-type.*--model-name.*--auto"):
        select_model(interactive=False)


def test_models_json_has_seed_fields():
    import json

    r = run_jaft("models", "--json")
    rows = json.loads(r.stdout)
    for row in rows:
        for f in ("key", "model_name", "recommended_batch_size", "recommended_gradient_accumulation",
                  "recommended_learning_rate", "recommended_lora_r", "recommended_lora_alpha",
                  "memory_requirements_gb"):
            assert f in row


def test_plan_json_for_other_hardware():
    import json

    r = run_jaft("plan", "--model", "qwen-32b", "--gpus", "24,24", "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)["plan"]
    assert plan["method"] == "qlora" and plan["load_in"] == "4bit"
    assert plan["max_memory"] is not None


def test_error_text_in_brackets_survives(monkeypatch, capsys):
    """pip install 'jaft[gguf]' must reach the user intact, not be eaten as rich markup."""
    import typer

    from jaft.cli import _guard
    from jaft.errors import JaftError

    def boom():
        raise JaftError("llama.cpp bindings missing: pip install 'jaft[gguf]'")

    with pytest.raises(typer.Exit) as ex:
        _guard(boom)()
    assert ex.value.exit_code == 2
    assert "pip install 'jaft[gguf]'" in capsys.readouterr().err
