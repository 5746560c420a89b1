"""What this machine has: accelerators, memory, disk, and which optional components work.

Detection imports torch lazily (inside :func:`detect`), so modules that only describe hardware stay
cheap to import.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Backend = Literal["cuda", "rocm", "mps", "cpu"]
GB = 1e9


@dataclass
class GpuInfo:
    index: int
    name: str
    total_gb: float
    compute_capability: str = ""
    bf16: bool = False


@dataclass
class Hardware:
    backend: Backend
    gpus: list[GpuInfo] = field(default_factory=list)
    ram_total_gb: float = 0.0
    ram_available_gb: float = 0.0
    disk_free_gb: float = 0.0
    disk_path: str = "."
    cpu_count: int = 1
    torch_version: str = ""
    backend_version: str = ""

    @property
    def gpu_total_gb(self) -> float:
        return sum(g.total_gb for g in self.gpus)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpus)

    @property
    def bf16(self) -> bool:
        return bool(self.gpus) and all(g.bf16 for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def cpu_only(cls, ram_gb: float = 16.0, disk_gb: float = 100.0) -> Hardware:
        """A synthetic machine description, for planning 'what if' without this machine."""
        return cls(backend="cpu", ram_total_gb=ram_gb, ram_available_gb=ram_gb, disk_free_gb=disk_gb)

    @classmethod
    def with_gpus(cls, *memory_gb: float, ram_gb: float = 128.0, disk_gb: float = 500.0) -> Hardware:
        gpus = [GpuInfo(i, "GPU", m, "8.0", True) for i, m in enumerate(memory_gb)]
        return cls(backend="cuda", gpus=gpus, ram_total_gb=ram_gb, ram_available_gb=ram_gb, disk_free_gb=disk_gb)


def _disk_free_gb(path: str | os.PathLike[str]) -> tuple[float, str]:
    p = Path(path).resolve()
    while not p.exists() and p != p.parent:  # the output dir may not exist yet: measure its parent
        p = p.parent
    return shutil.disk_usage(p).free / GB, str(p)


def detect(output_dir: str | os.PathLike[str] = ".") -> Hardware:
    """Detect accelerators (CUDA, ROCm/HIP, MPS, else CPU), RAM, free disk at ``output_dir``."""
    import psutil

    vm = psutil.virtual_memory()
    disk, disk_path = _disk_free_gb(output_dir)
    hw = Hardware(
        backend="cpu",
        ram_total_gb=vm.total / GB,
        ram_available_gb=vm.available / GB,
        disk_free_gb=disk,
        disk_path=disk_path,
        cpu_count=os.cpu_count() or 1,
    )
    try:
        import torch
    except ImportError:
        return hw
    hw.torch_version = torch.__version__
    if torch.cuda.is_available():
        hip = getattr(torch.version, "hip", None)
        hw.backend = "rocm" if hip else "cuda"
        hw.backend_version = hip or (torch.version.cuda or "")
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            cc = f"{props.major}.{props.minor}"
            # ROCm reports gfx versions as major 9 (MI200/MI300): all do bf16.
            bf16 = props.major >= 8 or bool(hip)
            hw.gpus.append(GpuInfo(i, props.name, props.total_memory / GB, cc, bf16))
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        hw.backend = "mps"
        # Apple GPUs share system memory; Metal lets a process use roughly 3/4 of it.
        hw.gpus.append(GpuInfo(0, "Apple MPS", hw.ram_total_gb * 0.75, "", True))
    return hw


# CPU flags (Linux /proc/cpuinfo names) that decide which llama.cpp CPU kernels run.
_CPU_FLAGS = {"avx2": ("avx2",), "avx512": ("avx512f",), "amx": ("amx_tile", "amx_int8", "amx_bf16")}
EXTRA_BUFTS_ENV = "JAFT_LLAMA_EXTRA_BUFTS"


@functools.lru_cache(maxsize=1)
def cpu_features(cpuinfo: str | None = None) -> dict[str, Any]:
    """AVX2 / AVX-512 / AMX of this CPU, from /proc/cpuinfo (Linux); ``known`` is False elsewhere.

    ``amx`` is true when any AMX flag is present (Sapphire Rapids and later Xeons; the flags are
    ``amx_tile``, ``amx_int8``, ``amx_bf16``, listed separately in ``amx_flags``).
    """
    text = cpuinfo
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    flags = set(line.partition(":")[2].split())
    model = next((ln.partition(":")[2].strip() for ln in text.splitlines() if ln.startswith("model name")), "")
    out: dict[str, Any] = {"known": bool(flags), "model": model}
    for name, needles in _CPU_FLAGS.items():
        out[name] = any(n in flags for n in needles)
    out["amx_flags"] = sorted(f for f in flags if f.startswith("amx"))
    return out


def llama_extra_bufts(features: dict[str, Any] | None = None, env: str | None = None) -> tuple[bool, str]:
    """Whether llama.cpp may use its CPU "extra buffer types" (weight repacking, AMX), and why.

    Extra buffer types repack weights at load time into layouts for AVX2/AVX-512 or AMX kernels.
    The AMX path crashes on K-quants on some builds and machines (ggml-org/llama.cpp#20824; jaft
    issue 11: Q4_K_M evaluation died with SIGSEGV on a Sapphire Rapids VM and worked with
    ``use_extra_bufts = False``), so they are off where the CPU has AMX. ``JAFT_LLAMA_EXTRA_BUFTS``
    = 1/0 forces either way. Cost measured in docs/guide/export.md.
    """
    raw = (os.environ.get(EXTRA_BUFTS_ENV, "") if env is None else env).strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True, f"on ({EXTRA_BUFTS_ENV}={raw})"
    if raw in ("0", "false", "no", "off"):
        return False, f"off ({EXTRA_BUFTS_ENV}={raw})"
    feats = features if features is not None else cpu_features()
    if feats.get("amx"):
        return False, f"off: the CPU has AMX, whose repacking crashes llama.cpp on K-quants ({EXTRA_BUFTS_ENV}=1 forces it on)"
    return True, "on (no AMX on this CPU)"


def llama_cpu_policy(features: dict[str, Any] | None = None) -> str:
    """One sentence: what jaft does with llama.cpp on this CPU (doctor prints it)."""
    _on, why = llama_extra_bufts(features)
    return ("llama.cpp runs in child processes (a native crash is one error line; serve restarts it); "
            f"verification loads without extra buffer types; serve: extra buffer types {why}")


def llama_cpu_check(features: dict[str, Any] | None = None) -> Check:
    """What the CPU offers llama.cpp (AVX2, AVX-512, AMX) and what jaft does about it, as a doctor row."""
    feats = features if features is not None else cpu_features()
    if not feats.get("known"):
        return Check("CPU (llama.cpp)", True, "CPU flags not readable here (no /proc/cpuinfo); llama.cpp decides alone")
    yn = {True: "yes", False: "no"}
    amx = ", ".join(feats.get("amx_flags") or []) or "no"
    on, _why = llama_extra_bufts(feats)
    detail = (f"AVX2 {yn[bool(feats.get('avx2'))]}, AVX-512 {yn[bool(feats.get('avx512'))]}, AMX {amx}; "
              f"serve: extra buffer types {'on' if on else 'off'}")
    if not feats.get("avx2"):
        return Check("CPU (llama.cpp)", False, detail,
                     "no AVX2: llama.cpp's CPU kernels are slow here; quantize/serve on a machine with AVX2")
    return Check("CPU (llama.cpp)", True, detail)


def apply_gpu_tuning(hw: Hardware) -> list[str]:
    """Speed and allocator settings for the device that is present; nothing on CPU.

    Returns what was applied, for the run report. The allocator variables must be set before the
    first CUDA allocation, which is why training calls this before loading the model.
    """
    applied: list[str] = []
    if hw.backend in ("cuda", "rocm"):
        import torch

        if hw.backend == "rocm" or any(float(g.compute_capability or 0) >= 8.0 for g in hw.gpus):
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            applied.append("TF32 matmul/cudnn enabled")
        if hw.backend == "cuda":
            if "PYTORCH_CUDA_ALLOC_CONF" not in os.environ:
                os.environ["PYTORCH_CUDA_ALLOC_CONF"] = "expandable_segments:True"
                applied.append("PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True")
        else:
            # The seed's MI300X settings: limit allocator splitting, prefer hipBLASLt GEMMs.
            for key, value in (
                ("PYTORCH_HIP_ALLOC_CONF", "max_split_size_mb:512"),
                ("PYTORCH_CUDA_ALLOC_CONF", "max_split_size_mb:512"),
                ("TORCH_BLAS_PREFER_HIPBLASLT", "1"),
            ):
                if key not in os.environ:
                    os.environ[key] = value
                    applied.append(f"{key}={value}")
    return applied


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def component_checks(hw: Hardware) -> list[Check]:
    """Whether each optional component is usable, and how to fix it when it is not."""
    checks: list[Check] = []

    try:
        import torch  # noqa: F401

        checks.append(Check("torch", True, hw.torch_version))
    except ImportError:
        checks.append(Check("torch", False, "not installed", "pip install torch"))

    if hw.has_gpu:
        checks.append(Check("accelerator", True, f"{hw.backend} {hw.backend_version}".strip()))
    else:
        checks.append(
            Check(
                "accelerator",
                False,
                "no GPU found: training runs on the CPU (tiny models only)",
                "install a CUDA or ROCm build of torch (https://pytorch.org/get-started) and check nvidia-smi / rocm-smi",
            )
        )

    if _module("bitsandbytes"):
        try:
            import bitsandbytes

            checks.append(Check("bitsandbytes", True, f"{getattr(bitsandbytes, '__version__', '?')} (4-bit QLoRA)"))
        except Exception as e:  # a broken CUDA setup raises at import, with many lines
            checks.append(Check("bitsandbytes", False, f"import failed: {str(e).splitlines()[0]}",
                                "pip install -U bitsandbytes (needs a matching CUDA/ROCm runtime)"))
    else:
        checks.append(Check("bitsandbytes", False, "not installed: QLoRA unavailable", "pip install bitsandbytes"))

    try:
        import fugashi

        tagger = fugashi.Tagger()
        tagger.parse("日本語")
        from importlib.metadata import version

        checks.append(Check("fugashi", True, f"{version('fugashi')} with dictionary"))
    except ImportError:
        checks.append(Check("fugashi", False, "not installed", "pip install 'fugashi[unidic-lite]'"))
    except Exception as e:
        checks.append(Check("fugashi", False, f"no usable dictionary: {str(e).splitlines()[0]}",
                            "pip install unidic-lite"))

    if _module("flash_attn"):
        checks.append(Check("flash-attention", True, "flash_attn installed"))
    else:
        checks.append(Check("flash-attention", False, "not installed: SDPA attention is used instead",
                            "pip install flash-attn --no-build-isolation (CUDA only; optional)"))

    if _module("liger_kernel"):
        checks.append(Check("liger-kernel", True, "fused kernels available"))
    else:
        checks.append(Check("liger-kernel", False, "not installed: no fused RMSNorm / SwiGLU / RoPE kernels (TRL fuses the LM head and loss itself)",
                            "pip install 'jaft[liger]' (CUDA only; optional)"))

    if _module("llama_cpp"):
        checks.append(Check("llama.cpp bindings", True, "llama-cpp-python installed (quantize, verify, serve)"))
    else:
        checks.append(Check("llama.cpp bindings", False, "not installed: no Q4_K_M quantization or verification",
                            "pip install 'jaft[gguf]' (builds llama.cpp, ~12 min on 2 cores)"))

    checks.append(llama_cpu_check())

    ollama = shutil.which("ollama")
    checks.append(
        Check("ollama", bool(ollama), ollama or "not on PATH: jaft writes the Modelfile and prints the command",
              "" if ollama else "install from https://ollama.com/download")
    )
    return checks
