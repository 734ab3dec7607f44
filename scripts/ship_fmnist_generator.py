"""Ship a Fashion-MNIST tokenizer + generator pair (what ``npq generate`` uses offline).

The default pair ``fmnist`` (BSQ-18 tokens, bitwise head: the best measured, docs/generation.md):

    .venv/bin/npq train-generator configs/generation/fmnist_bsq18_bits_long.yaml   # after the benchmark's tokenizers
    .venv/bin/npq eval-generator --checkpoint runs/generation/bsq18_bits_long --samples 2000 --cfg 1,1.5,2,3,4 \
        --test-tokens runs/generation/tokens_bsq18/test --max-test 2000 --out runs/generation/eval/bsq18_bits_long.json
    .venv/bin/npq eval-generator --checkpoint runs/generation/bsq18_bits_long --samples 10000 --cfg 2 \
        --test-tokens runs/generation/tokens_bsq18/test --max-test 2000 --no-speed --out runs/generation/eval/bsq18_bits_long_10k.json
    .venv/bin/python scripts/ship_fmnist_generator.py

The Λ24-SQ pair ``fmnist-leech`` (per-coordinate head; configs/generation/fmnist_default.yaml, run
folder runs/generation/default, evaluations default.json and default_10k.json at guidance 3):

    .venv/bin/python scripts/ship_fmnist_generator.py --quantizer leech

Each writes src/npq/assets/fmnist_<q>.safetensors (the tokenizer: EMA weights, float32: the tokens
and pixels the evaluation measured) and the generator folder (config.json naming that tokenizer,
model.safetensors with the EMA weights, README.md: the model card with the evaluation's figures).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


PAIRS = {  # quantizer: (tokenizer run, generator run, eval JSON, 10k eval JSON, asset name, generator folder, config)
    "bsq18": ("runs/generation/tok_bsq18", "runs/generation/bsq18_bits_long", "runs/generation/eval/bsq18_bits_long.json",
              "runs/generation/eval/bsq18_bits_long_10k.json", "fmnist_bsq18", "generator_fmnist", "configs/generation/fmnist_bsq18_bits_long.yaml"),
    "leech": ("runs/generation/tok_leech", "runs/generation/default", "runs/generation/eval/default.json",
              "runs/generation/eval/default_10k.json", "fmnist_leech", "generator_fmnist_leech", "configs/generation/fmnist_default.yaml"),
}
WHAT = {  # quantizer: (tag, tokens, head description, bits-per-token note)
    "bsq18": ("bsq", "18-bit BSQ tokens of the shipped tokenizer `fmnist_bsq18` (a conv tokenizer at downsampling 4, "
              "binary spherical quantization, 18 bits per token)", "the bitwise head (18 binary labels per token)",
              "exact: the sum of the 18 binary factors"),
    "leech": ("leech-lattice", "Λ24-SQ tokens of the shipped tokenizer `fmnist_leech` (a conv tokenizer at downsampling 4, "
              "17.58 bits per token)", "the per-coordinate head (24 labels of 9 values per token, decoded to the nearest Leech codeword)",
              "an upper bound: the sum of the 24 label cross-entropies"),
}


def card(desc: dict, ev: dict, step: int, big: dict | None, q: str = "bsq18", name: str = "fmnist", config: str = "") -> str:
    rows = "\n".join(f"| {s} | {r['class_consistency']:.3f} | {r['classifier_frechet']:.2f} |" for s, r in ev["by_cfg"].items())
    if big:
        rows += "\n" + "\n".join(f"| {s} ({big['samples']:,} samples) | {r['class_consistency']:.3f} | {r['classifier_frechet']:.2f} |"
                                  for s, r in big["by_cfg"].items())
    return f"""---
library_name: npq
tags: [image-generation, autoregressive, class-conditional, {WHAT[q][0]}, fashion-mnist]
---

# npq Fashion-MNIST generator `{name}`{' (shipped default)' if name == 'fmnist' else ''}

A class-conditional autoregressive transformer (width {desc['transformer']['width']}, {desc['transformer']['depth']} blocks,
RMSNorm / SwiGLU / 2-D RoPE, {step} steps at batch 32) over the 8x8 {WHAT[q][1]}, with
{WHAT[q][2]}. Trained on the Fashion-MNIST training split only (Debian package
`dataset-fashion-mnist`).

```bash
npq generate {'' if name == 'fmnist' else f'--checkpoint {name} '}--class sneaker --n 16 --out sneakers.png
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
{ev['test_bits_per_token']:.3f} on {ev['test_grids']:,} test grids ({WHAT[q][3]}). Sampling speed: npq's
docs/performance.md (`benchmarks/bench_generation.py`). Regenerate: `{config}`, then the commands in
`scripts/ship_fmnist_generator.py`.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quantizer", choices=sorted(PAIRS), default="bsq18", help="which pair (bsq18: the default `fmnist`)")
    a = ap.parse_args()
    from npq.generate.io import read_generator, save_generator
    from npq.train.checkpoint import latest_checkpoint
    from npq.zoo import ASSETS, export_model

    tok_run, gen_run, ev_file, big_file, asset, folder, config = PAIRS[a.quantizer]
    name = "fmnist" if a.quantizer == "bsq18" else f"fmnist-{a.quantizer}"
    export_model(latest_checkpoint(ROOT / tok_run), ASSETS / f"{asset}.safetensors", half=False)
    desc, weights, step = read_generator(ROOT / gen_run)
    desc = {**desc, "tokenizer": asset}
    ev = json.loads((ROOT / ev_file).read_text())
    big = json.loads((ROOT / big_file).read_text()) if (ROOT / big_file).exists() else None
    save_generator(ASSETS / folder, desc, weights, step, card=card(desc, ev, step, big, a.quantizer, name, config))
    print(f"wrote {ASSETS / (asset + '.safetensors')} and {ASSETS / folder}/")


if __name__ == "__main__":
    main()
