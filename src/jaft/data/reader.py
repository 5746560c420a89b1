"""The one reader of input files: every command that reads text, JSONL, JSON, CSV or Parquet reads here.

``jaft data prepare``, ``jaft eval --data`` (math problems and perplexity text), ``jaft tokenizer
analyze|extend --data`` and ``jaft style --input`` all go through :func:`iter_items` /
:func:`iter_lines`, so the same file gives the same records everywhere:

- **Encoding** (:func:`decide_encoding`): ``--encoding`` / ``data.encoding`` when given; else a byte
  order mark (UTF-8, UTF-16, UTF-32); else UTF-8 when the first MiB decodes strictly (or when its
  non-ASCII lines are UTF-8 and only some lines are broken: those lines are rejected, the file is
  not re-guessed); else ISO-2022-JP by its escape sequences; else the Japanese legacy encodings
  (cp932, euc_jp) that decode the sample, ranked by charset-normalizer. Shift_JIS is read as
  **cp932**, its Microsoft superset: Excel and Windows write cp932, and NEC/IBM extension
  characters (①, ㈱, 髙) exist only there. No candidate, or candidates charset-normalizer cannot
  tell apart: the encoding is *undecided*; :attr:`EncodingChoice.hint` is the one line that lists
  the candidates and the flag to pass.
- **Lines** end only at ``\\n`` (``\\r\\n``, and a lone ``\\r`` in UTF-16 text): U+2028/U+2029,
  which ``json.dumps(ensure_ascii=False)`` writes raw, never split a record. A UTF-8 BOM on the first
  line is dropped.
- **Bad input never raises**: undecodable lines, invalid JSON, JSON strings holding a lone UTF-16
  surrogate (``"\\ud83d"``: an emoji cut in half), CSV rows that do not fit the header, and unreadable
  files are yielded as :class:`Reject` (``path:line``, a stable reason code, and a message that says
  how to fix it). The caller decides whether that stops the run.

Parallel prepare decides each file's encoding once (:func:`decide_encoding`, before sharding) and
reads its shards with :func:`iter_stream_items` (line files) or :func:`iter_items` (the rest).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

JSONL_SUFFIXES = (".jsonl", ".ndjson")
TEXT_SUFFIXES = (".txt", ".text", ".md")
SAMPLE_BYTES = 1 << 20  # how much of a file the encoding is decided on

# Japanese legacy encodings tried when a file is not UTF-8 (in this order of preference on a tie).
LEGACY_CANDIDATES = ("cp932", "euc_jp")
# Public math sets named in seed 004, by the names people type, with the config their loader needs.
HUB_ALIASES: dict[str, tuple[str, str | None]] = {
    "gsm8k": ("openai/gsm8k", "main"),
    "openai/gsm8k": ("openai/gsm8k", "main"),
    "competition_math": ("qwedsacf/competition_math", None),
    "qwedsacf/competition_math": ("qwedsacf/competition_math", None),
    "hendrycks/competition_math": ("hendrycks/competition_math", None),
}


@dataclass
class Item:
    """One raw record: a parsed JSON object / table row (dict) or a line of text (str)."""

    path: str
    line: int
    value: Any

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Reject:
    """Input that could not become a record. ``line`` is 0 for problems with the whole file."""

    path: str
    line: int
    reason: str  # a stable code: invalid_json, not_utf8, undecodable, invalid_unicode, missing_field, …
    message: str  # what is wrong and how to fix it
    raw: str | None = None

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def describe(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class EncodingChoice:
    """How a file is decoded: ``encoding`` (a Python codec name; None when undecided) and ``how``."""

    encoding: str | None
    how: str  # requested | bom | utf8 | utf8_with_bad_lines | escape_sequences | only_candidate | detected | undecided
    # | not_text
    detail: str = ""
    candidates: tuple[str, ...] = field(default_factory=tuple)

    @property
    def decided(self) -> bool:
        return self.encoding is not None

    def describe(self) -> str:
        if self.encoding is None:
            return f"undecided ({self.detail})" if self.detail else "undecided"
        return f"{self.encoding} ({self.how}{': ' + self.detail if self.detail else ''})"

    def hint(self, path: str) -> str:
        """One line: ``path`` and :meth:`fix`."""
        return f"{path}: {self.fix()}"

    def fix(self) -> str:
        """For an undecided encoding, the candidates and the flag to pass; for a file that is no text at
        all (an .xlsx), what to save it as."""
        if self.how == "not_text":
            return f"{self.detail}; save it as CSV (UTF-8) or JSON Lines and pass that file"
        cands = self.candidates or LEGACY_CANDIDATES
        return (f"cannot decide the encoding ({self.detail or 'not UTF-8'}; candidates: {', '.join(cands)}); "
                f"pass --encoding {cands[0]} (or set data.encoding), or convert the file: "
                f"iconv -f {cands[0].upper().replace('_', '-')} -t UTF-8")

    def as_report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"encoding": self.encoding, "how": self.how}
        if self.detail:
            out["detail"] = self.detail
        if self.candidates:
            out["candidates"] = list(self.candidates)
        return out


Progress = Callable[[int], None]  # called with the number of bytes just consumed


def _noop(_: int) -> None:
    pass


def looks_like_hub_name(name: str) -> bool:
    """One of the seed's public set names (``gsm8k``), or ``owner/name`` without a file suffix whose
    ``owner`` is not a folder here: ``data/corpus`` beside a local ``data/`` is a mistyped file, not a
    dataset to fetch from the Hub."""
    if name in HUB_ALIASES:
        return True
    return bool(_HUB_SHAPE.fullmatch(name)) and not Path(name).suffix and not Path(name).parent.is_dir()


_HUB_SHAPE = re.compile(r"[\w.-]+/[\w.-]+")


def canonical_encoding(name: str) -> str:
    """Python's codec name for ``name``; Shift_JIS variants become cp932 (their superset).

    Raises ``LookupError`` for an unknown codec.
    """
    codec = codecs.lookup(name).name
    return "cp932" if codec in ("shift_jis", "shift_jisx0213", "shift_jis_2004") else codec


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


# Decoded text no person wrote: control characters (C0 but tab/line ends, C1) and what cp932 makes of
# the single bytes 0x80, 0xA0, 0xFD-0xFF (U+0080, U+F8F0-U+F8F3). Binary data "decodes" as cp932 so.
_IMPLAUSIBLE = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x9f\uf8f0-\uf8f3]")


def _decode(sample: bytes, name: str, complete: bool) -> str:
    """``sample`` decoded; when it is not the whole file, a character cut at its end (a first line
    longer than the sample) is left out instead of failing the decode."""
    return codecs.getincrementaldecoder(name)().decode(sample, final=complete)


_NOT_TEXT_MAGIC = (b"PK\x03\x04",)  # ZIP: .xlsx, .docx, .zip


def _plausible(sample: bytes, name: str, complete: bool) -> bool:
    try:
        return not _IMPLAUSIBLE.search(_decode(sample, name, complete))
    except UnicodeDecodeError:
        return False


def decide_encoding_of_bytes(sample: bytes, requested: str | None = None, *, complete: bool = False) -> EncodingChoice:
    """The encoding of a file from its first bytes (see the module docstring for the rule).

    ``complete``: ``sample`` is the whole file (else a trailing partial line is ignored).
    Raises ``LookupError`` when ``requested`` names no codec.
    """
    if requested and requested.lower() != "auto":
        return EncodingChoice(canonical_encoding(requested), "requested")
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return EncodingChoice(name, "bom")
    if not complete:  # a character cut at the end of the sample must not count against an encoding
        cut = sample.rfind(b"\n")
        sample = sample[: cut + 1] if cut > 0 else sample
    if sample.startswith(_NOT_TEXT_MAGIC):
        return EncodingChoice(None, "not_text", "a ZIP archive such as an Excel .xlsx, not text")
    if b"\x00" in sample:  # text never holds NUL bytes; UTF-16 without a BOM does, in every ASCII character
        wide = [name for name, nl in (("utf_16_le", b"\n\x00"), ("utf_16_be", b"\x00\n"))
                if nl in sample and _plausible(sample, name, complete)]
        if wide:
            return EncodingChoice(None, "undecided", "NUL bytes: UTF-16 without a BOM", tuple(wide))
    if b"\x1b$B" in sample or b"\x1b$@" in sample:  # 7-bit, so it would pass as UTF-8
        return EncodingChoice("iso2022_jp", "escape_sequences")
    try:
        _decode(sample, "utf-8", complete)
        return EncodingChoice("utf-8", "utf8")
    except UnicodeDecodeError:
        pass
    lines = sample.split(b"\n")
    utf8_lines = bad = 0
    for line in lines:
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8_lines += 1
        except UnicodeDecodeError:
            bad += 1
    if utf8_lines:  # Japanese text in another encoding is practically never valid UTF-8
        return EncodingChoice("utf-8", "utf8_with_bad_lines", f"{bad} of {utf8_lines + bad} non-ASCII lines are not UTF-8")
    decodes = []
    for name in LEGACY_CANDIDATES:
        try:
            text = _decode(sample, name, complete)
        except UnicodeDecodeError:
            continue
        if not _IMPLAUSIBLE.search(text):
            decodes.append(name)
    if not decodes:
        return EncodingChoice(None, "undecided", "not UTF-8, cp932 or EUC-JP", LEGACY_CANDIDATES)
    if len(decodes) == 1:
        return EncodingChoice(decodes[0], "only_candidate", f"decodes as {decodes[0]} only")
    from charset_normalizer import from_bytes

    ranked = [m for m in from_bytes(sample, cp_isolation=decodes) if canonical_encoding(m.encoding) in decodes]
    if ranked:
        best = ranked[0]
        others = [m.chaos for m in ranked[1:]]
        if best.chaos <= 0.2 and (not others or min(others) - best.chaos >= 0.05):
            name = canonical_encoding(best.encoding)
            return EncodingChoice(name, "detected", f"charset-normalizer, mess {best.chaos:.2f}",
                                  tuple(decodes))
    return EncodingChoice(None, "undecided", f"decodes as {' and '.join(decodes)} alike", tuple(decodes))


def decide_encoding(path: str | Path, requested: str | None = None) -> EncodingChoice:
    """:func:`decide_encoding_of_bytes` on the first MiB of ``path``. Raises ``OSError``/``LookupError``."""
    if requested and requested.lower() != "auto":
        return EncodingChoice(canonical_encoding(requested), "requested")
    with open(path, "rb") as f:
        sample = f.read(SAMPLE_BYTES + 1)
    return decide_encoding_of_bytes(sample[:SAMPLE_BYTES], complete=len(sample) <= SAMPLE_BYTES)


def file_kind(path: Path) -> str:
    """text / jsonl / json / csv / parquet, from the suffix, else from the first bytes."""
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in TEXT_SUFFIXES:
        return "text"
    with path.open("rb") as f:
        head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "jsonl" if head.startswith(b"{") else "json" if head.startswith(b"[") else "text"


# --- lines ---------------------------------------------------------------------------------------

# Encodings in which byte 0x0A is always a line end (never part of a multibyte character).
_ASCII_SAFE = ("utf-8", "cp932", "euc_jp", "iso2022_jp", "ascii", "latin-1", "iso8859-1")


def splits_at_newline(encoding: str | None) -> bool:
    """Whether every 0x0A byte of text in ``encoding`` (None: undecided, read as UTF-8) ends a line, so
    a file can be cut into shards at any ``\\n`` (not so in UTF-16/32)."""
    return encoding is None or codecs.lookup(encoding).name in _ASCII_SAFE


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _not_decodable(name: str, number: int, raw: bytes, encoding: str, err: UnicodeDecodeError,
                   choice: EncodingChoice | None) -> Reject:
    where = f"byte 0x{raw[err.start]:02x} at column {err.start + 1}" if err.start < len(raw) else "truncated character"
    if choice is not None and not choice.decided:
        return Reject(name, number, "undecodable", f"not valid {encoding} ({where}); {choice.fix()}",
                      raw[:200].decode(encoding, "replace"))
    if encoding == "utf-8":
        if err.reason == "unexpected end of data":  # the line ends inside a character
            fix = "a UTF-8 character is cut off at the end of the line (was the file truncated?); fix or remove the line"
        elif _decodes(raw, "cp932"):
            fix = ("the line is not UTF-8: if the file comes from Excel or Windows it is probably CP932: pass "
                   "--encoding cp932, or convert it: iconv -f CP932 -t UTF-8")
        else:
            fix = "an invalid UTF-8 byte (not CP932 either); fix or remove the line"
        return Reject(name, number, "not_utf8", f"not valid UTF-8 ({where}); {fix}", raw[:200].decode("utf-8", "replace"))
    return Reject(name, number, "undecodable", f"not valid {encoding} ({where}); fix the line or pass the right "
                  "--encoding", raw[:200].decode(encoding, "replace"))


def iter_lines(
    stream: BinaryIO,
    name: str,
    encoding: str = "utf-8",
    *,
    max_line_bytes: int = 1_000_000,
    progress: Progress = _noop,
    choice: EncodingChoice | None = None,
    first_line: int = 1,
    size: int | None = None,
) -> Iterator[tuple[int, str | Reject]]:
    """``(line_number, text)`` of every line (blank ones too), line end kept, BOM dropped; or a
    :class:`Reject` for a line that does not decode or is longer than ``max_line_bytes``.

    A shard of a file (parallel prepare): ``stream`` positioned at a line start, ``first_line`` its
    1-based number, ``size`` the bytes to read from there (lines that start before that point are
    read whole). Only line 1 can carry a BOM. Shards exist only for encodings in which byte 0x0A
    always ends a line (UTF-8, cp932, EUC-JP, ISO-2022-JP).
    """
    encoding = codecs.lookup(encoding).name
    if encoding not in _ASCII_SAFE:
        if first_line != 1 or size is not None:
            raise ValueError(f"{name}: {encoding} text cannot be read from the middle of the file")
        yield from _iter_wide_lines(stream, name, encoding, progress)
        return
    number = first_line - 1
    limit = max_line_bytes
    left = size if size is not None else -1
    while left != 0:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        progress(len(raw))
        left = max(0, left - len(raw)) if left > 0 else left
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the oversized line
                raw = stream.readline(1 << 20)
                progress(len(raw))
                left = max(0, left - len(raw)) if left > 0 else left
            yield number, Reject(name, number, "line_too_long",
                                 f"line is over {limit:,} bytes; split the record or raise data.max_line_bytes")
            continue
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as e:
            yield number, _not_decodable(name, number, raw, encoding, e, choice)
            continue
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        yield number, text


def _iter_wide_lines(stream: BinaryIO, name: str, encoding: str, progress: Progress) -> Iterator[tuple[int, str | Reject]]:
    """UTF-16/32: a text wrapper that splits at \\n, \\r\\n and \\r only (never at U+2028)."""
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    number = 0
    try:
        for line in text:
            number += 1
            progress(len(line) * 2)
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line
    except UnicodeDecodeError as e:
        yield number + 1, Reject(name, number + 1, "undecodable",
                                 f"not valid {encoding} ({e.reason}); the rest of the file is skipped; "
                                 "fix the file or pass the right --encoding")
    finally:
        text.detach()


# --- items ---------------------------------------------------------------------------------------

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def lone_surrogate(value: Any, where: str = "") -> str | None:
    """Where a string inside ``value`` holds a lone UTF-16 surrogate (``"field 'text'"``), else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"{where or 'the value'} (U+{ord(value[e.start]):04X} at character {e.start + 1})"
        return None
    if isinstance(value, dict):
        for k, v in value.items():
            found = lone_surrogate(v, f"{where}.{k}" if where else f"field '{k}'")
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = lone_surrogate(v, f"{where}[{i}]")
            if found:
                return found
    return None


