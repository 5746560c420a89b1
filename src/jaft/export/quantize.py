"""GGUF F16 → Q4_K_M / Q5_K_M / Q6_K / Q8_0 with llama.cpp's own quantizer (``llama_model_quantize``).

jaft does not re-implement any quantization: it calls the library function through llama-cpp-python,
writes to a temporary name and renames on success, and follows llama.cpp's per-tensor log lines for
progress. Tensors whose rows are not a multiple of 256 (tiny test models) get llama.cpp's own
fallback types; the log says which.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.export.state import disk_errors
from jaft.fsutil import atomic_path

# llama_ftype values (llama.h); names as users type them.
FTYPES = {"q4_k_m": 15, "q5_k_m": 17, "q6_k": 18, "q8_0": 7}
# Average bits per weight of each type on 7B-70B models (llama.cpp's quantize tool table), for sizing.
BITS_PER_WEIGHT = {"f16": 16.0, "q8_0": 8.5, "q6_k": 6.56, "q5_k_m": 5.69, "q4_k_m": 4.89}
_TENSOR_LINE = re.compile(r"\[\s*(\d+)/\s*(\d+)\]")
_FALLBACK = re.compile(r"(\d+) of (\d+) tensor\(s\) required fallback")
Progress = Callable[[int], None]


@dataclass
class QuantResult:
    path: Path
    qtype: str
    size_bytes: int
    seconds: float
    fallbacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "type": self.qtype, "size_bytes": self.size_bytes,
                "seconds": round(self.seconds, 2), "notes": self.fallbacks}


def require_llama_cpp(stage: str = "quantization", *, check_only: bool = False):
    """llama_cpp, imported; or with ``check_only`` only a check that it is installed (the parent process
    leaves loading native code to the child of :func:`jaft.export.native.run_native`)."""
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        raise JaftError(f"{stage} needs llama-cpp-python (llama.cpp's quantizer): pip install 'jaft[gguf]'")
    if check_only:
        return None
    try:
        import llama_cpp
    except ImportError as e:
        raise JaftError(f"{stage}: llama-cpp-python does not import ({e}); reinstall it: pip install 'jaft[gguf]'") from None
    return llama_cpp


def quantize(
    f16: str | Path, out: str | Path, qtype: str, *, threads: int | None = None,
    progress: Progress | None = None,
) -> QuantResult:
    """Quantize the GGUF ``f16`` to ``qtype`` at ``out`` through llama.cpp (atomic).

    llama.cpp runs in a child process (:func:`jaft.export.native.run_native`): a crash inside it is
    one error line, and the temporary file it leaves is removed by the next export of that directory.
    """
    from jaft.export.native import run_native

    if qtype not in FTYPES:
        raise JaftError(f"quantization type '{qtype}': choose from {', '.join(sorted(FTYPES))} (or f16)")
    require_llama_cpp(check_only=True)
    f16, out = Path(f16), Path(out)
    if not f16.is_file():
        raise JaftError(f"{f16}: no such GGUF file; run `jaft export gguf` first")
    check_gguf_header(f16)
    return run_native(f"quantize {qtype}", quantize_in_process, f16, out, qtype, threads=threads, progress=progress)


def check_gguf_header(path: Path) -> None:
    """Refuse a file that is not a complete GGUF before llama.cpp reads it (a truncated file can crash it)."""
    from jaft.export.gguf import read_metadata

    read_metadata(path)


def quantize_in_process(
    f16: Path, out: Path, qtype: str, *, threads: int | None = None, progress: Progress | None = None,
) -> QuantResult:
    """The llama.cpp call itself, in this process; use :func:`quantize`, which contains crashes."""
    llama_cpp = require_llama_cpp()
    lines: list[str] = []
    fallbacks: list[str] = []
    done = [0]

    def on_log(level: int, text: bytes, user: Any) -> None:
        s = text.decode("utf-8", "replace") if text else ""
        lines.append(s)
        if m := _FALLBACK.search(s):
            fallbacks.append(f"{m.group(1)} of {m.group(2)} tensors used llama.cpp's fallback type")
        m = _TENSOR_LINE.search(s)
        if m and progress:
            i = int(m.group(1))
            if i > done[0]:
                progress(i - done[0])
                done[0] = i

    callback = llama_cpp.llama_log_callback(on_log)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[qtype]
    params.nthread = threads or os.cpu_count() or 1
    t0 = time.perf_counter()
    llama_cpp.llama_log_set(callback, None)
    try:
        with disk_errors(out, int(f16.stat().st_size * BITS_PER_WEIGHT[qtype] / 16)), atomic_path(out) as tmp:
            rc = llama_cpp.llama_model_quantize(str(f16).encode(), str(tmp).encode(), params)
            if rc != 0:
                errors = [ln.strip() for ln in lines if "error" in ln.lower() or "failed" in ln.lower()]
                detail = errors[-1] if errors else (lines[-1].strip() if lines else f"return code {rc}")
                if "no space" in detail.lower() or "file too large" in detail.lower():
                    raise OSError(28, detail)
                raise JaftError(f"{out}: llama.cpp could not quantize {f16.name} to {qtype}: {detail[:200]}")
            if tmp.stat().st_size == 0:
                raise JaftError(f"{out}: llama.cpp wrote an empty file for {qtype}")
            fd = os.open(tmp, os.O_RDONLY)  # durable before the rename
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        from jaft.export.verify import quiet_llama_logs

        quiet_llama_logs(llama_cpp)
    return QuantResult(out, qtype, out.stat().st_size, time.perf_counter() - t0, fallbacks)
