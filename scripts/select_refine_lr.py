"""Choose the encoder-side refinement step size (npq.codec.refine.LR) on TRAINING photos only.

Six random 192x192 crops of photos:debian + photos:wallpapers (never the public evaluation
photos), the shipped default model and its default prior, levels 1 and 4: mean PSNR and
payload bpp for each (lr, steps). Usage (the two runs of 2026-12-03):

    python scripts/select_refine_lr.py --grid 0.02:0 0.01:10 0.02:10 0.05:10 0.02:20
    python scripts/select_refine_lr.py --grid 0.02:0 0.005:10 0.01:10 0.005:20 0.01:20
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from npq.codec.refine import encode_refined
from npq.data.images import resolve_source
from npq.data.photos import load_rgb
from npq.zoo import load_tokenizer, shipped_prior


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", nargs="+", default=["0.02:0", "0.01:10", "0.02:10"], help="lr:steps pairs")
    ap.add_argument("--crops", type=int, default=6)
    ap.add_argument("--size", type=int, default=192)
    args = ap.parse_args()
    grid = [(float(a), int(b)) for a, b in (g.split(":") for g in args.grid)]
    torch.manual_seed(0)
    model, _ = load_tokenizer()
    prior = shipped_prior()
    paths = resolve_source(["photos:debian", "photos:wallpapers"])
    rng = np.random.default_rng(1)
    res: dict = {}
    s = args.size
    for p in [paths[i] for i in rng.choice(len(paths), args.crops, replace=False)]:
        rgb = load_rgb(p)
        h, w = rgb.shape[:2]
        if min(h, w) < s:
            continue
        y0, x0 = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
        x01 = torch.from_numpy(np.ascontiguousarray(rgb[y0 : y0 + s, x0 : x0 + s])).permute(2, 0, 1).float()[None] / 255
        for m in (1, 4):
            for lr, steps in grid:
                tok = encode_refined(model, x01 * 2 - 1, steps, m, lr=lr)
                with torch.no_grad():
                    rec = ((model.decode(tok).clamp(-1, 1) + 1) / 2 * 255).round() / 255
                t = np.ascontiguousarray(tok[0].numpy())
                bits = 8 * len(prior.encode_stages(t) if m > 1 else prior.encode(np.ascontiguousarray(t[..., 0])))
                psnr = 10 * math.log10(1 / float(((rec - x01) ** 2).mean()))
                res.setdefault((m, lr, steps), []).append((psnr, bits / s / s))
        print(p.name, flush=True)
    print("(level, lr, steps): mean PSNR, mean payload bpp")
    for k, v in sorted(res.items()):
        a = np.array(v)
        print(k, f"{a[:, 0].mean():.2f} dB {a[:, 1].mean():.4f} bpp (n={len(a)})")


if __name__ == "__main__":
    main()
