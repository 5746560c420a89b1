"""Helpers shared by benchmarks: the shared corpus, subprocess measurement, peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "ja-debian-docs.txt"


def corpus_lines(limit: int | None = None) -> list[str]:
    """Paragraphs of the shared Japanese corpus; empty when it is not there (benchmarks then skip)."""
    if not CORPUS.is_file():
        return []
    out = []
    with CORPUS.open(encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(line)
                if limit and len(out) >= limit:
                    break
    return out


def run_worker(module: str, *args: str, timeout: float = 1800) -> dict:
    """Run ``python -m module args`` in a fresh process (separate peak memory); it prints one JSON line."""
    r = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT)
    if r.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
