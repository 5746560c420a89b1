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

from jaft.data.reader import (
    JSONL_SUFFIXES,
    SAMPLE_BYTES,
    TEXT_SUFFIXES,
    EncodingChoice,
    Item,
    Reject,
    decide_encoding,
    decide_encoding_of_bytes,
    file_kind,
    iter_items,
    iter_stream_items,
    open_error,
    splits_at_newline,
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
    """Inputs with globs expanded (sorted, so the order is the same on every run and machine); a name
    that exists as written is taken as is, glob characters (``[``, ``*``, ``?``) and all.

    Raises :class:`JaftError` for a glob that matches nothing.
    """
    out: list[str] = []
    for name in inputs:
        # A file that exists under this very name (corpus[1].txt) is that file, not a pattern.
        if glob.has_magic(name) and not os.path.lexists(name):
            # A broken symbolic link is kept, so check_inputs names it instead of it vanishing silently.
            matches = sorted(p for p in glob.glob(name, recursive=True)
                             if os.path.isfile(p) or (os.path.islink(p) and not os.path.exists(p)))
            if not matches:
                raise JaftError(_no_match(name))
            out.extend(matches)
        else:
            out.append(name)
    return out


def unique_inputs(names: list[str]) -> tuple[list[str], list[str]]:
    """``(names, repeats)``: each input once, in first-listed order, and the names left out because they
    name an input already listed (the same path, another path to the same file, or a glob that
    overlaps another), which would otherwise be read twice and counted as duplicates of themselves."""
    seen: set[str] = set()
    kept: list[str] = []
    repeats: list[str] = []
    for name in names:
        key = os.path.realpath(name) if os.path.exists(name) else name  # Hub names as written
        if key in seen:
            repeats.append(name)
        else:
            seen.add(key)
            kept.append(name)
    return kept, repeats


def _no_match(pattern: str) -> str:
    """Why a glob matched nothing: a folder on its fixed part that cannot be read, or no such file."""
    fixed = Path(pattern)
    while glob.has_magic(str(fixed)):
        fixed = fixed.parent
    folder = fixed if fixed.is_dir() else fixed.parent
    if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
        return f"{pattern}: cannot read the folder {folder} (permission denied); check its permissions"
    return (f"{pattern}: no file matches this pattern; check the path (quote it so the shell does not expand it) "
            "or list the files")


def check_inputs(names: list[str]) -> None:
    """Inputs named on the command line must be readable regular files (or Hub datasets): one line
    with the fix (exit 2) before any work, instead of a run whose only "record" is the missing file.

    Raises :class:`JaftError` for what :func:`jaft.data.reader.input_problem` finds (a missing file, a
    broken link, a folder, a pipe or device, a file or a folder above it that cannot be read).
    """
    from jaft.data.reader import input_problem

    for name in names:
        problem = input_problem(name)
        if problem is not None:
            raise JaftError(f"{name}: {problem[1]}")


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


def plan_shards(sources: list[tuple[str, bool]], shard_bytes: int,
                encodings: dict[str, EncodingChoice] | None = None) -> list[Shard]:
    """Shards of ``(input, is_validation)`` pairs in input order; missing or unreadable inputs get a
    shard of their own so the reader reports them (as rejects, or an error with ``--strict``).
    ``encodings``: files in an encoding whose 0x0A bytes are not all line ends (UTF-16/32) stay whole."""
    shards: list[Shard] = []
    for name, validation in sources:
        path = Path(name)
        if not path.is_file():
            shards.append(Shard(len(shards), name, "whole", validation=validation))
            continue
        size = path.stat().st_size
        choice = (encodings or {}).get(name)
        cuttable = choice is None or splits_at_newline(choice.encoding)
        if not _is_lines(path) or path.suffix.lower() in COMPRESSED or size <= shard_bytes or not cuttable:
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
        return io.BufferedReader(_ZstdStream(path.open("rb"), zstandard), 1 << 16)  # type: ignore[return-value]
    return path.open("rb")


class _ZstdStream(io.RawIOBase):
    """A ``.zst`` file's decompressed bytes, frame after frame (zstd writes several for large or
    appended files). zstandard's own ``stream_reader`` ends quietly where a cut-short file ends, so a
    truncated download would lose its tail without a word; here that raises ``EOFError`` (the reader
    rejects the rest, naming the line), and bytes that are no zstd frame raise ``OSError``."""

    def __init__(self, raw: BinaryIO, zstandard) -> None:
        self.raw, self.error = raw, zstandard.ZstdError
        self.dctx = zstandard.ZstdDecompressor()
        self.dobj = self.dctx.decompressobj()
        self.in_frame = False  # bytes of a frame fed and the frame not finished
        self.buf, self.pos = b"", 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while self.pos >= len(self.buf):
            chunk = self.raw.read(1 << 17)
            if not chunk:
                if self.in_frame:
                    raise EOFError("the .zst file ends in the middle of a compressed frame (cut short)")
                return 0
            self.buf, self.pos = self._decompress(chunk), 0
        n = min(len(b), len(self.buf) - self.pos)
        b[:n] = self.buf[self.pos : self.pos + n]
        self.pos += n
        return n

    def _decompress(self, chunk: bytes) -> bytes:
        out = []
        while chunk:
            if self.dobj.eof:  # the next frame
                self.dobj = self.dctx.decompressobj()
            try:
                out.append(self.dobj.decompress(chunk))
            except self.error as e:
                raise OSError(f"not a valid zstd stream ({e})") from None
            self.in_frame = not self.dobj.eof
            chunk = self.dobj.unused_data if self.dobj.eof else b""
        return b"".join(out)

    def close(self) -> None:
        self.raw.close()
        super().close()


def decide_source_encoding(path: Path, requested: str | None = None) -> EncodingChoice:
    """:func:`jaft.data.reader.decide_encoding` of one input, on the decompressed first MiB of a
    ``.gz`` / ``.zst`` file. Decided once per file, before it is cut into shards (a shard alone may
    hold no byte that tells). Raises ``OSError`` / ``LookupError`` as the reader's function."""
    if path.suffix.lower() not in COMPRESSED or (requested and requested.lower() != "auto"):
        return decide_encoding(path, requested)
    try:
        with _open_stream(path) as f:
            sample = f.read(SAMPLE_BYTES + 1)
    except EOFError:  # truncated stream: decided on what is there; the reader rejects the rest
        sample = b""
    return decide_encoding_of_bytes(sample[:SAMPLE_BYTES], complete=len(sample) <= SAMPLE_BYTES)


def source_encoding(source: str, requested: str | None, strict: bool) -> EncodingChoice | None:
    """The encoding of one input as ``report.json`` ``encodings`` records it (both pipelines): None
    for what is not a readable file (the reader rejects it) or not text (Parquet, Hub). Undecided and
    ``strict``: :class:`JaftError` with the candidates and the flag to pass (exit 2)."""
    path = Path(source)
    if not path.is_file() or path.suffix.lower() in (".parquet", ".pq"):
        return None
    try:
        choice = decide_source_encoding(path, requested)
    except (OSError, LookupError):
        return None  # the reader says why, as a rejected file
    if not choice.decided and strict:
        raise JaftError(choice.hint(source))
    return choice


def iter_shard(shard: Shard, fmt: str = "auto", *, encoding: EncodingChoice | None = None,
               max_line_bytes: int = 1_000_000, progress: Progress = _noop) -> Iterator[Item | Reject]:
    """Every raw record of one shard as :class:`Item` or :class:`Reject`, in input order, with the
    input's own ``path:line``: the records and rejects :func:`jaft.data.reader.iter_items` gives for
    those lines. ``encoding``: the file's encoding decided before sharding (None: decided here).
    ``progress`` gets the bytes read (decompressed, for a compressed input)."""
    if shard.kind != "lines":
        yield from iter_items(shard.path, fmt, encoding=encoding, max_line_bytes=max_line_bytes, progress=progress)
        return
    path = Path(shard.path)
    text = _inner_suffix(path) in TEXT_SUFFIXES or (
        path.suffix.lower() not in COMPRESSED and file_kind(path) == "text")
    if text and fmt not in ("auto", "text"):
        yield Reject(shard.path, 0, "wrong_format",
                     f"--format {fmt} needs JSON, CSV or Parquet records, but this is a plain-text file")
        return
    try:
        choice = encoding or decide_source_encoding(path)
        if choice.how == "not_text":  # an .xlsx and the like: one reject for the file (from its first shard)
            if not shard.start:
                yield Reject(shard.path, 0, "not_text", choice.fix())
            return
        f = _open_stream(path)
    except OSError as e:
        yield Reject(shard.path, 0, "unreadable", open_error(e, path))
        return
    with f:
        if shard.start:
            f.seek(shard.start)
        number = shard.first_line - 1
        size = shard.end - shard.start if shard.end >= 0 else None
        try:
            for item in iter_stream_items(f, shard.path, "text" if text else "jsonl", choice,
                                          max_line_bytes=max_line_bytes, progress=progress,
                                          first_line=shard.first_line, size=size):
                number = item.line
                yield item
        except (OSError, EOFError) as e:  # truncated or corrupt compressed stream
            yield Reject(shard.path, number + 1, "unreadable",
                         f"cannot read past this point ({type(e).__name__}: {e}); re-download or recompress the file")


def shards_to_json(shards: list[Shard]) -> str:
    return json.dumps([asdict(s) for s in shards], ensure_ascii=False)


def shards_from_json(text: str) -> list[Shard]:
    return [Shard(**d) for d in json.loads(text)]
