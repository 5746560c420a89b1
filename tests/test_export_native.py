"""Native crashes in llama.cpp become one error line (jaft issue 11), on any CPU, by fault injection."""

from __future__ import annotations

import json
import os
import signal

import pytest

from jaft.errors import JaftError
from tests.conftest import assert_clean_error, run_jaft


# Module-level, so the child process imports them by name.
def add(a: int, b: int, *, progress=None) -> int:
    if progress:
        for _ in range(3):
            progress(1)
    return a + b


def fail_jaft() -> None:
    raise JaftError("model.gguf: bad file; re-export it")


def fail_value() -> None:
    raise ValueError("plain python error")


def die(signum: int) -> None:
    os.kill(os.getpid(), signum)


def test_result_and_progress_cross_the_process_boundary():
    from jaft.export.native import run_native

    steps: list[int] = []
    assert run_native("demo", add, 2, 3, progress=steps.append) == 5
    assert steps == [1, 1, 1]


def test_errors_in_the_child_keep_their_kind():
    from jaft.export.native import NativeCrash, run_native

    with pytest.raises(JaftError, match="bad file; re-export it") as e:
        run_native("demo", fail_jaft)
    assert not isinstance(e.value, NativeCrash)
    with pytest.raises(ValueError, match="plain python error"):
        run_native("demo", fail_value)


@pytest.mark.parametrize("sig", [signal.SIGSEGV, signal.SIGABRT, signal.SIGILL])
def test_death_by_signal_is_one_line_naming_stage_and_signal(sig):
    from jaft.export.native import NativeCrash, run_native

    with pytest.raises(NativeCrash) as e:
        run_native("verify q4_k_m", die, int(sig))
    msg = e.value.message
    assert msg.startswith("verify q4_k_m: llama.cpp crashed (killed by " + sig.name + ")")
    assert "\n" not in msg and "fix:" in msg
    assert e.value.exit_code == 2 and e.value.signal_name == sig.name


@pytest.mark.parametrize("spec,stage,expected", [
    ("verify q4_k_m", "verify q4_k_m", signal.SIGSEGV),
    ("verify*:SIGABRT", "verify f16", signal.SIGABRT),
    ("quantize*,serve", "serve", signal.SIGSEGV),
    ("verify q4_k_m", "verify f16", None),
    ("", "verify f16", None),
])
def test_injection_patterns(spec, stage, expected):
    from jaft.export.native import injected_signal

    assert injected_signal(stage, spec) == expected


@pytest.mark.parametrize("amx,extra_bufts,known", [(True, True, True), (True, False, False), (False, True, False)])
def test_amx_is_named_only_where_it_can_be_the_cause(monkeypatch, amx, extra_bufts, known):
    import jaft.hardware as hw
    from jaft.export.native import crash_message

    monkeypatch.setattr(hw, "cpu_features", lambda: {"amx": amx})
    msg = crash_message("serve", int(signal.SIGSEGV), -11, extra_bufts=extra_bufts)
    assert ("AMX weight repacking" in msg and "JAFT_LLAMA_EXTRA_BUFTS=0" in msg) is known
    assert "killed by SIGSEGV" in msg


def _stages(out) -> dict:
    return json.loads((out / "export_report.json").read_text(encoding="utf-8"))["stages"]


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["verify q4_k_m", "quantize q4_k_m", "verify tokenization"])
def test_export_crash_keeps_finished_stages_and_rerun_resumes(tiny_qwen, tmp_path, stage):
    out = tmp_path / "export"
    r = run_jaft("export", "--model", str(tiny_qwen), "--out", str(out), env={"JAFT_INJECT_NATIVE_CRASH": stage})
    assert_clean_error(r, f"{stage}: llama.cpp crashed (killed by SIGSEGV)", "fix:")
    assert (out / "model-f16.gguf").is_file() and (out / ".model-f16.gguf.jaft.json").is_file()
    if stage.startswith("verify"):
        assert (out / ".model-q4_k_m.gguf.jaft.json").is_file()
    assert not (out / "verify.json").exists()
    f16_before = (out / "model-f16.gguf").stat().st_mtime_ns

    r = run_jaft("export", "--model", str(tiny_qwen), "--out", str(out), env={"JAFT_INJECT_NATIVE_CRASH": ""})
    assert r.returncode == 0, r.stderr
    stages = _stages(out)
    assert stages["gguf"]["status"] == "reused"
    assert (out / "model-f16.gguf").stat().st_mtime_ns == f16_before
    expect_quant = "reused" if stage.startswith("verify") else "done"
    assert stages["quantize"]["q4_k_m"]["status"] == expect_quant
    assert stages["verify"]["status"] == "done" and stages["verify"]["passed"]
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # the crashed writer's leftovers
    report = json.loads((out / "export_report.json").read_text(encoding="utf-8"))
    assert report["llama_cpp"]["verify_extra_buffer_types"] is False
    assert stages["verify"]["llama_cpp_extra_buffer_types"] is False


def test_model_params_override_sets_and_restores_use_extra_bufts():
    llama_cpp = pytest.importorskip("llama_cpp")
    from jaft.export.native import model_params_override

    low = llama_cpp.llama_cpp
    default = low.llama_model_default_params().use_extra_bufts
    with model_params_override(llama_cpp, use_extra_bufts=False, no_such_field=1):
        assert low.llama_model_default_params().use_extra_bufts is False
    assert low.llama_model_default_params().use_extra_bufts == default