def _surrogate_reject(name: str, number: int, found: str, raw: str) -> Reject:
    return Reject(name, number, "invalid_unicode",
                  f"lone UTF-16 surrogate in {found}: half of a character (a tool cut an emoji by UTF-16 "
                  "units); repair the text at its source or remove the record",
                  raw[:200].encode("utf-8", "replace").decode("utf-8"))


def input_problem(name: str) -> tuple[str, str] | None:
    """``(reason, message)`` when input ``name`` cannot be read as a file, else None (a readable regular
    file, or a name that is not a file but looks like a Hub dataset). Reasons: ``file_not_found``
    (a broken symbolic link says so), ``is_directory``, ``not_a_file`` (a pipe or device: inputs are cut
    into shards at byte offsets and read again on resume), ``unreadable`` (permissions, of the file or a
    folder above it). The reader rejects such an input; ``jaft data prepare`` stops on it (exit 2)."""
    import stat

    path = Path(name)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        if looks_like_hub_name(name):
            return None
        if _HUB_SHAPE.fullmatch(name) and not path.suffix:  # owner/name shape, but owner is a folder here
            return "file_not_found", (f"file not found in the local folder {path.parent}/; check the path (a Hub "
                                      "dataset of that name is read when no such folder is here)")
        link = " (a symbolic link to a missing file)" if path.is_symlink() else ""
        return "file_not_found", f"file not found{link}; check the path (or pass a Hub dataset as owner/name)"
    except OSError as e:
        return "unreadable", f"cannot read ({e.strerror}); check the permissions of the file and its folders"
    if stat.S_ISDIR(mode):
        return "is_directory", f"is a folder; pass the files inside it, e.g. '{path / '*.jsonl'}' (quoted)"
    if not stat.S_ISREG(mode):
        return "not_a_file", "not a regular file (a pipe or device); write it to a file first"
    try:
        with path.open("rb") as f:
            f.read(1)
    except OSError as e:
        return "unreadable", f"cannot read ({e.strerror}); check its permissions"
    return None


