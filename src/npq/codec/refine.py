"""Encoder-side latent refinement (analysis by synthesis): better tokens for the same decoder.

The encoder's latents are a one-pass guess. With the decoder at hand, the encoder can do better
for each image: take the pre-quantization latents ``u`` (initialized by the encoder), quantize
them, decode, and move ``u`` by gradient steps (Adam) on the squared error between the decoded
pixels and the image, passing the gradient through the quantizer with the straight-through
estimator; the tokens of the final ``u`` are coded. Only the encoder changes: the bitstream format,
the prior and the decoder are untouched, so a refined file decodes with any npq. (In learned image
compression this is "latent optimization" at encoding time, e.g. Campos et al. 2019, Yang et al.
2020; here without a rate term: the rate moves with the tokens and is measured, not optimized.)

Cost: each step is one decoder forward and backward pass over the image (memory and time of
training on one image); large images are refined tile by tile with the tiles of
:mod:`npq.models.tiling` (each core's latents refined with its margin's context).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.tiling import MARGIN, ONE_PASS, TILE, encode_tiled, tile_count
from ..utils.progress import progress_bar

__all__ = ["refine_latents", "encode_refined", "LR"]

LR = 0.01  # Adam step in units of the latents' RMS per coordinate (chosen on training photos: scripts/select_refine_lr.py)


def _tokens(model, u: Tensor, stages: int | None) -> Tensor:
    """Tokens of latents ``u`` (b, h, w, d): (b, h, w), or (b, h, w, stages) for a residual quantizer."""
    tok = model.quantizer.encode(u)
    return tok[..., :stages] if tok.ndim == 4 and stages is not None else tok


def _check(steps: int, lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"refinement steps must be an integer >= 0, got {steps!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")


def refine_latents(model, images: Tensor, steps: int, stages: int | None = None, lr: float = LR,
                   valid: tuple[int, int] | None = None, bar=None) -> Tensor:
    """Latents ``(b, h, w, d)`` of ``images`` ``(b, 3, H, W)`` in [-1, 1] after ``steps`` steps of
    refinement (``steps=0``: the encoder's own latents). ``stages``: a residual tokenizer's coded
    prefix (the error is that of the decoded prefix). ``valid``: (height, width) of the real pixels
    (the rest is padding and not scored). ``bar``: a progress bar to advance once per step."""
    _check(steps, lr)
    with torch.no_grad():
        z0 = model.latents(images)
    if steps == 0:
        return z0
    hv, wv = valid if valid is not None else images.shape[-2:]
    target = images[..., :hv, :wv]
    u = z0.clone().requires_grad_(True)
    rms = float(z0.pow(2).mean().sqrt()) or 1.0
    opt = torch.optim.Adam([u], lr=lr * rms)
    for _ in range(steps):
        with torch.no_grad():
            code = model.quantizer.decode(_tokens(model, u, stages))
        with torch.enable_grad():
            zq = u + (code - u).detach()  # straight-through: the decoder sees the code, u gets its gradient
            rec = model.decoder(model.quant_out(zq))[..., :hv, :wv]
            loss = F.mse_loss(rec, target)
            (grad,) = torch.autograd.grad(loss, [u])  # no weight gradients are formed or stored
        u.grad = grad
        opt.step()
        if bar is not None:
            bar.update(1)
    return u.detach()


def encode_refined(model, images: Tensor, steps: int, stages: int | None = None, valid: tuple[int, int] | None = None,
                   tile: int = TILE, margin: int = MARGIN, lr: float = LR, progress: bool = False, one_pass: int = ONE_PASS) -> Tensor:
    """Tokens of ``images`` (b, 3, H, W) in [-1, 1] (H, W multiples of f) after ``steps`` steps of
    refinement, in the tiles of :func:`npq.models.tiling.encode_tiled` (``tile <= 0``: one
    pass). ``valid``: (height, width) of the real pixels. Returns (b, h, w) or (b, h, w, stages)."""
    _check(steps, lr)
    hv, wv = valid if valid is not None else images.shape[-2:]
    n = tile_count(model, images.shape[-2], images.shape[-1], tile, one_pass)
    bar = progress_bar(None, f"refining ({steps} steps{'' if n == 1 else f' x {n} tiles'})", enabled=progress and steps > 0,
                       total=steps * n)

    def encode(px: Tensor, at: tuple[int, int]) -> Tensor:
        inside = (min(px.shape[-2], hv - at[0]), min(px.shape[-1], wv - at[1]))
        return _tokens(model, refine_latents(model, px, steps, stages, lr, inside, bar), stages)

    with bar:
        return encode_tiled(model, images, tile, margin, encode, one_pass)
