"""Preflight: disk, RAM and time per stage, sized from safetensors headers before any work."""

from __future__ import annotations

import pytest

from jaft.errors import JaftError
from jaft.export.preflight import GB, ModelSize, check, estimate

STAGES = ["merge", "gguf", "quantize", "verify"]


def _by_stage(needs):
    return {n.stage: n for n in needs}


def test_seed_32b_figures():
    """Seed 002: a 32B F16 GGUF needs ~64 GB of disk; the whole-model merge needed 32-40 GB of RAM."""
    # Qwen2.5-32B: 17 safetensors shards; the largest tensor is the 152064 x 5120 embedding
    size = ModelSize.from_parameters(32.76e9, shards=17, largest_tensor=152064 * 5120)
    shard_merge = _by_stage(estimate(size, STAGES, quants=["q4_k_m"], adapter_bytes=int(0.5 * GB)))
    assert 64 <= shard_merge["gguf"].disk_bytes / GB <= 66
    assert 64 <= shard_merge["merge"].disk_bytes / GB <= 66
    assert 19 <= shard_merge["quantize:q4_k_m"].disk_bytes / GB <= 21
    # shard by shard: one 3.9 GB shard plus the embedding in float32, far below the seed's 32-40 GB
    assert shard_merge["merge"].ram_bytes / GB < 12
    peft = _by_stage(estimate(size, ["merge"], quants=[], peft_merge=True))
    assert peft["merge"].ram_bytes / GB > 70  # the whole 16-bit model, as the seed warned
    offload = _by_stage(estimate(size, ["merge"], quants=[], peft_merge=True, offload=True))
    assert offload["merge"].ram_bytes < peft["merge"].ram_bytes
    assert offload["merge"].disk_bytes > peft["merge"].disk_bytes  # the offload folder costs disk


@pytest.mark.parametrize("quants,gb", [(["q4_k_m"], 1.0), (["q8_0"], 1.74), (["q4_k_m", "q8_0", "q6_k"], 4.08)])
def test_quantized_sizes_add_up(quants, gb):
    needs = estimate(ModelSize.from_parameters(1.636e9), ["quantize"], quants=quants)
    assert sum(n.disk_bytes for n in needs) / GB == pytest.approx(gb, rel=0.02)


def test_check_refuses_with_numbers_and_passes_when_it_fits():
    needs = estimate(ModelSize.from_parameters(7.6e9), ["merge", "gguf"], quants=[])
    with pytest.raises(JaftError, match=r"needs 30\.40 GB of free disk at /tmp/x .*only 20\.00 GB is free"):
        check(needs, "/tmp/x", disk_free=int(20 * GB), ram_available=int(64 * GB))
    with pytest.raises(JaftError, match=r"merge needs about .* GB of RAM .* 1\.00 GB is available"):
        check(needs, "/tmp/x", disk_free=int(100 * GB), ram_available=int(1 * GB))
    pf = check(needs, "/tmp/x", disk_free=int(100 * GB), ram_available=int(64 * GB))
    assert pf.to_dict()["disk_needed_gb"] == pytest.approx(30.4, abs=0.01) and pf.seconds > 0


def test_sizes_from_a_real_directory(tiny_qwen):
    size = ModelSize.from_dir(tiny_qwen)
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_qwen))
    assert size.parameters == sum(p.numel() for p in model.parameters())
    assert size.largest_tensor_params == model.get_input_embeddings().weight.numel()
