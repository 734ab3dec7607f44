#!/usr/bin/env bash
# Train the three Fashion-MNIST tokenizers of the generation benchmark one after another
# (resumable: re-running continues each from its latest checkpoint). Logs in runs/generation/.
# Usage: scripts/generation_tokenizers.sh [QUANTIZER ...]   (default: leech bsq18 fsq16)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs/generation
qs=("$@"); [ ${#qs[@]} -eq 0 ] && qs=(leech bsq18 fsq16)
for q in "${qs[@]}"; do
  out=runs/generation/tok_$q
  if [ -f "$out/done" ]; then continue; fi
  resume=""; [ -d "$out" ] && resume="--resume"
  .venv/bin/npq train configs/generation/fmnist_tok_$q.yaml $resume --quiet >> runs/generation/tok_$q.log 2>&1
  touch "$out/done"
done
