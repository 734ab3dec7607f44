"""Codec speed (tokens/s, tokenizer network excluded) and entropy-coding overhead, in one run.

    python benchmarks/bench_codec.py [--prior src/npq/assets/default_leech_f8_prior.safetensors]
        [--grid 32] [--scaling 32 64 128]
    python benchmarks/bench_codec.py --prior neural --model default_leech_f8   # a shipped prior, real tokens

``--model`` codes the tokens of a real photo (motorcycle_left.png resized to 768x512, tokenized
by that model, outside the timing) instead of a synthetic grid; ``--prior KIND`` names the
model's shipped prior of that kind.

``--scaling`` codes square grids of these sides with the learned prior twice, attending to its
window and (up to 16,384 tokens) to every earlier token, and prints tokens/s per size: a linear
coder keeps its rate as the grid grows.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from npq.codec import PriorConfig, TokenPrior, load_prior
from npq.codec.entropy_coding import decode_uniform, encode_uniform, quantized_pmf
from npq.codec.priors.transformer import LO


def ideal_bits(prior: TokenPrior, tokens: np.ndarray) -> float:
    """Sum of -log2 p(token) under the prior's quantized probabilities (the ideal code length)."""
    flat = torch.from_numpy(tokens.reshape(1, -1))
    with torch.no_grad():
        lh, ll = prior(flat, tokens.shape)
    hi, lo = flat[0] // LO, flat[0] % LO
    ph = quantized_pmf(lh[0].double().numpy())
    bits = -np.log2(ph[np.arange(len(hi)), hi.numpy()]).sum()
    for i in range(len(lo)):
        valid = prior.last_lo if int(hi[i]) == prior.n_hi - 1 else None
        pl = quantized_pmf(ll[0, i].double().numpy(), valid)
        bits += -math.log2(pl[int(lo[i])])
    return float(bits)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", help="a trained prior (default: an untrained one of the default size)")
    ap.add_argument("--grid", type=int, default=32, help="token grid side (default 32: 1,024 tokens)")
    ap.add_argument("--model", help="tokenize a 768x512 photo with this model (a shipped model name or a file)")
    ap.add_argument("--scaling", type=int, nargs="*", default=[], help="grid sides for the time-vs-size table of the learned prior")
    args = ap.parse_args()
    n = 196560
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, n, (args.grid, args.grid))
    t0 = time.perf_counter()
    data = encode_uniform(tokens, n)
    t1 = time.perf_counter()
    dec = decode_uniform(data, tokens.size, n)
    t2 = time.perf_counter()
    assert np.array_equal(dec.reshape(tokens.shape), tokens)
    print(f"uniform prior: encode {tokens.size / (t1 - t0):,.0f} tokens/s, decode {tokens.size / (t2 - t1):,.0f} tokens/s, "
          f"{len(data) * 8 / tokens.size:.4f} bits/token (ideal {math.log2(n):.4f}, overhead {100 * (len(data) * 8 / tokens.size / math.log2(n) - 1):.3f}%)")
    if args.prior and not args.prior.endswith((".pt", ".safetensors")):
        from npq.zoo import shipped_prior

        prior = shipped_prior(args.model, kind=args.prior)
        if prior is None:
            raise SystemExit(f"{args.model or 'the default model'} ships no {args.prior} prior")
    else:
        prior = load_prior(args.prior) if args.prior else TokenPrior(PriorConfig(n)).eval()
    if args.model:
        tokens = photo_tokens(args.model)
    elif args.prior:  # realistic tokens: sampled from the prior itself would be slow; reuse a smooth grid
        tokens = np.repeat(rng.integers(0, n, (args.grid, 1)), args.grid, axis=1)
    stages = tokens.ndim == 3
    t_enc = t_dec = math.inf
    for _ in range(1 if isinstance(prior, TokenPrior) else 3):  # best of 3 (the transformer: one, it is slow)
        t0 = time.perf_counter()
        data = prior.encode_stages(tokens) if stages else prior.encode(tokens)
        t1 = time.perf_counter()
        dec = prior.decode_stages(data, tokens.shape[:2], tokens.shape[2]) if stages else prior.decode(data, tokens.shape)
        t2 = time.perf_counter()
        assert np.array_equal(dec, tokens)
        t_enc, t_dec = min(t_enc, t1 - t0), min(t_dec, t2 - t1)
    t0, t1, t2 = 0.0, t_enc, t_enc + t_dec
    ideal = ideal_bits(prior, tokens) if isinstance(prior, TokenPrior) else prior.bits(tokens)
    what = f"learned prior (width {prior.cfg.width}, depth {prior.cfg.depth})" if isinstance(prior, TokenPrior) else f"{prior.name} prior"
    print(f"{what}, {tokens.shape} tokens: encode {tokens.size / (t1 - t0):,.0f} tokens/s ({t1 - t0:.2f} s), "
          f"decode {tokens.size / (t2 - t1):,.0f} tokens/s ({t2 - t1:.2f} s), {len(data) * 8:,} bits vs ideal {ideal:,.0f} "
          f"(overhead {100 * (len(data) * 8 / ideal - 1):.2f}%)")
    if args.scaling:
        scaling(prior, args.scaling, rng)


def photo_tokens(model_name: str) -> np.ndarray:
    """Tokens of motorcycle_left.png (a public photo) resized to 768x512: (64, 96) or (64, 96, K)."""
    from PIL import Image

    from npq.apps.images import tokenize_array
    from npq.data.photos import public_eval_photos
    from npq.zoo import load_tokenizer

    model, _ = load_tokenizer(model_name)
    path = next(p for p in public_eval_photos() if p.name == "motorcycle_left.png")
    img = np.array(Image.open(path).convert("RGB").resize((768, 512), Image.Resampling.LANCZOS))
    return tokenize_array(model, img)


def scaling(prior: TokenPrior, sides: list[int], rng: np.random.Generator) -> None:
    """Seconds and tokens/s of encode + decode per grid size, windowed vs full attention."""
    from npq.codec.priors.transformer import MAX_TOKENS_FULL

    variants = {f"window {prior.cfg.window}": prior} if prior.cfg.window else {}
    variants["full attention"] = prior.with_window(0)
    print("\n| grid | tokens | attention | encode (s) | decode (s) | tokens/s (encode) | tokens/s (decode) |")
    print("|---|---|---|---|---|---|---|")
    for side in sides:
        tokens = np.repeat(rng.integers(0, prior.n_codes, (side, 1)), side, axis=1)
        for name, p in variants.items():
            if name == "full attention" and tokens.size > MAX_TOKENS_FULL:
                continue
            t0 = time.perf_counter()
            data = p.encode(tokens)
            t1 = time.perf_counter()
            assert np.array_equal(p.decode(data, tokens.shape), tokens)
            t2 = time.perf_counter()
            print(f"| {side}x{side} | {tokens.size:,} | {name} | {t1 - t0:.1f} | {t2 - t1:.1f} | {tokens.size / (t1 - t0):,.0f} | "
                  f"{tokens.size / (t2 - t1):,.0f} |", flush=True)


if __name__ == "__main__":
    main()
