"""Input shards for the parallel ``jaft data prepare``: which bytes of which input each task reads.

A shard is a contiguous piece of the global input order (inputs in the order given, globs expanded
and sorted), so "first in input order" is ``(shard, position in shard)`` and the dedup rules of
:mod:`jaft.data.pipeline_steps` keep the same records whatever the number of shards or workers.

- Uncompressed line files (JSON Lines, text) are cut at line starts into ranges of about
  ``shard_bytes``; planning reads each file once to count lines, so every record keeps its
  ``path:line``.
- ``.gz`` / ``.zst`` files stream as one shard each (a compressed stream cannot be entered in the
  middle; corpora ship as many compressed files, which then spread over the workers).
- ``.json``, CSV, Parquet and Hub datasets (streaming) are one shard each and are read by
  :func:`jaft.data.formats.iter_items`.
"""

from __future__ import annotations

import glob
import gzip
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO

from jaft.data.formats import (
    JSONL_SUFFIXES,
    TEXT_SUFFIXES,
    Item,
    Reject,
    file_kind,
    iter_items,
)
from jaft.errors import JaftError

COMPRESSED = (".gz", ".zst")
MIN_SHARD, MAX_SHARD = 512 << 10, 64 << 20
MAX_SHARDS = 65_000  # datatrove's exact dedup ranks duplicates by a 16-bit priority (one per shard)
_CHUNK = 16 << 20


@dataclass(frozen=True)
class Shard:
    """One task's input. ``start``/``end`` are byte offsets (``end`` -1: to the end of the input);
    ``first_line`` is the 1-based line number at ``start``; ``validation``: every record of it is held
    out (the mode's validation files)."""

    index: int
    path: str
    kind: str  # lines (jsonl / text, possibly compressed) or whole (read by formats.iter_items)
    start: int = 0
    end: int = -1
    first_line: int = 1
    size: int = 0
    validation: bool = False

    def describe(self) -> str:
        if self.kind == "lines" and (self.start or self.end != -1):
            return f"shard {self.index} ({self.path} bytes {self.start:,}–{self.end:,}, from line {self.first_line:,})"
        return f"shard {self.index} ({self.path})"


def expand_inputs(inputs: list[str]) -> list[str]:
    """Inputs with globs expanded (sorted, so the order is the same on every run and machine).

    Raises :class:`JaftError` for a glob that matches nothing.
    """
    out: list[str] = []
    for name in inputs:
        if glob.has_magic(name):
            matches = sorted(p for p in glob.glob(name, recursive=True) if os.path.isfile(p))
            if not matches:
                raise JaftError(f"{name}: no file matches this pattern; check the path (quote it so the shell "
                                "does not expand it) or list the files")
            out.extend(matches)
        else:
            out.append(name)
    return out


def _inner_suffix(path: Path) -> str:
    return Path(path.stem).suffix.lower() if path.suffix.lower() in COMPRESSED else path.suffix.lower()


def _is_lines(path: Path) -> bool:
    if path.suffix.lower() in COMPRESSED:
        return _inner_suffix(path) in (*JSONL_SUFFIXES, *TEXT_SUFFIXES, "")
    return file_kind(path) in ("jsonl", "text")


def auto_shard_bytes(total: int) -> int:
    """About 32 shards (enough to balance ~8 workers; larger inputs get more, at most 64 MiB each), at
    least 512 KiB each (a task costs a fork and datatrove's per-task logging). Not a function of the
    worker count: a run resumed with other ``--workers`` keeps its shards, and its output."""
    return max(MIN_SHARD, min(MAX_SHARD, total // 32 + 1))


def plan_shards(sources: list[tuple[str, bool]], shard_bytes: int) -> list[Shard]:
    """Shards of ``(input, is_validation)`` pairs in input order; missing or unreadable inputs get a
    shard of their own so the reader reports them (as rejects, or an error with ``--strict``)."""
    shards: list[Shard] = []
    for name, validation in sources:
        path = Path(name)
        if not path.is_file():
            shards.append(Shard(len(shards), name, "whole", validation=validation))
            continue
        size = path.stat().st_size
        if not _is_lines(path) or path.suffix.lower() in COMPRESSED or size <= shard_bytes:
            kind = "lines" if _is_lines(path) and size > 0 else "whole"
            shards.append(Shard(len(shards), name, kind, size=size, validation=validation))
            continue
        cuts = _line_cuts(path, size, shard_bytes)
        for (start, line), (end, _) in zip(cuts, [*cuts[1:], (size, 0)], strict=True):
            shards.append(Shard(len(shards), name, "lines", start, end, line, end - start, validation))
    if len(shards) > MAX_SHARDS:
        raise JaftError(f"{len(shards):,} shards is over {MAX_SHARDS:,}; raise data.shard_bytes "
                        f"(now {shard_bytes:,}) or merge small input files")
    return shards


def _line_cuts(path: Path, size: int, target: int) -> list[tuple[int, int]]:
    """``(byte offset, line number)`` of each shard start: the first line start at or after every
    multiple of ``target`` bytes. One sequential read, counting newlines in C (bytes.count)."""
    cuts = [(0, 1)]
    next_cut = target
    pos, line = 0, 1
    with path.open("rb") as f:
        while buf := f.read(_CHUNK):
            offset = 0
            while next_cut < pos + len(buf):
                i = buf.find(b"\n", max(next_cut - pos - 1, offset))
                if i < 0:
                    next_cut = pos + len(buf)  # the line continues in the next chunk
                    break
                line += buf.count(b"\n", offset, i + 1)
                offset = i + 1
                if pos + offset < size:
                    cuts.append((pos + offset, line))
                next_cut = pos + offset + target
            line += buf.count(b"\n", offset)
            pos += len(buf)
    return cuts


# --- reading one shard ---------------------------------------------------------------------------

Progress = Callable[[int], None]


def _noop(_: int) -> None:
    pass


def _open_stream(path: Path) -> BinaryIO:
    suffix = path.suffix.lower()
    if suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    if suffix == ".zst":
        try:
            import zstandard
        except ImportError:
            raise JaftError(f"{path}: reading .zst needs the zstandard package: pip install zstandard") from None
        raw = path.open("rb")
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))  # type: ignore[arg-type]
    return path.open("rb")


