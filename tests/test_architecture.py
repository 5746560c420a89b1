"""The floors of docs/architecture.md, enforced: no import runs back up a floor, no package cycles."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "jaft"

FLOORS = {
    # ground
    "errors": 0, "fsutil": 0, "config": 0, "registry": 0, "hardware": 0, "rundir": 0, "japanese": 0,
    # data and pure logic
    "data": 1, "rewards": 1, "planner": 1, "selection": 1,
    "models": 2,
    "train": 3, "eval": 3, "tokenizer": 3,
    "export": 4,
    "cli": 5, "quickstart": 5, "studio": 5, "__main__": 5,
}


def unit(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py") if rel.parts[0] != "__init__.py" else "__init__"


def jaft_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jaft."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "jaft":
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("jaft."))
    return out


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        src = unit(path)
        graph.setdefault(src, set()).update(t for t in jaft_imports(path) if t != src and t != "__version__")
    return graph


def test_every_unit_has_a_floor():
    assert set(edges()) - {"__init__"} <= set(FLOORS)


def test_no_import_runs_up_a_floor():
    bad = [f"{s} (floor {FLOORS[s]}) imports {t} (floor {FLOORS[t]})"
           for s, targets in edges().items() if s in FLOORS for t in targets if FLOORS.get(t, 0) > FLOORS[s]]
    assert not bad, bad


def test_no_two_units_import_each_other():
    g = edges()
    pairs = sorted({tuple(sorted((a, b))) for a, ts in g.items() for b in ts if a in g.get(b, set())})
    assert not pairs, pairs
