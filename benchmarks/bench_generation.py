"""Sampling speed of npq generators with and without the key/value cache, side by side in one run.

    OMP_NUM_THREADS=1 python benchmarks/bench_generation.py [--batch 16] [--shipped-batches 16,64,256] [--out bench_out/generation.json]

For each (transformer preset, token grid, head): tokens per second of ``Generator.sample`` with
classifier-free guidance (two sequences per image), cached and uncached, the same seed (the same
tokens: checked), best of ``--repeats``. Random weights: speed does not depend on them. The shipped
generator is timed too when it is installed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from npq.generate.model import Generator
from npq.generate.transformer import GENERATOR_PRESETS, GeneratorConfig
from npq.quantize import make

CASES = [  # (preset, grid, quantizer, head)
    ("tiny", (8, 8), "leech", "coordinates"),
    ("tiny", (8, 8), "leech", "index"),
    ("tiny", (16, 16), "leech", "coordinates"),
    ("small", (8, 8), "leech", "coordinates"),
]


def timed(gen: Generator, batch: int, cached: bool, repeats: int) -> tuple[float, torch.Tensor]:
    classes = torch.arange(batch) % gen.cfg.num_classes
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = gen.sample(classes, 2.0, generator=torch.Generator().manual_seed(0), use_cache=cached)
        best = min(best, time.perf_counter() - t0)
    return batch * gen.cfg.length / best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=16, help="images sampled at once (default: %(default)s)")
    ap.add_argument("--shipped-batches", default="16,64,256",
                    help="batch sizes for the shipped generator (the cache's gain grows with the batch; default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default="bench_out/generation.json")
    a = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    gens = []
    for preset, grid, qname, head in CASES:
        cfg = GeneratorConfig(**GENERATOR_PRESETS[preset], grid=grid, num_classes=10)
        gens.append((f"{preset} {grid[0]}x{grid[1]} {qname} {head}", Generator(cfg, make(qname), head).eval()))
    try:
        from npq.zoo import load_generator

        gen, _, info = load_generator()
        for b in (int(x) for x in a.shipped_batches.split(",")):
            gens.append((f"shipped {info['source']} ({gen.cfg.grid[0]}x{gen.cfg.grid[1]}, {info['head']} head)", gen, b))
    except (FileNotFoundError, ValueError) as e:
        print(f"(shipped generator not timed: {e})")
    for name, gen, *batch in gens:
        batch = batch[0] if batch else a.batch
        cached, t1 = timed(gen, batch, True, a.repeats)
        uncached, t2 = timed(gen, batch, False, a.repeats)
        rows.append({"case": name, "tokens_per_s_cached": cached, "tokens_per_s_uncached": uncached, "speedup": cached / uncached,
                     "same_tokens": bool(torch.equal(t1, t2)), "threads": torch.get_num_threads(), "batch": batch})
        r = rows[-1]
        print(f"{name:40s} batch {batch:3d}  cached {cached:7.0f} tok/s  uncached {uncached:7.0f} tok/s  {r['speedup']:5.1f}x"
              f"  same tokens: {r['same_tokens']}", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
