"""Before any work: how much disk, RAM and time each export stage needs, against what this machine has.

Figures come from the safetensors headers (exact parameter count, shard and tensor sizes), so a 32B
export is sized without loading anything. Seed 002's numbers for a 32B model (whole-model merge
32-40 GB RAM, F16 GGUF 64 GB disk) are what this replaces: the shard merge needs about one shard of
RAM, and disk is the sum of the outputs not already present.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError

GB = 1e9
_CONST_RAM = 1.5 * GB  # interpreter, torch, tokenizer, llama.cpp context
# Throughputs on a 2-core machine, measured by bench/export.py (MB of 16-bit weights per second,
# durable writes); only the time estimate uses them. Quantization scales with llama.cpp's threads.
MBPS = {"merge": 120.0, "gguf": 300.0, "q8_0": 150.0, "q6_k": 80.0, "q5_k_m": 70.0, "q4_k_m": 80.0}
_GGUF_VOCAB_S = 10.0
# Verification computes the HF reference in float32 up to this size, in the stored 16-bit dtype above.
VERIFY_FLOAT32_MAX_PARAMS = 2_000_000_000  # building and writing a 150k-token vocabulary, whatever the model size


@dataclass
class ModelSize:
    parameters: int
    file_bytes: int
    largest_shard: int
    largest_tensor_params: int

    @classmethod
    def from_dir(cls, model_dir: Path) -> ModelSize:
        """Exact sizes from the safetensors headers (no tensor is read)."""
        import math

        from safetensors import safe_open

        from jaft.export.source import weight_files

        params = largest_t = largest_s = total = 0
        for shard in weight_files(model_dir):
            with safe_open(str(shard), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118
                    n = math.prod(f.get_slice(name).get_shape())
                    params += n
                    largest_t = max(largest_t, n)
            size = shard.stat().st_size
            total += size
            largest_s = max(largest_s, size)
        return cls(params, total, largest_s, largest_t)

    @classmethod
    def from_parameters(cls, parameters: float, shards: int = 1, largest_tensor: float | None = None) -> ModelSize:
        """Sizes of a 16-bit checkpoint of ``parameters`` weights in ``shards`` equal shards (what-if)."""
        p = int(parameters)
        return cls(p, 2 * p, 2 * p // shards, int(largest_tensor or p // 40))


@dataclass
class Need:
    stage: str
    disk_bytes: int
    ram_bytes: int
    seconds: float
    note: str = ""


@dataclass
class Preflight:
    needs: list[Need]
    disk_free: int
    ram_available: int
    out_dir: str
    notes: list[str] = field(default_factory=list)

    @property
    def disk_needed(self) -> int:
        return sum(n.disk_bytes for n in self.needs)

    @property
    def ram_needed(self) -> int:
        return max((n.ram_bytes for n in self.needs), default=0)

    @property
    def seconds(self) -> float:
        return sum(n.seconds for n in self.needs)

    def to_dict(self) -> dict[str, Any]:
        return {
            "out_dir": self.out_dir, "disk_free_gb": round(self.disk_free / GB, 2),
            "ram_available_gb": round(self.ram_available / GB, 2),
            "disk_needed_gb": round(self.disk_needed / GB, 2), "ram_needed_gb": round(self.ram_needed / GB, 2),
            "estimated_seconds": round(self.seconds, 1),
            "stages": [{**asdict(n), "ram_bytes": int(n.ram_bytes), "seconds": round(n.seconds, 1),
                        "disk_gb": round(n.disk_bytes / GB, 3), "ram_gb": round(n.ram_bytes / GB, 3)}
                       for n in self.needs],
            "notes": self.notes,
        }


def estimate(
    size: ModelSize, stages: list[str], *, quants: list[str], adapter_bytes: int = 0, peft_merge: bool = False,
    offload: bool = False,
) -> list[Need]:
    """Disk, peak RAM and time of each stage in ``stages`` for a model of ``size``."""
    from jaft.export.quantize import BITS_PER_WEIGHT

    p = size.parameters
    w16 = 2 * p
    needs: list[Need] = []
    if "merge" in stages:
        if peft_merge:
            ram = int(w16 * 1.15) + adapter_bytes + _CONST_RAM
            note = "PEFT merge: the whole 16-bit model in RAM"
            if offload:
                ram, note = int(min(ram, 8 * GB + size.largest_shard)), "PEFT merge with offload folder"
            disk = w16 * (2 if offload else 1)
        else:
            # one output shard in memory + one tensor in float32 while its delta is added
            ram = size.largest_shard + 6 * size.largest_tensor_params + adapter_bytes + _CONST_RAM
            disk, note = w16, "shard-by-shard merge: one shard in memory"
        needs.append(Need("merge", disk, ram, w16 / 1e6 / MBPS["merge"], note))
    if "gguf" in stages:
        ram = 2 * 4 * size.largest_tensor_params + _CONST_RAM
        needs.append(Need("gguf", w16, ram, _GGUF_VOCAB_S + w16 / 1e6 / MBPS["gguf"],
                          "GGUF F16, tensors streamed one at a time"))
    if "quantize" in stages:
        for q in quants:
            if q == "f16":
                continue
            ram = 10 * size.largest_tensor_params + _CONST_RAM
            disk = int(p * BITS_PER_WEIGHT[q] / 8)
            cores = max(1.0, (os.cpu_count() or 2) / 2)
            needs.append(Need(f"quantize:{q}", disk, ram, w16 / 1e6 / (MBPS.get(q, 70.0) * cores),
                              "llama.cpp quantizer"))
    if "verify" in stages:
        bytes_per = 4 if p <= VERIFY_FLOAT32_MAX_PARAMS else 2
        ram = int(bytes_per * p * 1.1) + _CONST_RAM
        # loading the HF model, then ~300 positions through it and through each GGUF
        secs = w16 / 1e6 / 400 + (1 + len(quants)) * 300 * 2 * p / 20e9
        needs.append(Need("verify", 0, ram, secs, "HF model in memory, then each GGUF through llama.cpp"))
    return needs


def _free_disk(path: Path) -> int:
    p = path.resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return shutil.disk_usage(p).free


def _available_ram() -> int:
    import psutil

    # Swap counts: seed 002 recommends it for the merge, and the kernel uses it before failing.
    return int(psutil.virtual_memory().available + psutil.swap_memory().free)


def check(needs: list[Need], out_dir: str | Path, *, disk_free: int | None = None,
          ram_available: int | None = None) -> Preflight:
    """Refuse, with the numbers, when the stages do not fit; otherwise return the plan."""
    out = Path(out_dir)
    pf = Preflight(
        needs, _free_disk(out) if disk_free is None else disk_free,
        _available_ram() if ram_available is None else ram_available, str(out),
    )
    if pf.disk_needed > pf.disk_free:
        parts = ", ".join(f"{n.stage} {n.disk_bytes / GB:.2f} GB" for n in needs if n.disk_bytes)
        raise JaftError(
            f"preflight: export needs {pf.disk_needed / GB:.2f} GB of free disk at {out} ({parts}) but only "
            f"{pf.disk_free / GB:.2f} GB is free; free space, choose another --out, or request fewer --quant types"
        )
    if pf.ram_needed > pf.ram_available:
        worst = max(needs, key=lambda n: n.ram_bytes)
        raise JaftError(
            f"preflight: {worst.stage} needs about {worst.ram_bytes / GB:.2f} GB of RAM ({worst.note}) but "
            f"{pf.ram_available / GB:.2f} GB is available (RAM + swap); add swap, close programs"
            + (", or pass --no-verify" if worst.stage == "verify" else "")
        )
    return pf
