"""End-to-end codec time: `npq compress` / `npq decompress` of a 768x512 photo (tokenizer network
plus entropy coding, a real bitstream) with the shipped default model and prior, at every rate
level, one run on this machine's cores.

    python benchmarks/bench_compress.py [--model NAME_OR_FILE] [--repeats 3] [--refine N]

``--refine N``: encoder-side refinement steps (npq.codec.refine); compress time then grows with N.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from PIL import Image

from npq.codec import compress, decompress
from npq.codec.codec import model_stages
from npq.data.photos import load_rgb, public_eval_photos
from npq.zoo import load_tokenizer, shipped_prior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model file or shipped name (default: the shipped default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--refine", type=int, default=0, help="encoder-side refinement steps (default 0)")
    a = ap.parse_args()
    model, _ = load_tokenizer(a.model)
    prior = shipped_prior(a.model)
    photo = next(p for p in public_eval_photos() if p.name.startswith("motorcycle"))
    img = load_rgb(photo)
    img = np.array(Image.fromarray(img).resize((768, 512), Image.LANCZOS))  # a 768x512 photo
    pil = Image.fromarray(img)
    print(f"{photo.name} resized to 768x512; model {a.model or 'default'}, {prior.name if prior else 'uniform'} prior, "
          f"{torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs; best of {a.repeats}"
          + (f"; {a.refine} refinement steps" if a.refine else ""))
    print("| level | bytes | bpp | compress (s) | decompress (s) |\n|---|---|---|---|---|")
    compress(pil, model, prior)  # warm-up (kernels compiled, caches filled)
    for k in range(1, model_stages(model)[0] + 1):
        tc, td = [], []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            res = compress(pil, model, prior, stages=k, refine=a.refine)
            t1 = time.perf_counter()
            decompress(res.data, model, prior)
            t2 = time.perf_counter()
            tc.append(t1 - t0)
            td.append(t2 - t1)
        print(f"| {k} | {len(res.data):,} | {res.bpp:.4f} | {min(tc):.2f} | {min(td):.2f} |")


if __name__ == "__main__":
    main()