def iter_shard(shard: Shard, fmt: str = "auto", *, max_line_bytes: int = 1_000_000,
               progress: Progress = _noop) -> Iterator[Item | Reject]:
    """Every raw record of one shard as :class:`Item` or :class:`Reject`, in input order, with the
    input's own ``path:line``. ``progress`` gets the (compressed) bytes read."""
    if shard.kind != "lines":
        yield from iter_items(shard.path, fmt, max_line_bytes=max_line_bytes, progress=progress)
        return
    path = Path(shard.path)
    text = _inner_suffix(path) in TEXT_SUFFIXES or (
        path.suffix.lower() not in COMPRESSED and file_kind(path) == "text")
    if text and fmt not in ("auto", "text"):
        yield Reject(shard.path, 0, "wrong_format",
                     f"--format {fmt} needs JSON, CSV or Parquet records, but this is a plain-text file")
        return
    try:
        f = _open_stream(path)
    except OSError as e:
        yield Reject(shard.path, 0, "unreadable", f"cannot read ({e.strerror}); check permissions")
        return
    with f:
        if shard.start:
            f.seek(shard.start)
        end = shard.end if shard.end >= 0 else None
        number = shard.first_line - 1
        pos = reported = shard.start
        limit = max_line_bytes
        try:
            while end is None or pos < end:
                raw = f.readline(limit + 1)
                if not raw:
                    return
                number += 1
                pos += len(raw)
                if len(raw) > limit and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of the oversized line
                        raw = f.readline(1 << 20)
                        pos += len(raw)
                    yield Reject(shard.path, number, "line_too_long",
                                 f"line is over {limit:,} bytes; split the record or raise data.max_line_bytes")
                    continue
                if number & 255 == 0:
                    progress(pos - reported)
                    reported = pos
                item = line_item(shard.path, number, raw, text)
                if item is not None:
                    yield item
        except (OSError, EOFError) as e:  # truncated or corrupt compressed stream
            yield Reject(shard.path, number + 1, "unreadable",
                         f"cannot read past this point ({type(e).__name__}: {e}); re-download or recompress the file")
        finally:
            progress(pos - reported)


def line_item(name: str, number: int, raw: bytes, text: bool) -> Item | Reject | None:
    """One line of a JSON Lines or text file as an :class:`Item`, a :class:`Reject` (same reason codes
    as :func:`jaft.data.formats.iter_items`), or None for a blank line (blank lines separate records)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return Reject(name, number, "not_utf8",
                      f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                      "convert the file, e.g. iconv -f SHIFT_JIS -t UTF-8", raw[:200].decode("utf-8", "replace"))
    if number == 1:
        line = line.removeprefix("\ufeff")
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    if text:
        return Item(name, number, line)
    try:
        value = json.loads(line)
    except json.JSONDecodeError as e:
        return Reject(name, number, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno}); fix or remove the line",
                      line[:200])
    if not isinstance(value, dict):
        return Reject(name, number, "wrong_type", f"expected a JSON object per line, got {type(value).__name__}",
                      line[:200])
    return Item(name, number, value)


def shards_to_json(shards: list[Shard]) -> str:
    return json.dumps([asdict(s) for s in shards], ensure_ascii=False)


def shards_from_json(text: str) -> list[Shard]:
    return [Shard(**d) for d in json.loads(text)]
