"""Product spherical codes: a d-dimensional vector split into blocks, each quantized on its own
shell, so the rate can be chosen between a few bits and ~36 bits without a learned codebook
(e.g. 24 = 16 + 8 -> Λ16 x E8, 12.08 + 7.91 bits; 24 = 8 + 8 + 8 -> E8^3, 23.72 bits).

A codeword is the concatenation of the blocks' unit codewords divided by √(number of blocks), a
unit vector. Since ``<x, (c_1, ..., c_k)> = Σ_b <x_b, c_b>``, the nearest codeword is the nearest
codeword of each block independently (exact when each block's search is). Index: mixed radix,
first block most significant (``i = ((i_1 s_2 + i_2) s_3 + i_3) ...``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .code import SphericalCode

__all__ = ["ProductCode"]


class ProductCode(SphericalCode):
    """The product of spherical codes ``blocks`` (each on its own coordinates, in order)."""

    def __init__(self, blocks: list[SphericalCode]):
        if not blocks or not all(isinstance(b, SphericalCode) for b in blocks):
            raise ValueError("a product code needs a non-empty list of spherical codes")
        self.blocks = list(blocks)
        self.dim = sum(b.dim for b in blocks)
        self.size = math.prod(b.size for b in blocks)
        if self.size >= 1 << 62:
            raise ValueError(f"the product has {self.size:.3g} codewords; indices must fit in int64 (< 2^62)")
        self.name = " x ".join(b.name for b in blocks)
        self._radix = [math.prod(b.size for b in blocks[i + 1 :]) for i in range(len(blocks))]

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Codeword of each product index (int ``idx`` of any shape, values in [0, size)):
        ``(*idx.shape, dim)`` unit vectors of ``dtype``, the factors' codewords concatenated
        and scaled by 1/sqrt(factors)."""
        idx = torch.as_tensor(idx)
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise ValueError(f"idx must be an integer tensor, got dtype {idx.dtype}")
        idx = idx.long()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.size):
            raise ValueError(f"idx must lie in [0, {self.size - 1}] for {self.name}")
        parts = [b.index_to_vector((idx // r) % b.size, dtype) for b, r in zip(self.blocks, self._radix)]
        return torch.cat(parts, -1) / math.sqrt(len(self.blocks))

    def vector_to_index(self, v: Tensor) -> Tensor:
        v = torch.as_tensor(v, dtype=torch.float64) * math.sqrt(len(self.blocks))
        out, start = torch.zeros(v.shape[:-1], dtype=torch.int64), 0
        for b, r in zip(self.blocks, self._radix):
            out = out + r * b.vector_to_index(v[..., start : start + b.dim])
            start += b.dim
        return out

    def _nearest(self, x: Tensor) -> Tensor:
        out, start = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device), 0
        for b, r in zip(self.blocks, self._radix):
            out = out + r * b._nearest(x[:, start : start + b.dim])
            start += b.dim
        return out
