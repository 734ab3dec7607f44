"""PSNR of a residual tokenizer at every stage prefix on the public evaluation photos and the sky
gradient (a quick check while training; the codec numbers come from `npq rd`).

    python scripts/eval_ladder.py CHECKPOINT [--raw] [--size 256]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from npq.data.photos import load_rgb, public_eval_photos, sky_gradient
from npq.zoo import load_tokenizer


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--raw", action="store_true", help="the raw weights, not the EMA")
    ap.add_argument("--size", type=int, default=256, help="centre crop side in px (0: whole image)")
    ap.add_argument("--photos", type=int, default=4)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    model, _ = load_tokenizer(a.checkpoint, ema=not a.raw)
    q = model.quantizer
    stages = getattr(q, "n_stages", 1)
    images = [(p.stem, load_rgb(p)) for p in public_eval_photos()[: a.photos]] + [("sky", sky_gradient())]
    print("image".ljust(12) + "".join(f"  k={k}".rjust(8) for k in range(1, stages + 1)))
    for name, im in images:
        if a.size:
            h, w = im.shape[:2]
            s = min(a.size, h, w) // 16 * 16
            im = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        h, w = im.shape[0] // 16 * 16, im.shape[1] // 16 * 16
        im = im[:h, :w]
        x = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 127.5 - 1
        tokens = model.encode(x)
        row = []
        for k in range(1, stages + 1):
            t = tokens[..., :k] if stages > 1 else tokens
            rec = model.decode(t).clamp(-1, 1)
            out = ((rec[0].permute(1, 2, 0).numpy() + 1) * 127.5).round().clip(0, 255)
            row.append(psnr(out, im))
        print(name[:12].ljust(12) + "".join(f"{v:8.2f}" for v in row))


if __name__ == "__main__":
    main()
