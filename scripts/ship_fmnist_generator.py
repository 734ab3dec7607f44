"""Ship the default Fashion-MNIST tokenizer + generator pair (what ``npq generate`` uses offline).

    .venv/bin/npq train-generator configs/generation/fmnist_default.yaml      # after the benchmark's tokenizers
    .venv/bin/npq eval-generator --checkpoint runs/generation/default --samples 2000 --cfg 1,1.5,2,3,4 \
        --test-tokens runs/generation/tokens_leech/test --max-test 2000 --out runs/generation/eval/default.json
    .venv/bin/npq eval-generator --checkpoint runs/generation/default --samples 10000 --cfg 3 \
        --test-tokens runs/generation/tokens_leech/test --max-test 2000 --no-speed --out runs/generation/eval/default_10k.json
    .venv/bin/python scripts/ship_fmnist_generator.py

writes src/npq/assets/fmnist_leech.safetensors (the tokenizer: EMA weights, float32: the tokens and
pixels the evaluation measured) and
src/npq/assets/generator_fmnist/ (config.json naming the shipped tokenizer ``fmnist_leech``,
model.safetensors with the EMA weights, README.md: the model card with the evaluation's figures).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def card(desc: dict, ev: dict, step: int, big: dict | None) -> str:
    rows = "\n".join(f"| {s} | {r['class_consistency']:.3f} | {r['classifier_frechet']:.2f} |" for s, r in ev["by_cfg"].items())
    if big:
        rows += "\n" + "\n".join(f"| {s} ({big['samples']:,} samples) | {r['class_consistency']:.3f} | {r['classifier_frechet']:.2f} |"
                                  for s, r in big["by_cfg"].items())
    return f"""---
library_name: npq
tags: [image-generation, autoregressive, class-conditional, leech-lattice, fashion-mnist]
---

# npq Fashion-MNIST generator (shipped default)

A class-conditional autoregressive transformer (width {desc['transformer']['width']}, {desc['transformer']['depth']} blocks,
RMSNorm / SwiGLU / 2-D RoPE, {step} steps at batch 32) over the 8x8 Λ24-SQ tokens of the shipped
tokenizer `fmnist_leech` (a conv tokenizer at downsampling 4, 17.58 bits per token), with the
per-coordinate head (24 labels of 9 values per token, decoded to the nearest Leech codeword).
Trained on the Fashion-MNIST training split only (Debian package `dataset-fashion-mnist`).

```bash
npq generate --class sneaker --n 16 --out sneakers.png
```

Evaluation on the test split (`npq eval-generator --samples {ev['samples']} --cfg {','.join(ev['by_cfg'])}`: {ev['samples']:,}
samples per guidance scale, equal numbers per class; the classifier is npq's shipped Fashion-MNIST
classifier, test accuracy {ev['classifier_test_accuracy']:.4f}; the Fréchet distance is between the Gaussian fits of
its 256-d penultimate features on the samples and on the 10,000 test images, biased upward at
small sample counts: compare figures at equal counts only; not FID):

| guidance scale | class consistency | classifier Fréchet distance |
|---|---|---|
{rows}

Tokenizer reconstruction PSNR on the test split: {ev['tokenizer_psnr_db']:.2f} dB. Test bits per token:
{ev['test_bits_per_token']:.3f} on {ev['test_grids']:,} test grids (an upper bound: the sum of the 24 label
cross-entropies). Sampling speed: npq's docs/performance.md (`benchmarks/bench_generation.py`).
Regenerate: `configs/generation/fmnist_default.yaml`, then the commands in `scripts/ship_fmnist_generator.py`.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default="runs/generation/tok_leech")
    ap.add_argument("--generator", default="runs/generation/default")
    ap.add_argument("--eval", default="runs/generation/eval/default.json")
    ap.add_argument("--eval-10k", default="runs/generation/eval/default_10k.json")
    a = ap.parse_args()
    from npq.generate.io import read_generator, save_generator
    from npq.train.checkpoint import latest_checkpoint
    from npq.zoo import ASSETS, export_model

    export_model(latest_checkpoint(ROOT / a.tokenizer), ASSETS / "fmnist_leech.safetensors", half=False)
    desc, weights, step = read_generator(ROOT / a.generator)
    desc = {**desc, "tokenizer": "fmnist_leech"}
    ev = json.loads((ROOT / a.eval).read_text())
    big = json.loads((ROOT / a.eval_10k).read_text()) if (ROOT / a.eval_10k).exists() else None
    save_generator(ASSETS / "generator_fmnist", desc, weights, step, card=card(desc, ev, step, big))
    print(f"wrote {ASSETS / 'fmnist_leech.safetensors'} and {ASSETS / 'generator_fmnist'}/")


if __name__ == "__main__":
    main()