def open_error(e: OSError, path: Path) -> str:
    """The reject message for an input that cannot be opened: the system's reason (permissions), or
    for a compressed file whose bytes are not that format (``gzip.BadGzipFile`` and the like carry no
    ``strerror``) what it is not and the fix."""
    if e.strerror:
        return f"cannot read ({e.strerror}); check permissions"
    kind = {".gz": "gzip", ".zst": "zstd"}.get(path.suffix.lower())
    if kind is None:
        return f"cannot read ({e}); check the file"
    return f"not a {kind} file ({e}); re-download or recompress it, or rename it without {path.suffix}"


def iter_items(
    source: str | Path,
    fmt: str = "auto",
    *,
    encoding: str | EncodingChoice | None = None,
    max_line_bytes: int = 1_000_000,
    progress: Progress = _noop,
) -> Iterator[Item | Reject]:
    """Every raw record of one input, as :class:`Item` or :class:`Reject`, in file order.

    ``encoding``: a codec name (``--encoding``), a choice already made by :func:`decide_encoding`, or
    None / ``"auto"`` to decide here. An undecided encoding reads the file as UTF-8 and rejects each
    line that is not, with the hint naming the candidates.
    """
    name = str(source)
    path = Path(source)
    problem = input_problem(name)
    if problem is not None:
        yield Reject(name, 0, *problem)
        return
    if not path.exists():  # input_problem let it through: a Hub dataset name
        yield from _iter_datasets("hub", name)
        return
    if path.stat().st_size == 0:
        yield Reject(name, 0, "empty_file", "file is empty; remove it from the inputs or fill it")
        return
    kind = file_kind(path)
    if kind == "text" and fmt not in ("auto", "text"):
        yield Reject(name, 0, "wrong_format", f"--format {fmt} needs JSON, CSV or Parquet records, but this is a plain-text file")
        return
    if kind == "parquet":
        yield from _iter_datasets(kind, name)
        return
    try:
        choice = encoding if isinstance(encoding, EncodingChoice) else decide_encoding(path, encoding)
    except LookupError:
        yield Reject(name, 0, "unknown_encoding", f"--encoding {encoding}: unknown codec; use e.g. utf-8, cp932, euc_jp")
        return
    except OSError as e:
        yield Reject(name, 0, "unreadable", open_error(e, path))
        return
    if choice.how == "not_text":
        yield Reject(name, 0, "not_text", choice.fix())
        return
    codec = choice.encoding or "utf-8"
    if kind == "csv":
        yield from _iter_csv(path, name, codec, choice, progress, "\t" if path.suffix.lower() == ".tsv" else ",",
                             max_line_bytes)
    elif kind == "json":
        yield from _iter_json(path, name, codec, choice, progress)
    else:
        with path.open("rb") as f:
            yield from iter_stream_items(f, name, kind, choice, max_line_bytes=max_line_bytes, progress=progress)


