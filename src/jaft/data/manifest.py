"""The end of a parallel ``jaft data prepare``: accounting merged over tasks, outputs, manifest, report.

Output layouts (``data.output_format``):

- ``jsonl`` (default): the shards joined in input order into ``train.jsonl``, ``validation.jsonl``
  and ``rejects.jsonl``, the layout of the one-process :func:`jaft.data.prepare.prepare`.
- ``jsonl.gz`` / ``parquet``: ``train/NNNNN.<ext>``, ``validation/NNNNN.<ext>`` and
  ``rejects/NNNNN.jsonl.gz``, one file per input shard (corpus scale: nothing is copied twice).

``manifest.json`` lists every output file with its records, bytes and SHA-256; ``report.json`` (written
last, so its presence means the run finished) has the counts, per source and in total::

    input_records = kept + rejected + duplicates_removed + filtered
    train + validation = kept + augmented
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from jaft.config.data import JapaneseDataConfig

MANIFEST, REPORT = "manifest.json", "report.json"
SPLITS = ("train", "validation", "rejects")
# Intermediate folders of the work directory (removed when the run is done; logs are kept).
WORK_DATA = ("admitted", "rejects_admit", "rejects_write", "tally_admit", "tally_write", "sig_exact", "dup_exact",
             "sig_minhash", "buckets", "clusters", "output", "offsets.json", "moved_to_validation.json")


def output_clash(name: str, out: Path, work: Path) -> str | None:
    """Why input ``name`` cannot be read by a run into ``out`` (work directory ``work``): it is a file
    the run writes or replaces there (``train.jsonl``, ``report.json``, ``train/…``, ``jaft_run.yaml``)
    or in its work directory, so the run would overwrite its own input and a re-run would read the
    last run's outputs as input. None when it is elsewhere (a Hub name is never a clash)."""
    if not Path(name).exists():
        return None
    path, out_r, work_r = Path(name).resolve(), out.resolve(), work.resolve()
    if path.is_relative_to(work_r):
        return f"is inside the run's work directory {work}"
    if not path.is_relative_to(out_r):
        return None
    rel = path.relative_to(out_r).parts
    written = {f"{s}.jsonl" for s in SPLITS} | {MANIFEST, REPORT, "jaft_run.yaml"}
    if (len(rel) == 1 and rel[0] in written) or (len(rel) > 1 and rel[0] in SPLITS):
        return f"is where this run writes its output in --out {out} (it would be overwritten or removed)"
    return None


def merge_tallies(texts: list[str]) -> dict[str, Any]:
    """Sum of :meth:`Tally.to_json` documents (counters added key by key, sources kept in first-seen order)."""
    keys = ("counts", "reasons", "variants", "kinds", "answer_rules")
    out: dict[str, Any] = {**{k: Counter() for k in keys}, "per_source": {}}
    for text in texts:
        d = json.loads(text)
        for key in keys:
            out[key].update(d.get(key, {}))
        for src, c in d["per_source"].items():
            out["per_source"].setdefault(src, Counter()).update(c)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _join(parts: list[Path], dest: Path) -> None:
    from jaft.fsutil import atomic_path

    with atomic_path(dest) as tmp, tmp.open("wb") as out:
        for p in parts:
            if p.is_file():
                with p.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)


def _join_gz(parts: list[Path], dest: Path) -> None:
    import gzip

    from jaft.fsutil import atomic_path

    # filename="": the header would otherwise name the atomic write's random temporary file, and two
    # identical runs would differ in bytes (and SHA-256).
    with atomic_path(dest) as tmp, tmp.open("wb") as raw, \
            gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as out:
        for p in parts:
            if p.is_file():
                with p.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)


SOURCE_KEYS = ("input_records", "kept", "rejected", "duplicates_removed", "filtered")


def source_counts(counts: dict[str, int]) -> dict[str, int]:
    """One source's line of ``report.json`` ``per_source``: the top level's five counts, zeros included,
    from a tally whose ``records`` counts the source's input records. Raises AssertionError if they do
    not balance (a record lost: a bug, never bad input)."""
    out = {"input_records": counts.get("records", 0), **{k: counts.get(k, 0) for k in SOURCE_KEYS[1:]}}
    assert out["input_records"] == sum(out[k] for k in SOURCE_KEYS[1:]), f"{counts} does not balance"
    return out


