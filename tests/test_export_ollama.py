"""Ollama Modelfile: derived per family, equal to the reviewed expected files, and equivalent to Jinja."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaft.errors import JaftError
from jaft.export.gotemplate import GoTemplateError, render
from jaft.export.ollama import (
    PROBES,
    build_modelfile,
    check_equivalent,
    derive_turns,
    go_template,
    render_go,
    render_jinja,
)
from jaft.models.templates import template_text

DATA = Path(__file__).parent / "data" / "export"
# (bos, eos, add_bos) as the real models' GGUFs have them: R1-Distill and Llama-3 add BOS, Qwen does not.
FAMILIES = {
    "deepseek-r1": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", True),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", True),
    "chatml": ("", "<|im_end|>", False),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_modelfile_text_per_family(family):
    bos, eos, add_bos = FAMILIES[family]
    text, _, detected = build_modelfile(template_text(family), bos_token=bos, eos_token=eos, add_bos=add_bos,
                                        gguf_name="model-q4_k_m.gguf", source="test")
    assert detected == family
    assert text == (DATA / f"Modelfile.{family}").read_text(encoding="utf-8")


def _conversation(family: str) -> list[dict[str, str]]:
    conv = [
        {"role": "user", "content": "日本で一番高い山は？"},
        {"role": "assistant", "content": "富士山です。標高は3776メートルです。", "reasoning": "日本の最高峰を思い出す。"},
        {"role": "user", "content": "二番目は？"},
    ]
    if family != "deepseek-r1":  # R1: DeepSeek recommends no system prompt
        conv.insert(0, {"role": "system", "content": "あなたは地理に詳しいアシスタントです。"})
    return conv


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("add_bos", [True, False])
def test_jinja_and_modelfile_templates_describe_the_same_turns(family, add_bos):
    """The GGUF's Jinja template and the Modelfile TEMPLATE render one conversation to the same prompt."""
    bos, eos, _ = FAMILIES[family]
    jinja = template_text(family)
    turns = derive_turns(jinja, bos_token=bos, eos_token=eos, add_bos=add_bos)
    go = go_template(turns, thinking=family == "deepseek-r1")
    conv = _conversation(family)
    want = render_jinja(jinja, conv, add_generation_prompt=True, bos_token=bos, eos_token=eos)
    got = render_go(go, conv)
    if add_bos and bos:
        assert turns.bos_from_tokenizer and not got.startswith(bos)  # llama.cpp adds it, not the template
        got = bos + got
    assert got == want
    # Past reasoning: R1's template drops it (Ollama keeps it in .Thinking); the others keep it inline.
    assert ("日本の最高峰" in want) == (family != "deepseek-r1") == (not turns.strips_reasoning)
    if family == "deepseek-r1":
        assert want.endswith("<｜Assistant｜><think>\n")
    mismatches = check_equivalent(jinja, go, bos_token=bos, eos_token=eos, add_bos=add_bos)
    # Llama-3's `| trim` has no Go counterpart: the whitespace probes catch it, and only them.
    assert [m for m in mismatches if not m["whitespace_only"]] == []
    assert bool(mismatches) == (family == "llama3")


def test_reasoning_stays_for_templates_that_keep_it():
    bos, eos, add_bos = FAMILIES["chatml"]
    jinja = template_text("chatml")
    go = go_template(derive_turns(jinja, bos_token=bos, eos_token=eos, add_bos=add_bos), thinking=False)
    conv = [{"role": "user", "content": "問"}, {"role": "assistant", "content": "答", "reasoning": "考"},
            {"role": "user", "content": "次"}]
    assert "考" in render_go(go, conv) == render_jinja(jinja, conv, add_generation_prompt=True, bos_token=bos,
                                                       eos_token=eos)


def test_drift_is_detected():
    """A hand-edited TEMPLATE (EOS after assistant turns dropped) no longer matches the model's template."""
    bos, eos, add_bos = FAMILIES["deepseek-r1"]
    jinja = template_text("deepseek-r1")
    go = go_template(derive_turns(jinja, bos_token=bos, eos_token=eos, add_bos=add_bos), thinking=True)
    drifted = go.replace("<｜end▁of▁sentence｜>", "")
    assert check_equivalent(jinja, drifted, bos_token=bos, eos_token=eos, add_bos=add_bos)
    assert not check_equivalent(jinja, go, bos_token=bos, eos_token=eos, add_bos=add_bos)
    assert len(PROBES) >= 3


def test_template_that_cannot_be_reproduced_is_refused():
    # Content rendered twice: no prefix/suffix decomposition exists, so nothing is written.
    jinja = "{% for m in messages %}{{ m['content'] }}|{{ m['content'] }}{% endfor %}"
    with pytest.raises(JaftError):
        build_modelfile(jinja, bos_token="", eos_token="</s>", add_bos=False, gguf_name="m.gguf")


@pytest.mark.parametrize(
    "template,data,expected",
    [
        ('a {{- " " }} b', {}, "a  b"),
        ("x  {{- .A -}}  y", {"A": "1"}, "x1y"),
        ('{{ if eq .R "u" }}U{{ else if eq .R "a" }}A{{ else }}?{{ end }}', {"R": "a"}, "A"),
        ("{{ range $i, $m := .L }}{{ $i }}={{ $m.V }};{{ end }}", {"L": [{"V": "あ"}, {"V": "い"}]}, "0=あ;1=い;"),
        ("{{ range .L }}{{ $l := eq (len (slice $.L 1)) 1 }}{{ $l }}{{ end }}", {"L": [1, 2]}, "truetrue"),
        ("{{ if and .A (not .B) }}yes{{ end }}", {"A": True, "B": ""}, "yes"),
        ("{{ if or .B .A }}{{ .A }}{{ end }}", {"A": "z", "B": ""}, "z"),
        ('{{ "改行\\n" }}', {}, "改行\n"),
        ("{{ $x := 1 }}{{ if .A }}{{ $x = 2 }}{{ end }}{{ $x }}", {"A": True}, "2"),
    ],
)
def test_go_template_subset(template, data, expected):
    assert render(template, data) == expected


@pytest.mark.parametrize("template", ["{{ with .A }}x{{ end }}", "{{ printf \"%s\" .A }}", "{{ if .A }}x", "{{ .Missing }}"])
def test_go_template_outside_the_subset_is_an_error(template):
    with pytest.raises(GoTemplateError):
        render(template, {"A": "a"})


def test_modelfile_for_a_tiny_model_gguf(tiny_qwen, tmp_path):
    """From a real GGUF: FROM points at the file, stops and sampling are R1's, no SYSTEM line."""
    from jaft.export.gguf import convert_to_gguf
    from jaft.export.ollama import ollama_create, write_modelfile

    gguf = tmp_path / "model-f16.gguf"
    convert_to_gguf(tiny_qwen, gguf)
    r = write_modelfile(gguf, tmp_path / "Modelfile", name="tiny-r1:f16")
    text = (tmp_path / "Modelfile").read_text(encoding="utf-8")
    assert "FROM ./model-f16.gguf" in text
    assert 'PARAMETER stop "<｜User｜>"' in text and "PARAMETER temperature 0.6" in text
    assert "SYSTEM" not in text
    # The tiny tokenizer adds no BOS, so the template writes it.
    assert r.turns.preamble == "<｜begin▁of▁sentence｜>" and not r.turns.bos_from_tokenizer
    assert r.command == f"cd {tmp_path} && ollama create tiny-r1:f16 -f Modelfile"
    import shutil

    if shutil.which("ollama") is None:
        assert ollama_create(r, "tiny-r1:f16").created is None  # the command is printed instead
