"""CPU features for llama.cpp (AVX2 / AVX-512 / AMX) and what jaft does about them (jaft issue 11)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_jaft

# /proc/cpuinfo flag lines, shortened: a Sapphire Rapids Xeon (AMX), an AMD EPYC Zen 4 (AVX-512, no AMX),
# an old Xeon (AVX2 only), an ARM board (no x86 flags).
SPR = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"
EPYC = "model name\t: AMD EPYC 9454\nflags\t\t: fpu sse avx avx2 avx512f avx512_vnni\n"
HASWELL = "model name\t: Intel(R) Xeon(R) CPU E5-2680 v3\nflags\t\t: fpu sse avx avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32\n"


@pytest.mark.parametrize("text,avx2,avx512,amx,amx_flags", [
    (SPR, True, True, True, ["amx_bf16", "amx_int8", "amx_tile"]),
    (EPYC, True, True, False, []),
    (HASWELL, True, False, False, []),
    (ARM, False, False, False, []),
])
def test_cpu_features_from_cpuinfo(text, avx2, avx512, amx, amx_flags):
    from jaft.hardware import cpu_features

    f = cpu_features(text)
    assert (f["avx2"], f["avx512"], f["amx"], f["amx_flags"]) == (avx2, avx512, amx, amx_flags)
    assert f["known"]


@pytest.mark.parametrize("text,env,on,why", [
    (SPR, "", False, "AMX"),
    (EPYC, "", True, "no AMX"),
    (SPR, "1", True, "JAFT_LLAMA_EXTRA_BUFTS=1"),  # forced on
    (EPYC, "0", False, "JAFT_LLAMA_EXTRA_BUFTS=0"),  # forced off
    (SPR, "auto", False, "AMX"),
])
def test_extra_buffer_types_off_only_where_amx(text, env, on, why):
    from jaft.hardware import cpu_features, llama_extra_bufts

    got, reason = llama_extra_bufts(cpu_features(text), env)
    assert got is on and why in reason


def test_doctor_row_and_policy_name_the_features():
    from jaft.hardware import cpu_features, llama_cpu_check, llama_cpu_policy

    row = llama_cpu_check(cpu_features(SPR))
    assert row.ok and "AMX amx_bf16, amx_int8, amx_tile" in row.detail and "extra buffer types off" in row.detail
    assert "extra buffer types on" in llama_cpu_check(cpu_features(EPYC)).detail
    assert not llama_cpu_check(cpu_features(ARM)).ok or not cpu_features(ARM)["avx2"]
    assert "child processes" in llama_cpu_policy(cpu_features(SPR))


def test_doctor_prints_cpu_features():
    r = run_jaft("doctor")
    assert r.returncode == 0, r.stderr
    assert "AVX2" in r.stdout and "AVX-512" in r.stdout and "AMX" in r.stdout and "llama.cpp" in r.stdout
    r = run_jaft("doctor", "--json")
    cpu = json.loads(r.stdout)["cpu"]
    assert {"avx2", "avx512", "amx", "llama_cpp_extra_buffer_types"} <= set(cpu)
