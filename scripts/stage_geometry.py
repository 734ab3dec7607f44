"""How residual stages of the default model relate: the distribution of <c_k, c_{k-1}> between
the Λ24 codewords of consecutive stages at the same patch, on the public evaluation photos, and
what a prior that codes that class (then a uniform index within it) would spend per token.

    python scripts/stage_geometry.py [--images 3]

Λ24 minimal vectors in the norm-32 scaling: with a fixed one, the others have inner product
16 (4,600 of them), 8 (47,104), 0 (93,150), -8 (47,104), -16 (4,600), -32 (1).
"""

from __future__ import annotations

import argparse
import collections
import math

import numpy as np
import torch

CLASS_SIZE = {32: 1, 16: 4600, 8: 47104, 0: 93150, -8: 47104, -16: 4600, -32: 1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=3)
    a = ap.parse_args()
    from npq.apps.images import tokenize_array
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.lattices.leech import LeechCode
    from npq.zoo import load_tokenizer

    model, _ = load_tokenizer("default_leech_v2")
    cb = LeechCode().codebook(torch.float64) * math.sqrt(32)
    counts = [collections.Counter() for _ in range(3)]
    for p in public_eval_photos()[: a.images]:
        t = torch.from_numpy(np.asarray(tokenize_array(model, load_rgb(p)))).reshape(-1, 4)
        for k in range(1, 4):
            counts[k - 1].update((cb[t[:, k]] * cb[t[:, k - 1]]).sum(1).round().long().tolist())
    print(f"{a.images} public photos; uniform coding of a stage: {math.log2(196560):.2f} bits/token")
    for k, c in enumerate(counts, start=2):
        tot = sum(c.values())
        share = {v: n / tot for v, n in sorted(c.items())}
        h = -sum(q * math.log2(q) for q in share.values())
        within = sum(q * math.log2(CLASS_SIZE[v]) for v, q in share.items())
        print(f"stage {k} vs {k - 1}: " + ", ".join(f"{v}: {100 * q:.1f}%" for v, q in share.items())
              + f"; class + uniform index: {h + within:.2f} bits/token")


if __name__ == "__main__":
    main()