def finalize(out: Path, work: Path, tasks: int, config: JapaneseDataConfig, info: dict[str, Any]) -> dict[str, Any]:
    """Merge the tasks' counts, lay out the outputs, write ``manifest.json`` and ``report.json``."""
    admit = [(work / "tally_admit" / f"{r:05d}.json").read_text(encoding="utf-8") for r in range(tasks)]
    write = [(work / "tally_write" / f"{r:05d}.json").read_text(encoding="utf-8") for r in range(tasks)]
    t = merge_tallies(admit + write)
    c = t["counts"]
    fmt = config.output_format
    ext = {"jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz", "parquet": ".parquet"}[fmt]
    files: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    rejects = [p for r in range(tasks) for p in (work / "rejects_admit" / f"{r:05d}.jsonl",
                                                 work / "rejects_write" / f"{r:05d}.jsonl")]
    if c["validation"] == 0 and c["train"] and config.val_ratio > 0 and not info.get("validation_sources"):
        marker = work / "moved_to_validation.json"  # a finish task re-run after a kill moves nothing twice
        if marker.is_file():
            moved = json.loads(marker.read_text(encoding="utf-8"))
        else:
            moved = _move_last_group(work / "output", tasks, ext)
            _write_json(marker, moved)
        c["train"] -= moved
        c["validation"] += moved
    counts = {"train": c["train"], "validation": c["validation"],  # after the move (manifest = files)
              "rejects": c["rejected"] + c["duplicates_removed"] + c["filtered"]}
    _remove_other_layout(out, fmt)
    if fmt == "jsonl":
        for split in ("train", "validation"):
            _join([work / "output" / split / f"{r:05d}{ext}" for r in range(tasks)], out / f"{split}.jsonl")
        _join(rejects, out / "rejects.jsonl")
        for split in SPLITS:
            p = out / f"{split}.jsonl"
            files[split].append({"path": p.name, "records": counts[split], "bytes": p.stat().st_size,
                                 "sha256": _sha256(p)})
    else:
        for split in SPLITS:
            (out / split).mkdir(parents=True, exist_ok=True)
        keep = {f"{r:05d}{ext}" for r in range(tasks)}
        for r in range(tasks):
            for split in ("train", "validation"):
                src = work / "output" / split / f"{r:05d}{ext}"
                if src.is_file():
                    src.replace(out / split / src.name)
            _join_gz(rejects[2 * r : 2 * r + 2], out / "rejects" / f"{r:05d}.jsonl.gz")
        for split in SPLITS:  # shards of an earlier run with more shards or another format
            names = {f"{r:05d}.jsonl.gz" for r in range(tasks)} if split == "rejects" else keep
            for p in _shard_files(out / split):
                if p.name not in names:
                    p.unlink()
        for split in SPLITS:
            for p in _shard_files(out / split):
                files[split].append({"path": f"{split}/{p.name}", "records": _count(p), "bytes": p.stat().st_size,
                                     "sha256": _sha256(p)})
    report = _report(t, config, info)
    manifest = {"format": fmt, "shards": tasks, "files": files, "records": counts, "report": REPORT,
                "sources": info.get("sources", []), "validation_sources": info.get("validation_sources", [])}
    _write_json(out / MANIFEST, manifest)
    _write_run_file(out, config, report)
    _write_json(out / REPORT, report)
    for name in WORK_DATA:
        p = work / name
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        elif p.exists():
            p.unlink()
    return report


def _move_last_group(output: Path, tasks: int, ext: str) -> int:
    """A small dataset can hash no record into validation: then the last kept record (with its
    variants) goes there, as in the one-process pipeline. Returns the rows moved."""
    for r in reversed(range(tasks)):
        src, dest = output / "train" / f"{r:05d}{ext}", output / "validation" / f"{r:05d}{ext}"
        if not src.is_file():
            continue
        if ext == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(src)
            variant = table.column("variant").to_pylist()
        else:
            import gzip

            opener = gzip.open if ext.endswith(".gz") else open
            with opener(src, "rt", encoding="utf-8") as f:
                lines = f.read().splitlines(keepends=True)
            variant = [json.loads(line).get("variant") for line in lines]
        if not variant:
            continue
        start = max(i for i, v in enumerate(variant) if v is None)
        if ext == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(table.slice(0, start), src)
            pq.write_table(table.slice(start), dest)
        else:
            for path, part in ((src, lines[:start]), (dest, lines[start:])):
                with path.open("wb") as raw:
                    data = "".join(part).encode("utf-8")
                    if ext.endswith(".gz"):
                        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
                            gz.write(data)
                    else:
                        raw.write(data)
        return len(variant) - start
    return 0


