"""Scalar (per-coordinate) quantizers: LFQ and FSQ.

Index conventions (documented because papers and libraries differ):

* LFQ / BSQ: coordinate 0 is the most significant bit; a positive coordinate is bit 1
  (the same as vector-quantize-pytorch's ``LFQ``). ``z_i == 0`` quantizes to ``-scale``.
* FSQ: mixed radix with coordinate 0 the least significant digit (as in the FSQ paper and
  vector-quantize-pytorch); digit = level index in ``[0, L_i)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Quantizer, QuantizerOutput, check_positive_int, usage_stats
from .entropy import EntropyLoss, binary_entropy_terms
from .estimators import straight_through

__all__ = ["LFQ", "FSQ", "FSQ_PRESETS", "bits_to_index", "index_to_bits"]

# Levels recommended by the FSQ paper (Mentzer et al., ICLR 2024, Table 1) per target codebook size.
FSQ_PRESETS: dict[int, list[int]] = {
    8: [8, 6, 5],
    10: [8, 5, 5, 5],
    12: [7, 5, 5, 5, 5],
    14: [8, 8, 8, 6, 5],
    16: [8, 8, 8, 5, 5, 5],
}


def bits_to_index(positive: Tensor) -> Tensor:
    """``(n, d)`` booleans (coordinate > 0) -> int64 indices, coordinate 0 the MSB."""
    d = positive.shape[-1]
    weights = torch.pow(2, torch.arange(d - 1, -1, -1, device=positive.device, dtype=torch.int64))
    return (positive.long() * weights).sum(-1)


def index_to_bits(indices: Tensor, d: int) -> Tensor:
    """int64 indices ``(n,)`` -> ``(n, d)`` {0, 1} int64, coordinate 0 the MSB."""
    shifts = torch.arange(d - 1, -1, -1, device=indices.device, dtype=torch.int64)
    return (indices[:, None] >> shifts) & 1


class _BinaryQuantizer(Quantizer):
    """Shared code of LFQ and BSQ: codes {±s}^d, sign quantization, optional entropy loss."""

    def __init__(self, dim: int, entropy: EntropyLoss | dict | float | None, commitment_weight: float):
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        if self.dim > 62:
            raise ValueError(f"dim must be <= 62 so that indices fit in int64, got {dim}")
        if not isinstance(commitment_weight, (int, float)) or not commitment_weight >= 0:
            raise ValueError(f"commitment_weight must be a number >= 0, got {commitment_weight!r}")
        self.entropy = EntropyLoss.coerce(entropy)
        self.commitment_weight = float(commitment_weight)

    @property
    def codebook_size(self) -> int:
        return 1 << self.dim

    # code magnitude per coordinate and the pre-quantization transform
    def _scale(self) -> float:
        raise NotImplementedError

    def _prepare(self, z: Tensor) -> Tensor:
        return z

    def _quantize(self, z: Tensor) -> QuantizerOutput:
        u = self._prepare(z)
        s = self._scale()
        positive = u > 0
        q = torch.where(positive, s, -s)
        indices = bits_to_index(positive)
        loss = z.new_zeros(())
        stats: dict[str, Tensor] = {}
        if self.entropy is not None and self.entropy.weight > 0:
            per_sample, cb = binary_entropy_terms(u, s, self.entropy.tau, self.entropy.group_size)
            ent_loss, ent_stats = self.entropy.combine(per_sample, cb)
            loss = loss + ent_loss
            stats.update(ent_stats)
        if self.commitment_weight > 0:
            loss = loss + self.commitment_weight * (u - q.detach()).pow(2).mean()
        if self.dim <= 22:
            stats.update(usage_stats(indices, self.codebook_size))
        stats["bit_balance"] = positive.float().mean()
        return QuantizerOutput(straight_through(u, q), indices, loss, stats)

    def _encode(self, z: Tensor) -> Tensor:
        return bits_to_index(self._prepare(z) > 0)

    def _decode(self, indices: Tensor) -> Tensor:
        s = self._scale()
        return index_to_bits(indices, self.dim).float() * (2 * s) - s


class LFQ(_BinaryQuantizer):
    """Lookup-free quantization (Yu et al., 2024): codes {±scale}^dim, ``sign(z)`` with STE.

    Args:
        dim: latent dimension d; the codebook has 2^d codes.
        scale: code magnitude per coordinate.
        entropy: entropy regularizer (an :class:`EntropyLoss`, a dict of its fields, a float
            weight, or None). LFQ needs it to avoid codebook collapse.
        commitment_weight: weight of ``||z - sg(q)||^2`` (0 disables).
    """

    def __init__(
        self,
        dim: int,
        scale: float = 1.0,
        entropy: EntropyLoss | dict | float | None = None,
        commitment_weight: float = 0.0,
    ):
        super().__init__(dim, entropy, commitment_weight)
        if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        self.scale = float(scale)

    def _scale(self) -> float:
        return self.scale


class FSQ(Quantizer):
    """Finite scalar quantization (Mentzer et al., 2024).

    Each coordinate is bounded with ``tanh`` (shifted by ``atanh`` for even level counts so that
    the L levels are symmetric around the rounding grid), rounded with STE, and rescaled to
    [-1, 1]. Codes of coordinate i are ``(k - L_i // 2) / (L_i // 2)`` for ``k in [0, L_i)``.

    Args:
        levels: number of levels per coordinate, each >= 3; ``dim == len(levels)``.
        eps: the bound's safety margin (1e-3 as in the paper's code).
    """

    def __init__(self, levels: Sequence[int], eps: float = 1e-3):
        super().__init__()
        if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or len(levels) == 0:
            raise ValueError(f"levels must be a non-empty sequence of ints >= 3, got {levels!r}")
        bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, int) or v < 3]
        if bad:
            raise ValueError(
                f"levels must be ints >= 3 (use LFQ/BSQ for binary codes), got {list(levels)!r}"
            )
        self.levels = [int(v) for v in levels]
        self.dim = len(self.levels)
        self.eps = float(eps)
        lv = torch.tensor(self.levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1] + self.levels[:-1], dtype=torch.int64), 0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        self.register_buffer("_half_width", torch.floor(lv / 2), persistent=False)

    @classmethod
    def preset(cls, bits: int) -> "FSQ":
        """The FSQ paper's levels for a codebook of about 2^bits codes (bits in 8, 10, 12, 14, 16)."""
        if bits not in FSQ_PRESETS:
            raise ValueError(f"no FSQ preset for {bits} bits; choose one of {sorted(FSQ_PRESETS)}")
        return cls(FSQ_PRESETS[bits])

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: Tensor) -> Tensor:
        """Map ``z`` into the open interval whose rounding gives exactly L_i levels."""
        half_l = (self._levels - 1) * (1 + self.eps) / 2
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = torch.atanh(offset / half_l)
        return torch.tanh(z + shift) * half_l - offset

    def _digits(self, z: Tensor) -> Tensor:
        return torch.round(self.bound(z))  # integer level values in [-h, h] (or [-h, h-1])

    def _quantize(self, z: Tensor) -> QuantizerOutput:
        bounded = self.bound(z)
        rounded = torch.round(bounded)
        # STE through the rounding only (the tanh bound keeps its gradient), as in the paper
        z_q = straight_through(bounded, rounded) / self._half_width
        indices = self._digits_to_index(rounded)
        stats = usage_stats(indices, self.codebook_size) if self.codebook_size <= 1 << 22 else {}
        return QuantizerOutput(z_q, indices, z.new_zeros(()), stats)

    def _digits_to_index(self, rounded: Tensor) -> Tensor:
        return ((rounded + self._half_width).long() * self._basis).sum(-1)

    def _encode(self, z: Tensor) -> Tensor:
        return self._digits_to_index(self._digits(z))

    def _decode(self, indices: Tensor) -> Tensor:
        digits = (indices[:, None] // self._basis) % self._levels.long()
        return (digits.float() - self._half_width) / self._half_width

    def extra_repr(self) -> str:
        return f"levels={self.levels}, " + super().extra_repr()
