#!/usr/bin/env bash
# One command for a lent GPU machine: SFT at equal work, jaft vs transformers + PEFT (bench/gpu.py).
#
# Here, once (needs ../shared):        bench/gpu_run.sh --prepare
#   → .whl/ (wheels the GPU image lacks) and .bench-gpu/tokens.json (tokenized corpus batches), both ignored.
# On the GPU, through the device tool (carry [".whl", ".bench-gpu"], timeout_s 600):
#                                      bash bench/gpu_run.sh core     # ≤ 9 min: jaft vs both baselines, LoRA
#                                      bash bench/gpu_run.sh more     # the rest: 8B mix4096, levers, QLoRA
#                                      bash bench/gpu_run.sh grpo     # ~2 min: GRPO generation backends, time split
# Each writes JSON lines to $OUT/gpu-<phase>.jsonl as results arrive (and stops starting runs before
# BUDGET_S seconds, default 480 for core, 240 for more). Call `more` right after `core` (the machine
# goes back after ~30 s idle). Back here:
#                                      python -m bench gpu --report <files_at>/gpu-core.jsonl <files_at>/gpu-more.jsonl ...
set -uo pipefail
cd "$(dirname "$0")/.."
PHASE=${1:-core}

if [ "$PHASE" = "--prepare" ]; then
  set -e
  [ -n "$(ls .whl/*.whl 2>/dev/null)" ] || ../shared/gpu/fetch-wheels.sh .whl
  PY=${PY:-python3}
  [ -x /work/main/.venv/bin/python ] && PY=/work/main/.venv/bin/python
  PYTHONPATH=$PWD/src:$PWD "$PY" -m bench.gpu prepare --corpus "${CORPUS:-../shared/corpus/ja-debian-docs.txt}" --out .bench-gpu
  du -sh .whl .bench-gpu
  exit 0
fi

OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl >/dev/null || exit 3
export PYTHONPATH=/tmp/site:$PWD/src:$PWD
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True TOKENIZERS_PARALLELISM=false
[ -f .bench-gpu/tokens.json ] || { echo "no .bench-gpu/tokens.json: run bench/gpu_run.sh --prepare where the corpus is, and carry .bench-gpu"; exit 4; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
case "$PHASE" in
  core) BUDGET=${BUDGET_S:-480} ;;
  grpo) BUDGET=${BUDGET_S:-150} ;;
  *)    BUDGET=${BUDGET_S:-240} ;;
esac
python3 -m bench.gpu device --tokens .bench-gpu/tokens.json --out "$OUT/gpu-$PHASE.jsonl" \
    --work .bench-models --phase "$PHASE" --budget-s "$BUDGET"
rc=$?
tail -c 3000 "$OUT/gpu-$PHASE.jsonl" | cut -c1-400
exit $rc
