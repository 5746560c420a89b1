"""What llama.cpp's CPU extra buffer types (weight repacking) buy for serving, and what turning them off costs.

jaft turns them off where the CPU has AMX (their AMX path crashes on K-quants, jaft issue 11) and
always for verification. This measures, on this machine, a serve-like workload on a Q4_K_M GGUF of
a random-weight model with Qwen2-0.5B's config: load time, prompt processing (256 tokens, as in a
RAG prompt) and greedy decoding (64 tokens, batch 1), with ``use_extra_bufts`` on and off, each in
a fresh process, alternating, best of five. llama.cpp runs on one thread and speed is counted per
CPU-second of the process (``time.process_time``) as well as per wall-clock second: on a shared
machine the wall clock measures the neighbours. The same logits are compared (max |difference|).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QWEN2_05B = dict(  # Qwen/Qwen2-0.5B config.json
    hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
    num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rms_norm_eps=1e-6,
    tie_word_embeddings=True, rope_theta=1000000.0,
)
PROMPT, DECODE, REPEATS = 256, 64, 5

_CHILD = r"""
import json, sys, time
import numpy as np
path, extra = sys.argv[1], sys.argv[2] == "1"
import llama_cpp
from jaft.export.native import model_params_override
from jaft.export.verify import quiet_llama_logs
quiet_llama_logs(llama_cpp)
t = time.perf_counter()
with model_params_override(llama_cpp, use_extra_bufts=extra):
    llm = llama_cpp.Llama(model_path=path, n_ctx=512, n_batch=512, n_threads=1, n_threads_batch=1,
                          verbose=False, seed=0)
load = time.perf_counter() - t
ids = [(i * 7919) % 150000 + 100 for i in range(PROMPT_N)]
t, c = time.perf_counter(), time.process_time()
llm.eval(ids)
prefill, prefill_cpu = time.perf_counter() - t, time.process_time() - c
first = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
t, c = time.perf_counter(), time.process_time()
for _ in range(DECODE_N):
    tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
    llm.eval([tok])
decode, decode_cpu = time.perf_counter() - t, time.process_time() - c
np.save(sys.argv[3], first)
print(json.dumps({"load": load, "prefill": prefill, "decode": decode, "prefill_cpu": prefill_cpu,
                  "decode_cpu": decode_cpu}))
""".replace("PROMPT_N", str(PROMPT)).replace("DECODE_N", str(DECODE))


def _build(tmp: Path) -> Path:
    cached = os.environ.get("BENCH_LLAMA_CPU_GGUF")  # reuse a Q4_K_M built by an earlier run
    if cached and Path(cached).is_file():
        return Path(cached)
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from jaft.export.gguf import convert_to_gguf
    from jaft.export.quantize import quantize
    from jaft.models.tiny import build_qwen25_tokenizer

    model_dir = tmp / "model"
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(Qwen2Config(**QWEN2_05B), dtype=torch.bfloat16)
    model.save_pretrained(model_dir)
    build_qwen25_tokenizer().save_pretrained(model_dir)
    del model
    f16 = convert_to_gguf(model_dir, tmp / "model-f16.gguf").path
    return quantize(f16, tmp / "model-q4_k_m.gguf", "q4_k_m").path


def _measure(path: Path, extra: bool, logits: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path), "1" if extra else "0", str(logits)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _pct(x: float) -> str:
    return "±0%" if abs(x) < 0.005 else f"{x:+.0%}"


def run() -> str:
    import numpy as np

    from jaft.hardware import cpu_features

    with tempfile.TemporaryDirectory(prefix="jaft-bench-llama-") as d:
        tmp = Path(d)
        q4 = _build(tmp)
        best: dict[bool, dict[str, float]] = {}
        for _ in range(REPEATS):
            for extra in (True, False):
                r = _measure(q4, extra, tmp / f"logits-{int(extra)}.npy")
                b = best.setdefault(extra, r)
                for k, v in r.items():
                    b[k] = min(b[k], v)
        diff = float(np.abs(np.load(tmp / "logits-1.npy") - np.load(tmp / "logits-0.npy")).max())
        size = q4.stat().st_size
    feats = cpu_features()
    rows = []
    for extra in (True, False):
        b = best[extra]
        rows.append(f"| {'on (repacked)' if extra else 'off'} | {b['load']:.2f} | {PROMPT / b['prefill_cpu']:.1f} | "
                    f"{DECODE / b['decode_cpu']:.1f} | {PROMPT / b['prefill']:.1f} | {DECODE / b['decode']:.1f} |")
    on, off = best[True], best[False]
    return "\n".join([
        "## llama.cpp extra buffer types (weight repacking) on a Q4_K_M GGUF (CPU)",
        "",
        f"`bench/llama_cpu.py`: random-weight Qwen2-0.5B-config model, Q4_K_M ({size / 1e6:.0f} MB), "
        f"{PROMPT}-token prompt then {DECODE} greedy tokens, batch 1, one llama.cpp thread; fresh process per "
        f"run, best of {REPEATS}. "
        f"CPU: {feats['model'] or '?'}, AVX2 {feats['avx2']}, AVX-512 {feats['avx512']}, AMX {feats['amx']}.",
        "",
        "| extra buffer types | load s | prompt tokens/CPU-s | decode tokens/CPU-s | prompt tokens/s (wall) | "
        "decode tokens/s (wall) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Turning them off changes prompt speed by {_pct(on['prefill_cpu'] / off['prefill_cpu'] - 1)} and decode "
        f"speed by {_pct(on['decode_cpu'] / off['decode_cpu'] - 1)} per CPU-second here "
        f"(load time {_pct(off['load'] / on['load'] - 1)}); "
        f"the last-position logits differ by at most {diff:.2e}.",
    ])


if __name__ == "__main__":
    print(run())
