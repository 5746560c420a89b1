"""Run benchmarks and update their sections of docs/benchmarks.md.

    python -m bench              # every benchmark
    python -m bench data export  # only these (their sections are replaced, the others kept)
    python -m bench gpu --report FILE   # the GPU section from a lent GPU's results (bench/gpu_run.sh)

Each benchmark is a module ``bench/<name>.py`` with ``run() -> str`` returning a Markdown section
whose figures were measured side by side in that one run.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import platform
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Produced by `python -m bench` (or `make bench`); each section is replaced when its benchmark runs.
Every figure is measured side by side with its baseline in the same run, on the machine named in
the section. GPU figures come from `bench/gpu.py` on a lent GPU machine, with date and device.
"""


def available() -> list[str]:
    skip = {"__main__", "common", "gpu"}
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                  if not m.name.startswith("_") and m.name not in skip)


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def update(sections: dict[str, str]) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else HEADER
    for name, body in sections.items():
        block = f"<!-- bench:{name} -->\n{body.strip()}\n<!-- /bench:{name} -->"
        pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _m, b=block: b, text)
        else:
            text = text.rstrip() + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    tmp = DOC.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(DOC)


def main(argv: list[str]) -> int:
    if argv[:1] == ["gpu"] and "--report" in argv:
        from bench.gpu import read_results, report

        files = [Path(f) for f in argv[argv.index("--report") + 1:]]
        if not files:
            print("usage: python -m bench gpu --report RESULTS.jsonl [MORE.jsonl ...]", file=sys.stderr)
            return 2
        body = report([row for f in files for row in read_results(f)])
        update({"gpu": body})
        print(body, flush=True)
        return 0
    names = argv or available()
    unknown = [n for n in names if n not in available() and n != "gpu"]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    for name in names:
        mod = importlib.import_module(f"bench.{name}")
        print(f"== bench {name} ==", flush=True)
        t = time.perf_counter()
        body = mod.run()
        stamp = f"\n\n_Measured {dt.date.today().isoformat()} on {machine()}; took {time.perf_counter() - t:.0f} s._"
        update({name: body + stamp})
        print(body, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
