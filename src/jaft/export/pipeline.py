"""The export pipeline: preflight, then merge → gguf → quantize → verify → ollama, each reused when valid.

Output directory layout::

    OUT/merged/               merged Hugging Face model (only when there is an adapter)
    OUT/model-f16.gguf        GGUF F16
    OUT/model-<quant>.gguf    one per requested quantization
    OUT/verify.json           fidelity against the HF model
    OUT/Modelfile             Ollama
    OUT/export_report.json    what each stage did, with timings, sizes and verification figures
    OUT/jaft_run.yaml         the run record (stage: export)

Every stage writes under a temporary name and records a marker (``state.record``) after its output
is complete; a later run reuses an output only if the marker matches the current inputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaft.errors import JaftError
from jaft.export import state
from jaft.export.source import ExportSource, check_gguf_supported, resolve_source

STAGES = ("merge", "gguf", "quantize", "verify", "ollama")
# What each subcommand needs done before it (a stage's inputs are the previous stages' outputs).
REQUIRES = {
    "merge": ("merge",),
    "gguf": ("merge", "gguf"),
    "quantize": ("merge", "gguf", "quantize"),
    "verify": ("merge", "gguf", "quantize", "verify"),
    "ollama": ("merge", "gguf", "quantize", "ollama"),
    "all": STAGES,
}
REPORT = "export_report.json"


@dataclass
class ExportRequest:
    out: Path
    run: str | None = None
    model: str | None = None
    adapter: str | None = None
    quants: list[str] = field(default_factory=lambda: ["q4_k_m"])
    ollama_name: str | None = None
    verify: bool = True
    merge_dtype: str = "float16"
    min_top1: float = 0.99
    offload_folder: str | None = None
    pre: str | None = None
    threads: int | None = None


class Display:
    """Rich progress: one bar per stage with elapsed and remaining time; plain lines when not a TTY."""

    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.console = Console(highlight=False, soft_wrap=True, quiet=quiet)

    def log(self, msg: str) -> None:
        self.console.print(msg, markup=False)

    @contextmanager
    def task(self, label: str, total: float | None, estimate_s: float | None = None) -> Iterator[Callable[[int], None]]:
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        hint = f" (est. {_fmt_s(estimate_s)})" if estimate_s else ""
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                      TextColumn("left"), TimeRemainingColumn(), console=self.console, transient=False) as p:
            tid = p.add_task(label + hint, total=total)
            yield lambda n: p.advance(tid, n)
            p.update(tid, completed=total) if total else None


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400 else f"{s / 3600:.1f} h"


def _versions() -> dict[str, Any]:
    from importlib import metadata

    out = {}
    for pkg in ("gguf", "llama-cpp-python", "transformers", "peft"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _llama_cpp_settings() -> dict[str, Any]:
    """What jaft tells llama.cpp on this CPU (recorded in the report; see hardware.llama_extra_bufts)."""
    from jaft.hardware import cpu_features, llama_extra_bufts

    serve_on, why = llama_extra_bufts()
    feats = cpu_features()
    return {
        "cpu": {k: feats[k] for k in ("model", "avx2", "avx512", "amx", "amx_flags")},
        "verify_extra_buffer_types": False,
        "verify_extra_buffer_types_why": "off: a few hundred positions gain nothing from repacking at load",
        "serve_extra_buffer_types": serve_on, "serve_extra_buffer_types_why": why,
        "crash_containment": "quantize, verify and tokenization run llama.cpp in a child process",
    }


class Pipeline:
    def __init__(self, req: ExportRequest, display: Display | None = None) -> None:
        self.req = req
        self.out = Path(req.out)
        self.ui = display or Display()
        self.report: dict[str, Any] = {}
        self.source: ExportSource | None = None

    # Paths ----------------------------------------------------------------------------------------
    @property
    def merged_dir(self) -> Path:
        return self.out / "merged"

    @property
    def f16_path(self) -> Path:
        return self.out / "model-f16.gguf"

    def quant_path(self, q: str) -> Path:
        return self.f16_path if q == "f16" else self.out / f"model-{q}.gguf"

    @property
    def hf_dir(self) -> Path:
        assert self.source is not None
        return self.merged_dir if self.source.adapter_dir else self.source.model_dir

    @property
    def tokenizer_dir(self) -> Path:
        return self.hf_dir

    # Orchestration --------------------------------------------------------------------------------
    def run(self, target: str = "all") -> dict[str, Any]:
        from jaft.config import RunConfig

        req = self.req
        stages = [s for s in REQUIRES[target] if s != "verify" or req.verify or target == "verify"]
        for q in req.quants:
            from jaft.export.quantize import FTYPES

            if q != "f16" and q not in FTYPES:
                raise JaftError(f"--quant {q}: choose from f16, {', '.join(sorted(FTYPES))}")
        if "ollama" in stages and req.ollama_name:
            from jaft.export.ollama import valid_name

            valid_name(req.ollama_name)
        cfg = RunConfig()
        cfg.export.quant = [q for q in req.quants]  # type: ignore[misc]
        cfg.export.merge_dtype = req.merge_dtype  # type: ignore[assignment]
        cfg.export.verify = req.verify
        cfg.export.min_top1_agreement = req.min_top1
        cfg.export.ollama_name = req.ollama_name
        cfg.export.offload_folder = req.offload_folder
        self.source = src = resolve_source(req.run, req.model, req.adapter, cfg)
        if not src.adapter_dir:
            stages = [s for s in stages if s != "merge"]
        if any(s in stages for s in ("gguf", "quantize", "verify", "ollama")):
            check_gguf_supported(src.model_type, src.model_dir)
        if any(s in stages for s in ("quantize", "verify", "ollama")) and any(q != "f16" for q in req.quants):
            from jaft.export.quantize import require_llama_cpp

            require_llama_cpp()
        t0 = time.perf_counter()
        with state.export_lock(self.out) as cleaned:
            self.report = self._load_report()
            # Entries of stages this run does not touch stay, flagged: they describe earlier outputs.
            earlier = {k: {**v, "from_earlier_run": True} for k, v in self.report.get("stages", {}).items()
                       if k not in stages and isinstance(v, dict)}
            self.report.update({
                "source": src.to_dict(), "target": target, "quants": req.quants,
                "versions": _versions(), "llama_cpp": _llama_cpp_settings(), "stages": earlier,
            })
            if cleaned:
                self.ui.log(f"removed {len(cleaned)} partial file(s) left by an interrupted export: {', '.join(cleaned)}")
            self._preflight(stages)
            for stage in stages:
                getattr(self, f"_stage_{stage}")()
            self.report["seconds"] = round(time.perf_counter() - t0, 2)
            self.report["outputs"] = self._outputs()
            self._write_report()
            from jaft.rundir import RunDir

            RunDir(self.out).write_run_file(
                stage="export", config=src.config,
                applied={"stages": stages, "merge": "16-bit base reload" if src.trained_4bit else None},
                extra={"source": src.to_dict(), "report": REPORT},
            )
        failures = (self.report["stages"].get("verify") or {}).get("failures")
        if "verify" in stages and failures:
            raise JaftError(f"verification failed: {failures[0]} (details in {self.out / REPORT})")
        return self.report

    def _load_report(self) -> dict[str, Any]:
        import json

        p = self.out / REPORT
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _write_report(self) -> None:
        from jaft.fsutil import write_json

        write_json(self.out / REPORT, self.report)

    def _outputs(self) -> dict[str, Any]:
        files = {}
        for p in sorted(self.out.iterdir()):
            if p.name.startswith("."):
                continue
            if p.is_file():
                files[p.name] = p.stat().st_size
            elif p.is_dir():
                files[p.name + "/"] = sum(f.stat().st_size for f in p.iterdir() if f.is_file())
        return files

    def _set(self, stage: str, data: dict[str, Any]) -> None:
        self.report["stages"][stage] = data
        self._write_report()

    # Preflight ------------------------------------------------------------------------------------
    def _preflight(self, stages: list[str]) -> None:
        from jaft.export.merge import plan_shard_merge
        from jaft.export.preflight import ModelSize, check, estimate

        src = self.source
        assert src is not None
        size = ModelSize.from_dir(src.model_dir)
        todo: list[str] = []
        for s in stages:  # a rebuilt stage invalidates every stage that reads its output
            if (todo and todo[-1] in ("merge", "gguf")) or not self._reusable(s):
                todo.append(s)
        adapter_bytes = 0
        peft = False
        if src.adapter_dir and "merge" in todo:
            adapter_bytes = sum(f.stat().st_size for f in src.adapter_dir.iterdir() if f.is_file())
            from safetensors import safe_open

            from jaft.export.source import weight_files

            keys: set[str] = set()
            for shard in weight_files(src.model_dir):
                with safe_open(str(shard), framework="pt") as f:
                    keys.update(f.keys())
            peft = isinstance(plan_shard_merge(src.adapter_dir, keys), str)
        quants = [q for q in self.req.quants
                  if q != "f16" and ("gguf" in todo or ("quantize" in todo and not self._quant_reusable(q)))]
        needs = estimate(size, todo, quants=quants, adapter_bytes=adapter_bytes, peft_merge=peft,
                         offload=bool(self.req.offload_folder))
        pf = check(needs, self.out)
        pf.notes.append(
            f"{size.parameters:,} parameters; reused: {', '.join(s for s in stages if s not in todo) or 'none'}"
        )
        self.report["preflight"] = pf.to_dict()
        self.ui.log(
            f"export {src.name}: {', '.join(stages)} — needs {pf.disk_needed / 1e9:.2f} GB disk "
            f"(free {pf.disk_free / 1e9:.1f}), {pf.ram_needed / 1e9:.2f} GB RAM (available "
            f"{pf.ram_available / 1e9:.1f}); estimated {_fmt_s(pf.seconds)}"
        )
        self._estimates = {n.stage: n.seconds for n in needs}

    def _reusable(self, stage: str) -> bool:
        try:
            return self._reusable_unchecked(stage)
        except FileNotFoundError:
            return False

    def _reusable_unchecked(self, stage: str) -> bool:
        if stage == "merge":
            return self.source is not None and state.reusable(self.merged_dir, "merge", self._merge_inputs()) is not None
        if stage == "gguf":
            return state.reusable(self.f16_path, "gguf", self._gguf_inputs()) is not None
        if stage == "quantize":
            return all(self._quant_reusable(q) for q in self.req.quants)
        return False

    def _quant_reusable(self, q: str) -> bool:
        if q == "f16":
            return True
        if not self.f16_path.exists():
            return False
        return state.reusable(self.quant_path(q), "quantize", self._quant_inputs(q)) is not None

    # Stage inputs ---------------------------------------------------------------------------------
    def _merge_inputs(self) -> dict[str, Any]:
        src = self.source
        assert src is not None and src.adapter_dir is not None
        return {"base": state.fingerprint_dir(src.model_dir), "adapter": state.fingerprint_dir(src.adapter_dir),
                "dtype": self.req.merge_dtype}

    def _gguf_inputs(self) -> dict[str, Any]:
        return {"model": state.fingerprint_dir(self.hf_dir), "pre": self.req.pre,
                "gguf": _versions()["gguf"]}

    def _quant_inputs(self, q: str) -> dict[str, Any]:
        return {"f16": state.fingerprint_file(self.f16_path), "type": q,
                "llama_cpp": _versions()["llama-cpp-python"]}

    # Stages ---------------------------------------------------------------------------------------
    def _reuse(self, stage: str, output: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
        """The recorded result of a still-valid ``output``; otherwise drop its marker and return None."""
        m = state.reusable(output, stage, inputs)
        if m is None or (stage == "verify" and not (m.get("result") or {}).get("passed")):
            state.forget(output)
            return None
        self.ui.log(f"{stage}: reusing {output.name} (inputs unchanged)")
        return {**m.get("result", {}), "status": "reused"}

    def _done(self, stage: str, output: Path, inputs: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        state.record(output, stage, inputs, result=result)
        return {**result, "status": "done"}

    def _stage_merge(self) -> None:
        from jaft.export.merge import merge_adapter
        from jaft.export.preflight import ModelSize

        src = self.source
        assert src is not None and src.adapter_dir is not None
        inputs = self._merge_inputs()
        if (reused := self._reuse("merge", self.merged_dir, inputs)) is not None:
            self._set("merge", reused)
            return
        note = ("QLoRA adapter: base reloaded in 16-bit from its safetensors, never merged into 4-bit weights"
                if src.trained_4bit else "")
        if note:
            self.ui.log(f"merge: {note}")
        size = ModelSize.from_dir(src.model_dir)
        with state.disk_errors(self.merged_dir, 2 * size.parameters), \
                self.ui.task("merge (LoRA → 16-bit)", size.file_bytes, self._estimates.get("merge")) as adv:
            r = merge_adapter(src.model_dir, src.adapter_dir, self.merged_dir, dtype=self.req.merge_dtype,
                              tokenizer_dir=src.tokenizer_dir, offload_folder=self.req.offload_folder, progress=adv)
        result = r.to_dict() | {"trained_4bit": src.trained_4bit, "base": src.base_ref}
        if note:
            result["notes"] = [*result["notes"], note]
        self._set("merge", self._done("merge", self.merged_dir, inputs, result))

    def _stage_gguf(self) -> None:
        from jaft.export.gguf import convert_to_gguf
        from jaft.export.preflight import ModelSize

        src = self.source
        assert src is not None
        inputs = self._gguf_inputs()
        if (reused := self._reuse("gguf", self.f16_path, inputs)) is not None:
            self._set("gguf", reused)
            return
        size = ModelSize.from_dir(self.hf_dir)
        with self.ui.task("GGUF F16", 2 * size.parameters, self._estimates.get("gguf")) as adv:
            r = convert_to_gguf(self.hf_dir, self.f16_path, tokenizer_dir=self.tokenizer_dir, name=src.name,
                                pre=self.req.pre, progress=adv)
        self._set("gguf", self._done("gguf", self.f16_path, inputs, r.to_dict()))

    def _stage_quantize(self) -> None:
        from jaft.export.gguf import read_metadata
        from jaft.export.quantize import quantize

        results: dict[str, Any] = {}
        for q in self.req.quants:
            if q == "f16":
                results[q] = {"path": str(self.f16_path), "size_bytes": self.f16_path.stat().st_size, "status": "f16"}
                continue
            out, inputs = self.quant_path(q), self._quant_inputs(q)
            if (reused := self._reuse("quantize", out, inputs)) is not None:
                results[q] = reused
                continue
            n_tensors = int(read_metadata(self.f16_path)["_n_tensors"])
            with self.ui.task(f"quantize {q} (llama.cpp)", n_tensors, self._estimates.get(f"quantize:{q}")) as adv:
                r = quantize(self.f16_path, out, q, threads=self.req.threads, progress=adv)
            results[q] = self._done("quantize", out, inputs, r.to_dict())
        self._set("quantize", results)

    def _stage_verify(self) -> None:
        from jaft.export.verify import verify
        from jaft.fsutil import write_json

        files = {"f16": self.f16_path} | {q: self.quant_path(q) for q in self.req.quants if q != "f16"}
        out = self.out / "verify.json"
        inputs = {"model": state.fingerprint_dir(self.hf_dir),
                  "files": {k: state.fingerprint_file(v) for k, v in files.items()},
                  "min_top1": self.req.min_top1}
        if (reused := self._reuse("verify", out, inputs)) is not None:
            self._set("verify", reused)
            return
        with self.ui.task("verify vs HF logits", len(files) + 1, self._estimates.get("verify")) as adv:
            r = verify(self.hf_dir, self.tokenizer_dir, files, min_top1=self.req.min_top1, progress=adv,
                       log=self.ui.log)
        write_json(out, r.to_dict())
        self._set("verify", self._done("verify", out, inputs, r.to_dict()))

    def _stage_ollama(self) -> None:
        from jaft.export.ollama import ollama_create, write_modelfile

        src = self.source
        assert src is not None
        q = next((q for q in ("q4_k_m", *self.req.quants) if q in self.req.quants), "f16")
        gguf = self.quant_path(q)
        name = self.req.ollama_name or _default_name(src.name, q)
        out = self.out / "Modelfile"
        # The run's instruction (what training and evaluation asked with) is deployed as SYSTEM.
        system = None
        if src.run_dir is not None:
            from jaft.models.trained import resolve_trained

            system = resolve_trained(src.run_dir).run_system_prompt
        inputs = {"gguf": state.fingerprint_file(gguf), "name": name, "create": bool(self.req.ollama_name),
                  "system": system}
        if (reused := self._reuse("ollama", out, inputs)) is not None:
            self.ui.log(f"ollama: {reused['command']}")
            self._set("ollama", reused)
            return
        r = write_modelfile(gguf, out, name=name, source=src.name, system=system)
        if self.req.ollama_name:
            ollama_create(r, name)
        if r.created is None:
            self.ui.log(f"ollama: not on PATH; register the model with:\n  {r.command}")
        elif r.created:
            self.ui.log(f"ollama: created {name}")
        else:
            self.ui.log(f"ollama: `ollama create` failed ({(r.ollama_output or '')[-200:]}); run it yourself:\n  {r.command}")
        result = r.to_dict() | {"name": name, "gguf": gguf.name}
        self._set("ollama", self._done("ollama", out, inputs, result))


def _default_name(source_name: str, quant: str) -> str:
    import re

    slug = re.sub(r"[^a-z0-9._-]+", "-", source_name.lower()).strip("-._") or "model"
    return f"{slug}:{quant}"


def run_export(req: ExportRequest, target: str = "all", display: Display | None = None) -> dict[str, Any]:
    """Run ``target`` ('all' or one stage with what it needs) and return the export report."""
    return Pipeline(req, display).run(target)
