"""Encode and decode large images in overlapping tiles, so memory stays bounded whatever the
photo's size (the network's activations are those of one tile: ~0.3 GB for a 512-px core with its
margin through the shipped model, against ~0.85 GB for 1,024 px).

Each tile is a core of ``tile`` pixels (``tile / f`` tokens) plus a margin of ``margin`` tokens on
every side that is computed and thrown away. When the margin covers the network's receptive field
(:func:`receptive_radius` measures it), the kept tokens and pixels depend only on inputs the
tile holds, exactly as in the whole-image pass; the tests check equality against it. The bitstream
does not depend on the tiling: a file written with tiles decodes without, and back.

Convolutional tokenizers only: a ViT's global attention sees the whole image, so its tiles would
differ (and npq's ViT needs the training resolution anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from ..utils.memory import release_memory

__all__ = ["encode_tiled", "decode_tiled", "tile_count", "receptive_radius", "TILE", "MARGIN", "ONE_PASS"]

TILE = 512  # pixels per tile side (core) of an image too large for one pass
MARGIN = 8  # tokens of context on each side of a core
ONE_PASS = 1024  # images with no side over this many pixels go through in one pass


def _one_pass(h: int, w: int, core: int, f: int, tile: int, one_pass: int) -> bool:
    """Whether an image of h x w tokens goes through in one pass: ``tile <= 0``, or it fits in one
    core, or no side is over ``one_pass`` pixels."""
    return tile <= 0 or (h <= core and w <= core) or max(h, w) * f <= one_pass


def _spans(n: int, core: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """Cores [a, b) of ``core`` cells covering [0, n), each with its margin span [a', b')."""
    for a in range(0, n, core):
        b = min(a + core, n)
        yield a, b, max(0, a - margin), min(n, b + margin)


def _tiled(model) -> bool:
    return getattr(model.encoder, "tileable", True) and type(model.encoder).__name__ != "ViTEncoder"


@torch.no_grad()
def encode_tiled(model, images, tile: int = TILE, margin: int = MARGIN,
                 encode: Callable[[Tensor, tuple[int, int]], Tensor] | None = None, one_pass: int = ONE_PASS) -> Tensor:
    """``model.encode(images)`` computed tile by tile (images ``(b, 3, H, W)`` in [-1, 1], H and W
    multiples of the downsampling f: a tensor, or anything with ``shape`` and 4-d slicing such as
    :class:`npq.data.pixels.ImagePixels`); a single pass when no side is over ``one_pass`` pixels,
    the image fits in one tile, ``tile <= 0`` or the model is a ViT. ``encode(pixels, (y0, x0))``:
    another encoder of a tile (with its margin) whose top-left pixel is at (y0, x0) of
    ``images``, returning its tokens (default ``model.encode``). Returns ``(b, h, w[, stages])``."""
    encode = encode or (lambda px, _: model.encode(px))
    f = model.downsample
    h, w = images.shape[-2] // f, images.shape[-1] // f
    core = max(1, tile // f)
    if _one_pass(h, w, core, f, tile, one_pass) or not _tiled(model):
        return encode(images if isinstance(images, Tensor) else images.full(), (0, 0))
    out = None
    for i0, i1, e0, e1 in _spans(h, core, margin):
        for j0, j1, g0, g1 in _spans(w, core, margin):
            tok = encode(images[:, :, e0 * f : e1 * f, g0 * f : g1 * f], (e0 * f, g0 * f))
            release_memory()  # the tile's activations, before the next tile (npq.utils.memory)
            if out is None:
                out = torch.empty((images.shape[0], h, w, *tok.shape[3:]), dtype=tok.dtype, device=tok.device)
            out[:, i0:i1, j0:j1] = tok[:, i0 - e0 : i1 - e0, j0 - g0 : j1 - g0]
    return out


def tile_count(model, height: int, width: int, tile: int = TILE, one_pass: int = ONE_PASS) -> int:
    """Number of tiles :func:`encode_tiled` runs for an image of height x width pixels."""
    f = model.downsample
    core = max(1, tile // f)
    h, w = -(-height // f), -(-width // f)
    if _one_pass(h, w, core, f, tile, one_pass) or not _tiled(model):
        return 1
    return -(-h // core) * -(-w // core)


@torch.no_grad()
def decode_tiled(model, tokens: Tensor, tile: int = TILE, margin: int = MARGIN, one_pass: int = ONE_PASS,
                 emit: Callable[[Tensor, tuple[int, int]], None] | None = None) -> Tensor | None:
    """``model.decode(tokens)`` computed tile by tile (tokens ``(b, h, w)`` or ``(b, h, w, m)``;
    pixels ``(b, 3, h f, w f)`` in [-1, 1]); one pass under the conditions of :func:`encode_tiled`.
    ``emit(pixels, (y0, x0))``: called with each tile's core (its top-left pixel at (y0, x0))
    instead of assembling the whole image, which is then never in memory; returns None."""
    f = model.downsample
    h, w = tokens.shape[1], tokens.shape[2]
    core = max(1, tile // f)
    if _one_pass(h, w, core, f, tile, one_pass) or not _tiled(model):
        px = model.decode(tokens)
        return px if emit is None else emit(px, (0, 0))
    out = None
    for i0, i1, e0, e1 in _spans(h, core, margin):
        for j0, j1, g0, g1 in _spans(w, core, margin):
            px = model.decode(tokens[:, e0:e1, g0:g1])[:, :, (i0 - e0) * f : (i1 - e0) * f, (j0 - g0) * f : (j1 - g0) * f]
            release_memory()
            if emit is not None:
                emit(px, (i0 * f, j0 * f))
                continue
            if out is None:
                out = torch.empty((tokens.shape[0], px.shape[1], h * f, w * f), dtype=px.dtype, device=px.device)
            out[:, :, i0 * f : i1 * f, j0 * f : j1 * f] = px
    return out


@torch.no_grad()
def receptive_radius(model, size: int = 32) -> tuple[int, int]:
    """Measured receptive-field radius, in tokens, of the encoder (latents that change when one
    input pixel in the middle changes) and of the decoder (output pixels that change when one
    token's embedding changes): ``(encoder, decoder)``."""
    f = model.downsample
    x = torch.zeros(1, 3, size * f, size * f)
    base = model.latents(x)
    x[0, :, size * f // 2, size * f // 2] = 1.0
    changed = (model.latents(x) - base).abs().amax((0, 3)) > 0
    rows = torch.nonzero(changed.any(1)).flatten()
    enc = int(max(size // 2 - rows.min(), rows.max() - size // 2)) if len(rows) else 0
    z = torch.zeros(1, size, size, model.quantizer.dim)
    y0 = model.decoder(model.quant_out(z))
    z[0, size // 2, size // 2] = 1.0
    diff = (model.decoder(model.quant_out(z)) - y0).abs().amax((0, 1)) > 0
    prow = torch.nonzero(diff.any(1)).flatten()
    dec = int(max(size // 2 * f - prow.min(), prow.max() - size // 2 * f)) // f + 1 if len(prow) else 0
    return enc, dec
