import pytest

from jaft.errors import JaftError
from jaft.hardware import Hardware
from jaft.registry import load_registry
from jaft.selection import DOWN, ENTER, UP, pick_interactively, picker_step, select_model


def test_model_type():
    c = select_model(model_type="qwen-14b")
    assert c.entry.key == "qwen-14b" and c.path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-14B"


def test_model_name_registry_hub_id_keeps_curated_strategy():
    c = select_model(model_name="deepseek-ai/DeepSeek-R1-Distill-Qwen-32B")
    assert c.entry.key == "qwen-32b" and not c.entry.derived


def test_model_name_local_dir_gets_derived_strategy(tiny_qwen):
    c = select_model(model_name=str(tiny_qwen))
    assert c.entry.derived and c.entry.family == "qwen2" and c.entry.chat_template == "deepseek-r1"
    assert c.entry.recommended_batch_size == 8
    assert c.path == str(tiny_qwen)


def test_auto_on_cpu_takes_smallest():
    assert select_model(auto=True, hardware=Hardware.cpu_only()).entry.key == "qwen-1.5b"


@pytest.mark.parametrize(
    "kwargs", [dict(model_type="qwen-14b", auto=True), dict(model_name="a/b", auto=True),
               dict(model_type="qwen-14b", model_name="a/b")]
)
def test_exclusive(kwargs):
    with pytest.raises(JaftError, match="exclusive"):
        select_model(**kwargs)


@pytest.mark.parametrize(
    ("name", "needle"),
    [("./missing-model", "no such directory"), ("just-a-name", "not a Hub id"), ("a/b/c", "not a Hub id")],
)
def test_model_name_errors(name, needle):
    with pytest.raises(JaftError, match=needle):
        select_model(model_name=name)


# (start index, key, typed) → (index, typed, done); 9 entries
@pytest.mark.parametrize(
    ("start", "key", "typed", "expected"),
    [
        (0, DOWN, "", (1, "", False)),
        (0, UP, "", (8, "", False)),  # wraps around
        (8, DOWN, "", (0, "", False)),
        (0, "3", "", (2, "3", False)),
        (2, ENTER, "3", (2, "3", True)),
        (0, "x", "", (0, "", False)),  # other keys ignored
        (4, "0", "", (4, "0", False)),  # 0 is not an entry
    ],
)
def test_picker_keys(start, key, typed, expected):
    assert picker_step(start, key, 9, typed) == expected


def test_picker_cancel():
    with pytest.raises(JaftError, match="cancelled"):
        picker_step(0, "q", 9, "")


def test_pick_with_arrows_and_number():
    entries = load_registry().candidates()
    keys = iter([DOWN, DOWN, UP, ENTER])
    assert pick_interactively(entries, read_key=lambda: next(keys)).key == entries[1].key
    keys = iter(["4", ENTER])
    assert pick_interactively(entries, read_key=lambda: next(keys)).key == entries[3].key
    keys = iter([ENTER])
    chosen = select_model(interactive=True, read_key=lambda: next(keys))
    assert chosen.entry.default and chosen.how == "interactive"