def iter_stream_items(
    stream: BinaryIO,
    name: str,
    kind: str,
    choice: EncodingChoice,
    *,
    max_line_bytes: int = 1_000_000,
    progress: Progress = _noop,
    first_line: int = 1,
    size: int | None = None,
) -> Iterator[Item | Reject]:
    """Items of a JSON Lines (``kind`` ``"jsonl"``) or text (``"text"``) stream decoded as ``choice``
    says (UTF-8 and rejected lines when undecided): what :func:`iter_items` yields for such a file.
    ``first_line`` / ``size``: one shard of the file, as in :func:`iter_lines`. Parallel prepare reads
    its shards (plain or decompressed streams) here, so both pipelines read a line alike."""
    codec = choice.encoding or "utf-8"
    for number, text in iter_lines(stream, name, codec, max_line_bytes=max_line_bytes, progress=progress,
                                   choice=choice, first_line=first_line, size=size):
        if isinstance(text, Reject):
            yield text
            continue
        text = text.rstrip("\r\n")
        if not text.strip():
            continue  # blank lines separate records; they are not records
        if kind == "text":
            yield Item(name, number, text)
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as e:
            yield Reject(name, number, "invalid_json",
                         f"invalid JSON ({e.msg} at column {e.colno}); fix or remove the line", text[:200])
            continue
        if not isinstance(value, dict):
            yield Reject(name, number, "wrong_type",
                         f"expected a JSON object per line, got {type(value).__name__}", text[:200])
            continue
        if _SURROGATE_ESCAPE.search(text):
            found = lone_surrogate(value)
            if found:
                yield _surrogate_reject(name, number, found, text)
                continue
        yield Item(name, number, value)


