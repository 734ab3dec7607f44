"""Portability check of the integer neural prior on a CUDA GPU (one short prepared run).

    python scripts/check_prior_gpu.py [--device cuda]

1. The shipped neural prior's integer logits for every cell of real token grids, computed on the
   device with float64 matrix products (and TF32 switched on, which must not matter: float64 is
   never TF32) against the numpy reference on the CPU: they must be identical.
2. The golden multi-stage bitstream decodes to its committed token hash (the coder itself runs
   on the CPU; this checks that a GPU machine's CPU build agrees too).
Prints one line per check and exits non-zero on any mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def device_logits(net, tokens: np.ndarray, ctx: np.ndarray, hi: np.ndarray, device: str) -> list[np.ndarray]:
    """The integer network on ``device``: exact float64 products of integers, int64 elsewhere."""
    from npq.codec.priors.neural import LO

    a = {k: torch.from_numpy(v.astype(np.int64)).to(device) for k, v in net.arrays.items()}
    s = net.shifts

    def mm(x, w):
        return (x.double() @ w.double()).long()

    def sh(v, r):
        return v << -r if r <= 0 else (v + (1 << (r - 1))) >> r

    t = torch.from_numpy(tokens).to(device)
    x = (a["emb_hi"][torch.where(t >= 0, t // LO, net.n_hi)] + a["emb_lo"][torch.where(t >= 0, t % LO, LO)]).reshape(len(t), -1)
    a1 = sh(mm(x, a["w1"]) + a["b1"] + a["ctx"][torch.from_numpy(ctx).to(device)], s["r1"]).clamp(0, 127)
    p2 = mm(a1, a["w2"]) + a["b2"]
    a2 = sh(p2, s["r2"]).clamp(0, 127)
    a3 = sh(p2 + a["hi_gate"][torch.from_numpy(hi).to(device)], s["r2"]).clamp(0, 127)
    out = [sh(mm(a2, a["w_mode"]) + a["b_mode"], s["r_mode"]), sh(mm(a2, a["w_hi"]) + a["b_hi"], s["r_hi"]),
           sh(mm(a3, a["w_lo"]) + a["b_lo"], s["r_lo"])]
    return [o.cpu().numpy() for o in out]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.set_float32_matmul_precision("high")
    from npq.apps.images import tokenize_array
    from npq.codec.bitstream import unpack
    from npq.codec.priors.neural import LO
    from npq.codec.priors.neural_training import cell_table
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.zoo import load_tokenizer, shipped_prior

    ok = True
    model, _ = load_tokenizer("default_leech_v2")
    prior = shipped_prior("default_leech_v2", kind="neural")
    grids = np.stack([tokenize_array(model, load_rgb(p)[:256, :256]) for p in public_eval_photos()[:3]])
    for k in range(grids.shape[-1]):
        tab = cell_table(grids, stage=k)
        net = prior.net(k)
        p2, a2 = net.hidden_state(tab["tokens"], tab["ctx"])
        hi = tab["tok"] // LO
        ref = [net.mode_logits(a2), net.hi_logits(a2), net.lo_logits(p2, hi)]
        dev = device_logits(net, tab["tokens"], tab["ctx"], hi, args.device)
        same = all(np.array_equal(r, d) for r, d in zip(ref, dev))
        ok &= same
        print(f"stage {k + 1}: {len(hi):,} cells, integer logits on {args.device} {'identical' if same else 'DIFFER'} to the CPU reference")
    golden = ROOT / "tests" / "data" / "golden" / "astronaut_crop_v2_q4_neural.npq"
    if golden.is_file():
        h, payload, _ = unpack(golden.read_bytes())
        tokens = prior.decode_stages(payload, (h.grid_h, h.grid_w), h.stages)
        digest = hashlib.sha256(tokens.astype("<i4").tobytes()).hexdigest()
        print(f"golden file: tokens sha256 {digest}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
