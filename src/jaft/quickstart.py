"""The main job end to end on a built-in tiny model and the bundled Japanese data.

tiny model → data (development mode, with augmentation) → eval → SFT → eval → GRPO → eval → export
(merge → GGUF F16 → Q4_K_M → verify → Modelfile) → a one-screen summary. No GPU, no network.

Every stage records itself in ``OUT/quickstart.json`` when it finishes; a re-run reuses finished
stages whose outputs are still there. The tiny model starts from random weights, so SFT is full
fine-tuning (LoRA adapts what a model already knows; a random model knows nothing); GRPO then trains
a LoRA adapter on the SFT model, which export merges, as it would for a real model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from jaft.fsutil import write_json

STAGES = ("tiny model", "data", "eval (base)", "SFT", "eval (SFT)", "GRPO", "eval (GRPO)", "export")
EVAL_LIMIT = 50
EVAL_TOKENS = 48


class Quickstart:
    def __init__(self, out: Path, console: Console) -> None:
        self.out = out
        self.console = console
        self.state_file = out / "quickstart.json"
        self.state: dict[str, Any] = {}
        if self.state_file.is_file():
            try:
                self.state = json.loads(self.state_file.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                self.state = {}

    def stage(self, index: int, name: str, output: Path, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        done = self.state.get(name)
        head = f"[bold cyan][{index}/{len(STAGES)}] {name}[/]"
        if done and output.exists():
            self.console.print(f"{head} [dim]reused ({output})[/]")
            return done
        self.console.rule(head, align="left")
        t = time.perf_counter()
        result = fn()
        result |= {"output": str(output), "seconds": round(time.perf_counter() - t, 1)}
        self.state[name] = result
        write_json(self.state_file, self.state)
        return result


def run_quickstart(out: str | Path = "jaft-quickstart", console: Console | None = None) -> dict[str, Any]:
    console = console or Console(stderr=True)
    from jaft.train.common import quiet_libraries

    quiet_libraries()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    qs = Quickstart(out, console)
    t_all = time.perf_counter()
    from jaft.config.grpo import DEFAULT_SYSTEM_PROMPT

    model_dir, data_dir = out / "tiny-model", out / "data"
    sft_dir, grpo_dir, export_dir = out / "runs" / "sft", out / "runs" / "grpo", out / "export"

    def make_model() -> dict[str, Any]:
        from jaft.models.tiny import init_tiny

        init_tiny(model_dir, "qwen2", "bpe", seed=0)
        return {"note": "Qwen2 architecture, 2 layers, random weights, Japanese BPE, R1 chat template"}

    def make_data() -> dict[str, Any]:
        from jaft.config import JapaneseDataConfig
        from jaft.data.prepare import prepare
        from jaft.data.samples import math_train_path, write_samples

        write_samples(out / "samples")
        report = prepare([math_train_path()], data_dir, JapaneseDataConfig(mode="development", augment=1),
                         console=console)
        return {"note": f"{report['input_records']} math problems → {report['train']} train / "
                        f"{report['validation']} validation ({report['augmented']} linguistic variants added)"}

    def evaluate(model: Path, label: str) -> Callable[[], dict[str, Any]]:
        def fn() -> dict[str, Any]:
            from jaft.eval.run import run_eval

            r = run_eval(model, "math", limit=EVAL_LIMIT, max_new_tokens=EVAL_TOKENS, batch_size=25,
                         out=str(out / f"eval-{label}.jsonl"), system_prompt=DEFAULT_SYSTEM_PROMPT, console=console)
            return {k: r[k] for k in ("accuracy", "format_rate", "language_consistency", "n")} | {
                "note": f"accuracy {r['accuracy']:.0%}, format {r['format_rate']:.0%}, "
                        f"Japanese reasoning {r['language_consistency']:.0%}"}
        return fn

    def sft() -> dict[str, Any]:
        from jaft.config import load_run_config
        from jaft.train.sft import run_sft

        cfg = load_run_config(sets=[
            f"model.model_name={model_dir}", f"data.path={data_dir}", f"train.output_dir={sft_dir}",
            "train.method=full", "train.epochs=3", "train.learning_rate=1e-3", "train.batch_size=8",
            "train.gradient_accumulation=1", "train.logging_steps=10", "train.save_steps=1000",
            "train.max_seq_length=256",
        ])
        cfg.train.system_prompt = DEFAULT_SYSTEM_PROMPT
        run = run_sft(cfg, console=console)
        losses = [r["loss"] for r in run.read_metrics() if "loss" in r]
        return {"note": f"full fine-tuning, loss {losses[0]:.2f} → {losses[-1]:.2f}"}

    def grpo() -> dict[str, Any]:
        from jaft.config import load_run_config
        from jaft.train.grpo import run_grpo

        cfg = load_run_config(sets=[
            f"data.path={data_dir}", f"train.output_dir={grpo_dir}", "train.method=lora",
            "train.logging_steps=2", "train.save_steps=1000", "lora.r=16", "lora.alpha=32",
            "grpo.max_steps=12", "grpo.batch_size=8", "grpo.num_generations=4", "grpo.learning_rate=5e-5",
            "grpo.max_completion_length=48", "grpo.initial_temperature=1.0", "grpo.final_temperature=0.3",
        ])
        run = run_grpo(cfg, from_run=str(sft_dir), console=console)
        rows = [r for r in run.read_metrics() if "reward" in r]
        return {"note": f"LoRA on the SFT model, {len(rows)} logged steps, mean reward "
                        f"{rows[0]['reward']:.2f} → {rows[-1]['reward']:.2f} (std {rows[-1]['reward_std']:.2f})"}

    def export() -> dict[str, Any]:
        from jaft.export.pipeline import Display, ExportRequest, run_export

        report = run_export(ExportRequest(out=export_dir, run=str(grpo_dir), quants=["q4_k_m"],
                                          ollama_name="jaft-quickstart"), display=Display())
        return {"note": _export_note(report), "report": str(export_dir / "export_report.json")}

    results = {
        "tiny model": qs.stage(1, "tiny model", model_dir, make_model),
        "data": qs.stage(2, "data", data_dir / "train.jsonl", make_data),
        "eval (base)": qs.stage(3, "eval (base)", out / "eval-base.jsonl", evaluate(model_dir, "base")),
        "SFT": qs.stage(4, "SFT", sft_dir / "model", sft),
        "eval (SFT)": qs.stage(5, "eval (SFT)", out / "eval-sft.jsonl", evaluate(sft_dir, "sft")),
        "GRPO": qs.stage(6, "GRPO", grpo_dir / "adapter", grpo),
        "eval (GRPO)": qs.stage(7, "eval (GRPO)", out / "eval-grpo.jsonl", evaluate(grpo_dir, "grpo")),
        "export": qs.stage(8, "export", export_dir / "export_report.json", export),
    }
    total = time.perf_counter() - t_all
    summary(console, results, total)
    return {"stages": results, "seconds": round(total, 1)}


def _export_note(report: dict[str, Any]) -> str:
    stages = report.get("stages", {})
    files = (stages.get("verify") or {}).get("files") or {}
    figures = [f"{name} top-1 {v['top1_agreement']:.0%} vs HF" for name, v in files.items()
               if isinstance(v, dict) and "top1_agreement" in v]
    sizes = [f"{Path(q['path']).name} {q['size_bytes'] / 1e6:.1f} MB"
             for q in (stages.get("quantize") or {}).values() if isinstance(q, dict) and "path" in q]
    return "; ".join([*sizes, *figures]) or "GGUF F16 + Q4_K_M + Modelfile"


def summary(console: Console, results: dict[str, dict[str, Any]], total: float) -> None:
    from rich.table import Table

    table = Table(title=f"jaft quickstart: {total:.0f} s", show_lines=False)
    for col in ("stage", "took", "result", "where"):
        table.add_column(col)
    for name, r in results.items():
        table.add_row(name, f"{r.get('seconds', 0):.0f} s", r.get("note", ""), r.get("output", ""))
    console.print(table)
    m = Table(title="math (held-out bundled problems)")
    for col in ("model", "accuracy", "format", "Japanese reasoning"):
        m.add_column(col)
    for label in ("eval (base)", "eval (SFT)", "eval (GRPO)"):
        r = results[label]
        m.add_row(label[6:-1], f"{r['accuracy']:.0%}", f"{r['format_rate']:.0%}", f"{r['language_consistency']:.0%}")
    console.print(m)
