#!/usr/bin/env bash
# Train the three Fashion-MNIST tokenizers of the generation benchmark one after another
# (resumable: re-running continues each from its latest checkpoint). Logs in runs/generation/.
set -euo pipefail
cd "$(dirname "$0")/.."
for q in leech bsq18 fsq16; do
  out=runs/generation/tok_$q
  if [ -f "$out/done" ]; then continue; fi
  resume=""; [ -d "$out" ] && resume="--resume"
  .venv/bin/npq train configs/generation/fmnist_tok_$q.yaml $resume --quiet >> runs/generation/tok_$q.log 2>&1
  touch "$out/done"
done
