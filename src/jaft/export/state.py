"""Stage outputs: fingerprints, reuse markers, the export-directory lock and disk-full errors.

A stage output is reused only when its marker (``.<name>.jaft.json`` beside it) records the same
inputs and the output still has the recorded size, mtime and head/tail hash. Existence alone is
never enough: a file copied in by hand, or one from other inputs, is rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.fsutil import write_json

# Bump when a stage's output format changes so markers written by older versions stop matching.
FORMAT_VERSION = 1
_EDGE = 1 << 20  # bytes hashed at each end of a file
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def fingerprint_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Size, mtime and a hash of the first and last MiB: cheap on 60 GB files, and it changes on rewrite."""
    p = Path(path)
    st = p.stat()
    h = hashlib.sha256()
    with p.open("rb") as f:
        h.update(f.read(_EDGE))
        if st.st_size > 2 * _EDGE:
            f.seek(st.st_size - _EDGE)
            h.update(f.read(_EDGE))
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "edges_sha256": h.hexdigest()}


def fingerprint_dir(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Fingerprints of the visible files of a directory (hidden files are markers and temporaries)."""
    p = Path(path)
    return {
        f.name: fingerprint_file(f)
        for f in sorted(p.iterdir())
        if f.is_file() and not f.name.startswith(".")
    }


def fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    return fingerprint_dir(p) if p.is_dir() else fingerprint_file(p)


def marker_path(output: str | os.PathLike[str]) -> Path:
    out = Path(output)
    return out.with_name(f".{out.name}.jaft.json")


def record(output: str | os.PathLike[str], stage: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Write the marker that makes ``output`` reusable for these ``inputs``."""
    data = {
        "stage": stage,
        "format": FORMAT_VERSION,
        "inputs": json.loads(json.dumps(inputs, sort_keys=True, default=str)),
        "output": fingerprint(output),
        **extra,
    }
    write_json(marker_path(output), data)
    return data


def read_marker(output: str | os.PathLike[str]) -> dict[str, Any] | None:
    m = marker_path(output)
    try:
        return json.loads(m.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def reusable(output: str | os.PathLike[str], stage: str, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The marker of a still-valid ``output`` built from ``inputs``, else ``None``."""
    out = Path(output)
    if not out.exists():
        return None
    marker = read_marker(out)
    if not marker or marker.get("stage") != stage or marker.get("format") != FORMAT_VERSION:
        return None
    if marker.get("inputs") != json.loads(json.dumps(inputs, sort_keys=True, default=str)):
        return None
    try:
        return marker if marker.get("output") == fingerprint(out) else None
    except OSError:
        return None


def forget(output: str | os.PathLike[str]) -> None:
    """Drop a marker before rebuilding, so a crash mid-rebuild never leaves a stale 'valid' marker."""
    with contextlib.suppress(FileNotFoundError):
        marker_path(output).unlink()


def remove_stale_temporaries(directory: str | os.PathLike[str]) -> list[str]:
    """Delete ``.name.XXXX.tmp`` leftovers of killed writers (safe: the caller holds the lock)."""
    removed = []
    d = Path(directory)
    if not d.is_dir():
        return removed
    for entry in d.iterdir():
        if entry.name.startswith(".") and (entry.name.endswith(".tmp") or entry.name.endswith(".old")):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
            removed.append(entry.name)
    return removed


@contextlib.contextmanager
def export_lock(directory: str | os.PathLike[str]) -> Iterator[list[str]]:
    """Hold an exclusive lock on an export directory; yields the stale temporaries it cleaned up."""
    import fcntl

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / ".jaft_export.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JaftError(
                f"{d}: another `jaft export` is writing here; wait for it or choose another --out"
            ) from None
        yield remove_stale_temporaries(d)
    finally:
        os.close(fd)


def is_disk_full(err: BaseException) -> bool:
    if not isinstance(err, OSError):
        return False
    # numpy's tofile reports a short fwrite as "N requested and M written", without an errno.
    short_write = err.errno is None and "requested and" in str(err) and "written" in str(err)
    return err.errno in _DISK_FULL or short_write


@contextlib.contextmanager
def disk_errors(target: str | os.PathLike[str], need_bytes: int | None = None) -> Iterator[None]:
    """Turn 'no space left' / 'file too large' into one actionable line (the atomic writer cleans up)."""
    try:
        yield
    except OSError as e:
        if not is_disk_full(e):
            raise
        where = Path(target)
        probe = where if where.exists() else where.parent
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        need = f"; it needs about {need_bytes / 1e9:.2f} GB" if need_bytes else ""
        why = os.strerror(e.errno) if e.errno else f"short write: {e}"
        raise JaftError(
            f"{where}: disk full while writing ({why}){need}, "
            f"{free / 1e9:.2f} GB free; no partial file was kept: free space or choose another --out"
        ) from None