def _iter_csv(path: Path, name: str, codec: str, choice: EncodingChoice, progress: Progress,
              delimiter: str, max_field: int = 1_000_000) -> Iterator[Item | Reject]:
    """CSV/TSV through the csv module on decoded lines: line 1 is the header; a quoted field may
    span lines (the record carries the line it starts on). A field may be as long as a JSON Lines
    record (``max_field``, ``data.max_line_bytes``), not only the csv module's default 131,072
    characters."""
    csv.field_size_limit(max_field)  # process-wide: set for each file (one file is read at a time)
    pending: list[Reject] = []
    state = {"line": 0}

    def lines() -> Iterator[str]:
        with path.open("rb") as f:
            for number, text in iter_lines(f, name, codec, max_line_bytes=1 << 30, progress=progress, choice=choice):
                state["line"] = number
                if isinstance(text, Reject):
                    pending.append(text)
                    continue
                yield text

    reader = csv.reader(lines(), delimiter=delimiter)
    header: list[str] | None = None
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield from pending
            pending.clear()
            if state["line"] > start:  # a field that ran on over lines: most likely a quote never closed
                yield Reject(name, start, "invalid_csv",
                             f"unreadable CSV: the record starting here runs on to line {state['line']} ({e}); "
                             "a quote (\") opened on this line is probably never closed: close or double it")
            else:
                yield Reject(name, state["line"], "invalid_csv", f"unreadable CSV ({e}); fix the line")
            start = state["line"] + 1
            continue
        yield from pending
        pending.clear()
        line, start = start, state["line"] + 1
        if header is None:
            header = [h.strip() for h in row]
            if not any(header):
                yield Reject(name, line, "invalid_csv", "the first line must name the columns (e.g. problem,solution,answer)")
                return
            continue
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(header):
            yield Reject(name, line, "invalid_csv",
                         f"{len(row)} fields but the header names {len(header)}; quote fields that hold '{delimiter}'",
                         delimiter.join(row)[:200])
            continue
        yield Item(name, line, {k: (row[i] if i < len(row) else None) for i, k in enumerate(header)})
    yield from pending


