#!/bin/bash
# The generation benchmark's variants evaluated on 10,000 samples at their best guidance scale
# (the benchmark itself uses 1,000 per scale): docs/generation.md. Run after
# scripts/generation_benchmark.py; results in runs/generation/eval10k/ (copied to
# benchmarks/results/generation_fmnist/samples_10k/). On one thread about 4 min per run for the
# factorized heads, ~18 min for FSQ's 64,000-way index head, ~50 min for Λ24's 196,560-way one.
cd "$(dirname "$0")/.."
mkdir -p runs/generation/eval10k
for vs in "bsq18_bits 3 bsq18" "fsq16_levels 3 fsq16" "leech_coordinates 4 leech" "fsq16_index 4 fsq16" "leech_index 4 leech"; do
  set -- $vs
  for seed in 0 1; do
    out=runs/generation/eval10k/$1_s$seed.json
    [ -f $out ] && continue
    s=$(date +%s)
    OMP_NUM_THREADS=1 .venv/bin/npq eval-generator --checkpoint runs/generation/gen_$1_s$seed --samples 10000 --cfg $2 --seed $seed \
      --test-tokens runs/generation/tokens_$3/test --max-test 500 --no-speed --out $out --quiet
    echo "$1 s$seed $(( $(date +%s) - s )) s"
  done
done
mkdir -p benchmarks/results/generation_fmnist/samples_10k
cp runs/generation/eval10k/*.json benchmarks/results/generation_fmnist/samples_10k/
