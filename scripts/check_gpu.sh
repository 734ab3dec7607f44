#!/usr/bin/env bash
# The one prepared GPU check (issue #28): run it whenever a GPU is available (<= 8 minutes on one
# H100); it prints one table at the end. Where no GPU was available, say so: it was not run.
#   1. 200 steps of ViT-S/8 bf16 Λ24-SQ (the authors' recipe) at batch 64 on synthetic data:
#      the loss falls, no NaN, steps/s, peak memory (scripts/gpu_train_check.py)
#   2. the dry runs of both paper configs (imagenet128_vits8_leech, imagenet256_vitb8_leech)
#   3. the existing Λ24 and prior GPU checks (benchmarks/check_leech_gpu.py, scripts/check_prior_gpu.py)
# Usage: scripts/check_gpu.sh [OUT_DIR]   (logs and JSON in OUT_DIR, default gpu_check_out/)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
OUT="${1:-gpu_check_out}"
mkdir -p "$OUT"
declare -a NAMES STATUS SECS
run() {  # name, timeout (s), command...
  local name="$1" limit="$2"; shift 2
  local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  NAMES+=("$name"); STATUS+=("$rc"); SECS+=("$(( $(date +%s) - t0 ))")
}
run train_200_steps 240 "$PY" scripts/gpu_train_check.py --steps 200 --batch 64
run dry_run_128_vits8 90 "$PY" -m npq.cli.main train configs/imagenet128_vits8_leech.yaml --dry-run --quiet train.out_dir="$OUT/dry128"
run dry_run_256_vitb8 120 "$PY" -m npq.cli.main train configs/imagenet256_vitb8_leech.yaml --dry-run --quiet train.out_dir="$OUT/dry256"
run leech_gpu 90 "$PY" benchmarks/check_leech_gpu.py --json "$OUT/leech.json"
run prior_gpu 60 "$PY" scripts/check_prior_gpu.py
echo
echo "| check | exit | seconds | result |"
echo "|---|---|---|---|"
for i in "${!NAMES[@]}"; do
  last=$(grep -v '^\s*$' "$OUT/${NAMES[$i]}.log" | tail -1 | cut -c1-160)
  echo "| ${NAMES[$i]} | ${STATUS[$i]} | ${SECS[$i]} | ${last} |"
done
echo
echo "(dry runs exit 1 when ImageNet or pretrained weights are missing: their logs list what; the mechanics line says whether the run itself works)"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo "no GPU visible: this was a CPU run"