def _iter_json(path: Path, name: str, codec: str, choice: EncodingChoice, progress: Progress) -> Iterator[Item | Reject]:
    """A JSON array of objects (or a single object); line numbers point at each element's start."""
    raw = path.read_bytes()
    progress(len(raw))
    try:
        text = raw.decode(codec).removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        number = raw[: e.start].count(b"\n") + 1
        line_start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw[line_start: raw.find(b"\n", e.start) if b"\n" in raw[e.start:] else len(raw)]
        err = UnicodeDecodeError(e.encoding, line, e.start - line_start, e.end - line_start, e.reason)
        yield _not_decodable(name, number, line, codec, err, choice)
        return
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos < len(text) and text[pos] == "{":
        try:
            value, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield Reject(name, e.lineno, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno})")
            return
        yield _checked(name, text.count("\n", 0, pos) + 1, value)
        return
    if pos >= len(text) or text[pos] != "[":
        yield Reject(name, text.count("\n", 0, pos) + 1, "invalid_json",
                     "a .json file must hold an array of objects (or one object); use .jsonl for one object per line")
        return
    pos = _skip_ws(text, pos + 1)
    line = text.count("\n", 0, pos) + 1
    last = pos
    while pos < len(text) and text[pos] != "]":
        line += text.count("\n", last, pos)
        last = pos
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            yield Reject(name, e.lineno, "invalid_json", f"invalid JSON ({e.msg} at column {e.colno}); the rest of the file is skipped")
            return
        if isinstance(value, dict):
            yield _checked(name, line, value)
        else:
            yield Reject(name, line, "wrong_type", f"expected an object in the array, got {type(value).__name__}",
                         json.dumps(value, ensure_ascii=False)[:200])
        pos = _skip_ws(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)