_SHARD_NAME = re.compile(r"\d{5}\.(?:jsonl|jsonl\.gz|parquet)")


def _shard_files(folder: Path) -> list[Path]:
    """The shard files a run writes into an output folder (``00012.jsonl.gz``), sorted; anything else a
    user keeps there (a README, their own data) is not jaft's to list or remove."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _SHARD_NAME.fullmatch(p.name))


def _remove_other_layout(out: Path, fmt: str) -> None:
    """An earlier run into ``out`` in the other layout (joined files vs shard folders) is replaced:
    only the files such a run writes, and a shard folder only once nothing else is left in it."""
    for split in SPLITS:
        if fmt == "jsonl":
            for p in _shard_files(out / split):
                p.unlink()
            with contextlib.suppress(OSError):  # not empty (the user's own files) or not there
                (out / split).rmdir()
        else:
            (out / f"{split}.jsonl").unlink(missing_ok=True)


def _count(p: Path) -> int:
    if p.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(p).metadata.num_rows
    import gzip

    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        return sum(1 for _ in f)


def _write_json(path: Path, data: Any) -> None:
    from jaft.fsutil import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _report(t: dict[str, Any], config: JapaneseDataConfig, info: dict[str, Any]) -> dict[str, Any]:
    c = t["counts"]
    # Every input in input order, one without a record (only blank lines) with zeros.
    listed = dict.fromkeys([*info.get("sources", []), *info.get("validation_sources", []), *t["per_source"]])
    per_source = {src: source_counts(t["per_source"].get(src, {})) for src in listed}
    seconds = info.pop("seconds", None)
    report: dict[str, Any] = {
        **{k: c.get(k, 0) for k in ("input_records", "kept", "rejected", "duplicates_removed", "filtered",
                                    "augmented", "augmented_records", "train", "validation")},
        "reasons": dict(sorted(t["reasons"].items())),
        "variants": dict(sorted(t["variants"].items())),
        "kinds": dict(sorted(t["kinds"].items())),
        "per_source": per_source,
        "answer_rules": dict(sorted(t["answer_rules"].items())),
        **info,
        "augment": config.augment,
        "augment_limit": config.augment_sample_limit(),
        "val_ratio": config.val_ratio,
        "seed": config.seed,
        "output_format": config.output_format,
    }
    if seconds:
        report["seconds"] = round(seconds, 3)
        if not info.get("resumed"):  # a resumed run's seconds do not cover the earlier run's work
            report["records_per_second"] = round(report["input_records"] / seconds, 1)
    assert report["input_records"] == report["kept"] + report["rejected"] + report["duplicates_removed"] + report["filtered"]
    assert report["train"] + report["validation"] == report["kept"] + report["augmented"]
    return report


def _write_run_file(out: Path, config: JapaneseDataConfig, report: dict[str, Any]) -> None:
    from jaft.config import RunConfig
    from jaft.rundir import RunDir

    resolved = config.model_copy(update={"format": report["format"], "path": str(out)})
    RunDir(out).write_run_file(
        stage="data",
        config=RunConfig(data=resolved),
        applied={"strict": report["strict"], "bundled_samples": report["bundled_samples"],
                 "augment_limit": report["augment_limit"], "shards": report["shards"],
                 "executor": report["executor"]},
        extra={"data_report": {k: report[k] for k in ("input_records", "kept", "train", "validation")}},
    )


def is_sharded(path: str | Path) -> bool:
    """Whether ``path`` holds sharded prepared data (``manifest.json`` and ``report.json``)."""
    p = Path(path)
    return (p / MANIFEST).is_file() and (p / REPORT).is_file()


def read_sharded(path: str | Path) -> tuple[list, list]:
    """``(train, validation)`` :class:`Record` lists of a sharded prepared directory (via its manifest)."""
    import gzip

    from jaft.data.records import Record

    p = Path(path)
    manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
    out: dict[str, list] = {"train": [], "validation": []}
    for split in out:
        for entry in manifest["files"][split]:
            f = p / entry["path"]
            if f.suffix == ".parquet":
                import pyarrow.parquet as pq

                for row in pq.read_table(f).to_pylist():
                    row = {k: v for k, v in row.items() if v is not None}
                    row["meta"] = json.loads(row.get("meta") or "{}") or {}
                    out[split].append(Record.model_validate(row))
                continue
            opener = gzip.open if f.suffix == ".gz" else open
            with opener(f, "rt", encoding="utf-8") as fh:
                out[split].extend(Record.model_validate_json(line) for line in fh if line.strip())
    return out["train"], out["validation"]
