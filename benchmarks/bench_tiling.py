"""Peak memory and time of `npq compress` / `npq decompress` (shipped model, context prior) by
image size: each size runs in a fresh process and reports its peak resident memory
(ru_maxrss, including Python, torch and the model) and wall time for compress and decompress.

The test photo is a public evaluation photo tiled up to the size (its content repeats; the rate
is not the point). Usage: python benchmarks/bench_tiling.py [--megapixels 1 6 24] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _child(mp: float, threads: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from npq.codec import compress, decompress
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.zoo import load_default, shipped_prior

    torch.set_num_threads(threads)
    model, _ = load_default()
    prior = shipped_prior(kind="context")
    base = load_rgb(next(p for p in public_eval_photos() if p.name.startswith("astronaut")))
    w = int(round((mp * 1e6 * 3 / 2) ** 0.5))  # 3:2 like a camera
    h = int(round(w * 2 / 3))
    img = np.tile(base, (h // base.shape[0] + 1, w // base.shape[1] + 1, 1))[:h, :w]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    data = compress(Image.fromarray(img), model, prior).data
    t1 = time.perf_counter()
    out = decompress(data, model, prior)
    t2 = time.perf_counter()
    assert out.size == (w, h)
    return {"megapixels": w * h / 1e6, "size": f"{w}x{h}", "compress_s": t1 - t0, "decompress_s": t2 - t1,
            "bpp": len(data) * 8 / (w * h), "tiled": data[4] == 2, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss0}


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--megapixels", type=float, nargs="+", default=[1, 6, 24])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--child", type=float, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        print(json.dumps(_child(a.child, a.threads)))
        return []
    rows = []
    print(f"{'size':>11} {'MP':>5} {'tiled':>5} {'compress s':>10} {'decompress s':>12} {'peak RSS MB':>11}")
    for mp in a.megapixels:
        r = subprocess.run([sys.executable, __file__, "--child", str(mp), "--threads", str(a.threads)], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{mp} MP failed: {r.stderr[-500:]}")
            continue
        row = json.loads(r.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['size']:>11} {row['megapixels']:>5.1f} {str(row['tiled']):>5} {row['compress_s']:>10.1f} {row['decompress_s']:>12.1f} {row['peak_rss_mb']:>11.0f}")
    return rows


if __name__ == "__main__":
    main()
