"""Token priors side by side on the public evaluation photos (tokens of the shipped model): code
length (bits/token and bpp of the real payload), encode/decode speed (tokens/s, tokenizer excluded)
and whether a payload decodes in a fresh process under other CPU kernels (ATEN_CPU_CAPABILITY).

    python benchmarks/bench_priors.py [--priors uniform learned context neural] [--images N] [--model default_leech_v2]

``--model default_leech_v2`` (residual, 4 stages) codes all stages of each photo; the learned
prior exists for v1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_CHILD = """
import sys, numpy as np
from npq.codec import load_prior, UniformPrior
d, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = UniformPrior(n) if name == 'uniform' else load_prior(d + '/prior.pt')
g = np.load(d + '/tokens.npy')
try:
    data = open(d + '/payload.bin', 'rb').read()
    ok = np.array_equal(p.decode_stages(data, g.shape[:2], g.shape[2]) if g.ndim == 3 else p.decode(data, g.shape), g)
except Exception:
    ok = False
print('ok' if ok else 'FAIL')
"""


def stage_bits(prior, g: np.ndarray) -> np.ndarray:
    """Ideal code length of each stage plane of a residual grid (h, w, m), in bits."""
    if prior.name == "uniform":
        return np.full(g.shape[-1], g[..., 0].size * np.log2(prior.n_codes))
    if prior.name == "neural":  # stage k is coded given stage k-1: differences of prefix lengths
        prefix = [0.0] + [prior.bits(g[..., : k + 1]) for k in range(g.shape[-1])]
        return np.diff(prefix)
    return np.array([prior.stage_prior(k).bits(np.ascontiguousarray(g[..., k])) for k in range(g.shape[-1])])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--priors", nargs="+", default=["uniform", "learned", "context", "neural"])
    ap.add_argument("--model", default="default_leech_f8", help="shipped model whose tokens and priors are used (default: v1)")
    ap.add_argument("--images", type=int, default=9, help="how many public photos (default: all 9)")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    from npq.apps.images import tokenize_array
    from npq.codec import UniformPrior
    from npq.codec.codec import model_stages
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.zoo import load_tokenizer, shipped_prior

    # v1 (single stage) by default: the model that ships every kind of prior
    model, _ = load_tokenizer(args.model)
    n = model_stages(model)[1]
    priors = {"uniform": UniformPrior(n), **{k: shipped_prior(args.model, kind=k) for k in ("learned", "context", "neural")}}
    missing = [k for k in args.priors if priors.get(k) is None]
    if missing:
        raise SystemExit(f"{args.model} ships no {', '.join(missing)} prior")
    photos = public_eval_photos()[: args.images]
    grids = [(p.name, tokenize_array(model, img), img.shape[0] * img.shape[1]) for p, img in ((p, load_rgb(p)) for p in photos)]
    rows = []
    for name in args.priors:
        prior = priors[name]
        bits = tok = pix = t_enc = t_dec = 0.0
        portable = []
        for k, (fname, g, pixels) in enumerate(grids):
            t0 = time.perf_counter()
            stages = g.ndim == 3
            data = prior.encode_stages(g) if stages else prior.encode(g)
            t1 = time.perf_counter()
            assert np.array_equal(prior.decode_stages(data, g.shape[:2], g.shape[2]) if stages else prior.decode(data, g.shape), g)
            t2 = time.perf_counter()
            bits += len(data) * 8
            tok += g.size
            pix += pixels
            t_enc += t1 - t0
            t_dec += t2 - t1
            if k == 0:  # the first photo, decoded in fresh processes under other CPU kernels
                with tempfile.TemporaryDirectory() as d:
                    if name != "uniform":
                        prior.save(Path(d) / "prior.pt")
                    np.save(Path(d) / "tokens.npy", g)
                    (Path(d) / "payload.bin").write_bytes(data)
                    for cap in ("default", "avx2"):
                        r = subprocess.run([sys.executable, "-c", _CHILD, d, name, str(n)], capture_output=True, text=True,
                                           env={**os.environ, "ATEN_CPU_CAPABILITY": cap})
                        portable.append(f"{cap}: {r.stdout.strip() or 'error'}")
        if grids[0][1].ndim == 3:  # residual tokens: ideal bits per stage (stage k given what the prior conditions on)
            per = np.sum([stage_bits(prior, g) for _, g, _ in grids], 0) / sum(g[..., 0].size for _, g, _ in grids)
            print(f"{name}: ideal bits/token per stage " + " / ".join(f"{v:.2f}" for v in per), flush=True)
        rows.append({"prior": name, "bits_per_token": bits / tok, "payload_bpp": bits / pix, "encode_tokens_per_s": tok / t_enc,
                     "decode_tokens_per_s": tok / t_dec, "tokens": int(tok), "other_cpu_kernels": portable})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{len(grids)} public photos, {int(tok):,} tokens of {args.model}\n")
    print("| prior | bits/token | payload bpp | encode (tokens/s) | decode (tokens/s) | decodes under other CPU kernels |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['prior']} | {r['bits_per_token']:.2f} | {r['payload_bpp']:.4f} | {r['encode_tokens_per_s']:,.0f} | "
              f"{r['decode_tokens_per_s']:,.0f} | {', '.join(r['other_cpu_kernels'])} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