def _checked(name: str, line: int, value: dict[str, Any]) -> Item | Reject:
    found = lone_surrogate(value)
    if found:
        return _surrogate_reject(name, line, found, json.dumps(value, ensure_ascii=True))
    return Item(name, line, value)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _iter_datasets(kind: str, name: str) -> Iterator[Item | Reject]:
    """Parquet files and Hub datasets, streamed by ``datasets`` (no Arrow cache is written). Hub names
    of seed 004's sets (``gsm8k``, ``qwedsacf/competition_math``) load with the config they need."""
    try:
        from datasets import load_dataset
    except ImportError:
        yield Reject(name, 0, "missing_dependency", "reading Parquet or Hub datasets needs the datasets package: "
                     "pip install datasets")
        return
    try:
        if kind == "hub":
            repo, config = HUB_ALIASES.get(name, (name, None))
            ds = load_dataset(repo, config, split="train", streaming=True)
        else:
            ds = load_dataset(kind, data_files=name, split="train", streaming=True)
        for i, row in enumerate(ds):
            yield Item(name, 1 + i, dict(row))
    except Exception as e:  # datasets raises many types; all mean "this input is unreadable"
        reason = "file_not_found" if kind == "hub" else "unreadable"
        yield Reject(name, 0, reason, f"could not read with datasets ({type(e).__name__}: {str(e).splitlines()[0][:200]})")


def read_items(path: str | Path, fmt: str = "auto", *, encoding: str | None = None, what: str = "records") -> Iterator[Item]:
    """Items of one file for commands that stop at bad input (eval, tokenizer): the first
    :class:`Reject` raises ``JaftError`` with its ``path:line`` and fix; the file must exist."""
    from jaft.errors import JaftError

    p = Path(path)
    if not p.is_file():
        raise JaftError(f"{p}: {'is a directory' if p.is_dir() else 'no such file'}; pass a file of {what}")
    choice: str | EncodingChoice | None = encoding
    if file_kind(p) != "parquet":
        try:
            choice = decide_encoding(p, encoding)
        except LookupError:
            raise JaftError(f"--encoding {encoding}: unknown codec; use e.g. utf-8, cp932, euc_jp") from None
        if not choice.decided:
            raise JaftError(choice.hint(str(p)))
    for item in iter_items(p, fmt, encoding=choice):
        if isinstance(item, Reject):
            raise JaftError(item.describe())
        yield item


def record_texts_of(obj: Any) -> list[str] | None:
    """The texts of one raw or prepared record for tokenizer statistics and perplexity: ``text``, the
    contents of ``messages``, or its prompt and completion fields (prompt/completion, problem/solution,
    question, instruction/input/output); None when it holds none."""
    if isinstance(obj, str):
        return [obj]
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("text"), str):
        return [obj["text"]]
    if isinstance(obj.get("messages"), list):
        out = [m.get("content") for m in obj["messages"] if isinstance(m, dict)]
        return [c for c in out if isinstance(c, str)] or None
    parts = [obj.get(k) for k in ("system", "prompt", "problem", "question", "instruction", "input", "completion",
                                  "solution", "output")]
    parts = [p for p in parts if isinstance(p, str) and p]
    return parts or None


def read_texts(paths: Sequence[str | os.PathLike[str]], *, encoding: str | None = None) -> list[str]:
    """Every text of every file, in order (``.txt``: one per non-blank line; JSONL/JSON/CSV/Parquet:
    :func:`record_texts_of` of each record). Raises ``JaftError`` naming ``path:line`` on bad input."""
    from jaft.errors import JaftError

    if not paths:
        raise JaftError("no --data given; pass one or more text (.txt) or JSONL (.jsonl) files")
    texts: list[str] = []
    for p in paths:
        if not Path(p).is_file():
            raise JaftError(f"{p}: no such file; pass text (.txt) or JSONL (.jsonl) files with --data")
        for item in read_items(p, encoding=encoding, what="text (.txt) or JSONL (.jsonl)"):
            found = record_texts_of(item.value)
            if found is None:
                raise JaftError(f"{item.source}: no text, messages or prompt/completion field; fix or remove the line")
            texts.extend(found)
    if not texts:
        raise JaftError(f"{', '.join(str(p) for p in paths)}: no text found (only empty lines)")
    return texts
