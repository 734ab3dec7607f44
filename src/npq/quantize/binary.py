"""Binary quantizers: codes {±s}^d, one sign per coordinate (LFQ, BSQ).

Index convention: coordinate 0 is the most significant bit; a positive coordinate is bit 1 (as
vector-quantize-pytorch's ``LFQ``). A coordinate equal to 0 quantizes to ``-s``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Quantizer, QuantizerOutput, batch_usage, check_positive_int, check_weight, commitment_loss, l2_normalize
from .entropy import EntropyLoss, binary_entropy_terms
from .estimators import straight_through
from .registry import register

__all__ = ["BinaryQuantizer", "LFQ", "BSQ", "bits_to_index", "index_to_bits"]


def bits_to_index(positive: Tensor) -> Tensor:
    """``(n, d)`` booleans (coordinate > 0) -> int64 indices, coordinate 0 the MSB."""
    d = positive.shape[-1]
    weights = torch.pow(2, torch.arange(d - 1, -1, -1, device=positive.device, dtype=torch.int64))
    return (positive.long() * weights).sum(-1)


def _bits_of(indices: Tensor, d: int) -> Tensor:
    """``index_to_bits`` for indices of any shape: ``(...)`` -> ``(..., d)``."""
    return index_to_bits(indices.reshape(-1), d).reshape(*indices.shape, d)


def index_to_bits(indices: Tensor, d: int) -> Tensor:
    """int64 indices ``(n,)`` -> ``(n, d)`` {0, 1} int64, coordinate 0 the MSB."""
    shifts = torch.arange(d - 1, -1, -1, device=indices.device, dtype=torch.int64)
    return (indices[:, None] >> shifts) & 1


class BinaryQuantizer(Quantizer):
    """Base of LFQ and BSQ: codes {±s}^d, sign quantization with STE, optional entropy and
    commitment losses. Subclasses set the code magnitude ``_scale()`` and may transform the
    input first (``_prepare``, e.g. l2 normalization).

    Args:
        dim: latent dimension d (<= 62 so that indices fit in int64); 2^d codes.
        entropy: entropy regularizer (an :class:`EntropyLoss`, a dict of its fields, a float
            weight, or None).
        commitment_weight: weight of ``mean((u - sg(q))^2)`` (0 disables).
    """

    def __init__(self, dim: int, entropy: EntropyLoss | dict | float | None = None, commitment_weight: float = 0.0):
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        if self.dim > 62:
            raise ValueError(f"dim must be <= 62 so that indices fit in int64, got {dim}")
        self.entropy = EntropyLoss.coerce(entropy)
        self.commitment_weight = check_weight("commitment_weight", commitment_weight)

    @property
    def codebook_size(self) -> int:
        return 1 << self.dim

    def _scale(self) -> float:
        """Code magnitude per coordinate."""
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
            loss = loss + commitment_loss(u, q, self.commitment_weight)
        if self.dim <= 22:
            stats.update(batch_usage(indices, self.codebook_size))
        stats["bit_balance"] = positive.float().mean()
        return QuantizerOutput(straight_through(u, q), indices, loss, stats)

    def _encode(self, z: Tensor) -> Tensor:
        return bits_to_index(self._prepare(z) > 0)

    def label_schemes(self) -> dict:
        """``"index"`` and ``"bits"``: d binary labels, bit t of the index (coordinate 0 most
        significant, as Infinity's bitwise head predicts them)."""
        from .labels import LabelScheme

        d = self.dim
        return {**super().label_schemes(),
                "bits": LabelScheme("bits", (2,) * d, lambda i: _bits_of(torch.as_tensor(i).long(), d),
                                    lambda lab: bits_to_index(torch.as_tensor(lab) > 0))}

    def _decode(self, indices: Tensor) -> Tensor:
        s = self._scale()
        return index_to_bits(indices, self.dim).float() * (2 * s) - s


@register("lfq", title="LFQ", example={"dim": 18}, tableau={"dim": 16}, construction="G = 2 I_d, offset -1: {±1}^d",
          constraints="corners of the cube", needs_entropy_reg=True, geometry="lfq")
class LFQ(BinaryQuantizer):
    """Lookup-free quantization (Yu et al., 2024, MAGVIT-v2): codes {±scale}^dim, ``sign(z)``, STE.

    Args:
        dim: latent dimension d; the codebook has 2^d codes.
        scale: code magnitude per coordinate.
        entropy: entropy regularizer; LFQ needs it to avoid codebook collapse.
        commitment_weight: weight of ``mean((z - sg(q))^2)`` (0 disables).
    """

    def __init__(self, dim: int, scale: float = 1.0, entropy: EntropyLoss | dict | float | None = None, commitment_weight: float = 0.0):
        super().__init__(dim, entropy, commitment_weight)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        self.scale = float(scale)

    def _scale(self) -> float:
        return self.scale


@register("bsq", title="BSQ", example={"dim": 18}, tableau={"dim": 16}, construction="G = (2/√d) I_d, offset -1/√d: {±1/√d}^d",
          constraints="‖λ‖ = 1", needs_entropy_reg=True, geometry="bsq")
class BSQ(BinaryQuantizer):
    """Binary spherical quantization (Zhao et al., 2024).

    ``u = z / ||z||``, code ``sign(u) / sqrt(d)``, STE. Entropy regularization (strongly advised;
    BSQ collapses without it) uses the analytic per-sample entropy and grouped sub-codebooks for
    the codebook entropy (``EntropyLoss.group_size``).
    """

    def _scale(self) -> float:
        return 1.0 / math.sqrt(self.dim)

    def _prepare(self, z: Tensor) -> Tensor:
        return l2_normalize(z)
