"""A new quantizer in one file: the first shell of Z^d (the 2d vectors ±e_i, the cross-polytope).

Import this module once and ``make("cross-polytope", dim=24)`` works, and ``npq list``, the tour
and the grand tableau include it (docs/extending.md walks through it; a test runs it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from npq.quantize import Quantizer, QuantizerOutput, register
from npq.quantize.base import batch_usage, check_positive_int, l2_normalize
from npq.quantize.estimators import straight_through


@register("cross-polytope", title="Zⁿ shell d={dim}", example={"dim": 24}, construction="Z^d, first shell: ±e_i",
          constraints="‖λ‖ = 1", geometry="transitive")
class CrossPolytope(Quantizer):
    """Codes ±e_i (2 dim of them, log2(2 dim) bits); index ``2 i + (x_i < 0)``.

    The nearest unit codeword to a direction x is the signed axis of its largest |x_i| (lowest i
    among equal magnitudes, as every npq decoder breaks ties by the lowest index).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = check_positive_int("dim", dim)

    @property
    def codebook_size(self) -> int:
        return 2 * self.dim

    def _encode(self, z: Tensor) -> Tensor:  # (n, dim) float32 -> (n,) int64
        i = z.abs().argmax(-1)
        neg = z.gather(-1, i[:, None])[:, 0] < 0
        return 2 * i + neg.long()

    def _decode(self, indices: Tensor) -> Tensor:  # (n,) int64 -> (n, dim) float32
        codes = torch.zeros(indices.shape[0], self.dim, device=indices.device)
        codes[torch.arange(indices.shape[0], device=indices.device), indices // 2] = 1.0 - 2.0 * (indices % 2).float()
        return codes

    def _quantize(self, z: Tensor) -> QuantizerOutput:
        u = l2_normalize(z)
        idx = self._encode(u)
        q = self._decode(idx)
        return QuantizerOutput(straight_through(u, q), idx, z.new_zeros(()), batch_usage(idx, self.codebook_size))


assert math.isclose(CrossPolytope(24).bits_per_token, math.log2(48))
