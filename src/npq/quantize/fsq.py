"""Finite scalar quantization (FSQ): each coordinate rounded to one of L_i levels.

Index convention: mixed radix with coordinate 0 the least significant digit (as in the FSQ paper
and vector-quantize-pytorch); digit = level index in ``[0, L_i)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .base import Quantizer, QuantizerOutput, batch_usage
from .estimators import straight_through
from .registry import register

__all__ = ["FSQ", "FSQ_PRESETS"]

# Levels recommended by the FSQ paper (Mentzer et al., ICLR 2024, Table 1) per target codebook size.
FSQ_PRESETS: dict[int, list[int]] = {
    8: [8, 6, 5],
    10: [8, 5, 5, 5],
    12: [7, 5, 5, 5, 5],
    14: [8, 8, 8, 6, 5],
    16: [8, 8, 8, 5, 5, 5],
}


@register("fsq", title="FSQ", example={"bits": 16}, construction="G = diag(1/⌊L_i/2⌋) on ∏{-⌊L_i/2⌋..}, L = [8,8,8,5,5,5]",
          constraints="box ‖λ‖∞ ≤ 1")
class FSQ(Quantizer):
    """Finite scalar quantization (Mentzer et al., 2024).

    Each coordinate is bounded with ``tanh`` (shifted by ``atanh`` for even level counts so that
    the L levels are symmetric around the rounding grid), rounded with STE, and rescaled to
    [-1, 1]. Codes of coordinate i are ``(k - L_i // 2) / (L_i // 2)`` for ``k in [0, L_i)``.

    Args:
        levels: number of levels per coordinate, each >= 3; ``dim == len(levels)``.
        bits: instead of ``levels``, the FSQ paper's levels for about 2^bits codes
            (bits in 8, 10, 12, 14, 16; see ``FSQ_PRESETS``).
        eps: the bound's safety margin (1e-3 as in the paper's code).
    """

    def __init__(self, levels: Sequence[int] | None = None, *, bits: int | None = None, eps: float = 1e-3):
        super().__init__()
        if (levels is None) == (bits is None):
            raise ValueError("FSQ needs exactly one of levels=[...] or bits=<8|10|12|14|16>")
        if bits is not None:
            if bits not in FSQ_PRESETS:
                raise ValueError(f"no FSQ preset for {bits} bits; choose one of {sorted(FSQ_PRESETS)}")
            levels = FSQ_PRESETS[bits]
        if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or len(levels) == 0:
            raise ValueError(f"levels must be a non-empty sequence of ints >= 3, got {levels!r}")
        bad = [v for v in levels if isinstance(v, bool) or not isinstance(v, int) or v < 3]
        if bad:
            raise ValueError(
                f"levels must be ints >= 3 (use LFQ/BSQ for binary codes), got {list(levels)!r}"
            )
        self.levels = [int(v) for v in levels]
        self.dim = len(self.levels)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
            raise ValueError(f"eps must be a number in [0, 1), got {eps!r}")
        self.eps = float(eps)
        lv = torch.tensor(self.levels, dtype=torch.float32)
        basis = torch.cumprod(torch.tensor([1] + self.levels[:-1], dtype=torch.int64), 0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        self.register_buffer("_half_width", torch.floor(lv / 2), persistent=False)

    @classmethod
    def preset(cls, bits: int, eps: float = 1e-3) -> "FSQ":
        """The FSQ paper's levels for a codebook of about 2^bits codes (same as ``FSQ(bits=bits)``)."""
        return cls(bits=bits, eps=eps)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: Tensor) -> Tensor:
        """Map ``z`` ``(..., d)`` into the open interval per dimension whose rounding gives exactly L_i
        levels (same shape)."""
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
        stats = batch_usage(indices, self.codebook_size)
        return QuantizerOutput(z_q, indices, z.new_zeros(()), stats)

    def _digits_to_index(self, rounded: Tensor) -> Tensor:
        return ((rounded + self._half_width).long() * self._basis).sum(-1)

    def _encode(self, z: Tensor) -> Tensor:
        return self._digits_to_index(self._digits(z))

    def label_schemes(self) -> dict:
        """``"index"`` and ``"levels"``: one label per dimension, its level 0..L_i-1 (the index's
        mixed-radix digit, coordinate 0 least significant)."""
        from .labels import LabelScheme

        lv = torch.tensor(self.levels)
        basis = torch.cumprod(torch.tensor([1] + self.levels[:-1]), 0)
        return {**super().label_schemes(),
                "levels": LabelScheme("levels", tuple(self.levels), lambda i: (torch.as_tensor(i).long()[..., None] // basis) % lv,
                                      lambda lab: (torch.as_tensor(lab).long() * basis).sum(-1))}

    def _decode(self, indices: Tensor) -> Tensor:
        digits = (indices[:, None] // self._basis) % self._levels.long()
        return (digits.float() - self._half_width) / self._half_width

    def extra_repr(self) -> str:
        return f"levels={self.levels}, " + super().extra_repr()
