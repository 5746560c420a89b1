"""Byte-level access to safetensors files: tensor offsets for zero-copy reads, and a streaming writer.

The safetensors library reads tensors (``safe_open``) and writes whole dicts (``save_file``) but does
not expose where a tensor's bytes are, and cannot write a file tensor by tensor. Both matter for big
models: GGUF conversion maps unchanged tensors straight from the file (no copy in memory) and the
merge writes each output shard as its tensors are computed, so neither holds a shard in RAM. The
format is small and fixed (8-byte little-endian header length, a JSON header of dtype, shape and
``data_offsets`` per tensor, then the data); files written here load with ``safe_open`` and
``from_pretrained``, which the tests check.
"""

from __future__ import annotations

import errno
import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from jaft.errors import JaftError

DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
              "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}
_NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}


@dataclass(frozen=True)
class TensorSpan:
    dtype: str
    shape: tuple[int, ...]
    offset: int  # absolute byte offset of the data in the file
    nbytes: int


def tensor_layout(path: str | Path) -> dict[str, TensorSpan]:
    """Where each tensor's bytes lie in a safetensors file (header only; nothing else is read)."""
    p = Path(path)
    with p.open("rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise JaftError(f"{p}: truncated safetensors file (no header); re-save or re-download it")
        (n,) = struct.unpack("<Q", raw)
        if n > 100_000_000:
            raise JaftError(f"{p}: not a safetensors file (header length {n}); re-save or re-download it")
        header = json.loads(f.read(n))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = TensorSpan(info["dtype"], tuple(int(d) for d in info["shape"]), base + begin, end - begin)
    return out


def numpy_view(path: str | Path, span: TensorSpan) -> Any:
    """A read-only memory map of one tensor (no copy), or None for dtypes numpy lacks (bf16, fp8)."""
    import numpy as np

    if span.dtype not in _NUMPY:
        return None
    return np.memmap(path, dtype=np.dtype(_NUMPY[span.dtype]), mode="r", offset=span.offset, shape=span.shape)


def copy_bytes(src: str | Path, offset: int, nbytes: int, dst: BinaryIO) -> None:
    """Append ``nbytes`` of ``src`` from ``offset`` to the open file ``dst``, in the kernel when possible.

    ``os.copy_file_range`` moves the bytes without passing them through this process (the speed of
    ``cp``); where it is unavailable (not Linux, some filesystems) a memory map is written instead.
    """
    dst.flush()
    start = dst.tell()
    done = 0
    if hasattr(os, "copy_file_range"):
        fd = os.open(src, os.O_RDONLY)
        try:
            while done < nbytes:
                n = os.copy_file_range(fd, dst.fileno(), nbytes - done, offset + done, start + done)
                if n == 0:
                    raise OSError(errno.EIO, f"{src}: ended {nbytes - done} bytes early")
                done += n
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP) or done:
                raise
        finally:
            os.close(fd)
    if done < nbytes:
        import numpy as np

        np.memmap(src, dtype=np.uint8, mode="r", offset=offset + done, shape=(nbytes - done,)).tofile(dst)
    dst.seek(start + nbytes)


def fsync(f: BinaryIO) -> None:
    """Flush ``f`` to the disk (multi-GB outputs are renamed into place only once they are durable)."""
    f.flush()
    os.fsync(f.fileno())


def torch_dtype_name(dtype: Any) -> str:
    import torch

    names = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
             torch.bool: "BOOL"}
    return names[dtype]


class StreamingWriter:
    """Write a safetensors file whose tensors (names, dtypes, shapes) are declared up front.

    ``write(name, chunk)`` appends bytes of the tensor being written, in declaration order; chunks of
    one tensor may come in several calls (row blocks), so no tensor needs to be whole in memory.
    """

    def __init__(self, f: BinaryIO, specs: list[tuple[str, str, tuple[int, ...]]],
                 metadata: dict[str, str] | None = None) -> None:
        header: dict[str, Any] = {"__metadata__": metadata or {"format": "pt"}}
        offset = 0
        self._order: list[tuple[str, int]] = []
        for name, dtype, shape in specs:
            nbytes = math.prod(shape) * DTYPE_SIZE[dtype]
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
            self._order.append((name, nbytes))
            offset += nbytes
        blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
        blob += b" " * (-len(blob) % 8)  # data starts 8-byte aligned, as the library writes it
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        self.f = f
        self.total = offset
        self._i = 0
        self._left = self._order[0][1] if self._order else 0

    def write(self, name: str, data: Any) -> None:
        """Append ``data`` (a contiguous torch tensor or numpy array) to tensor ``name``."""
        while self._i < len(self._order) and self._left == 0 and self._order[self._i][0] != name:
            self._advance()
        expected = self._order[self._i][0] if self._i < len(self._order) else None
        if name != expected:
            raise RuntimeError(f"safetensors writer: got {name}, expected {expected}")
        if hasattr(data, "numpy"):  # torch: raw bytes whatever the dtype (numpy has no bfloat16)
            data = data.contiguous().reshape(-1).view(__import__("torch").uint8).numpy()
        n = data.nbytes
        if n == 0:
            return
        if n > self._left:
            raise RuntimeError(f"safetensors writer: {name} got {n} bytes more than declared")
        data.tofile(self.f)
        self._left -= n

    def copy(self, name: str, src: str | Path, span: TensorSpan) -> None:
        """Write tensor ``name`` as the bytes of ``span`` in ``src`` (same dtype and shape), without a copy."""
        self.write(name, _Empty())
        if span.nbytes != self._left:
            raise RuntimeError(f"safetensors writer: {name} declared {self._left} bytes, source has {span.nbytes}")
        copy_bytes(src, span.offset, span.nbytes, self.f)
        self._left = 0

    def _advance(self) -> None:
        self._i += 1
        self._left = self._order[self._i][1] if self._i < len(self._order) else 0

    def close(self) -> None:
        while self._i < len(self._order) and self._left == 0:
            self._advance()
        if self._i < len(self._order):
            raise RuntimeError(f"safetensors writer: {self._order[self._i][0]} is incomplete")


class _Empty:
    """Zero bytes: lets ``copy`` position the writer on a tensor through ``write``'s bookkeeping."""

    nbytes = 0
