"""Entropy regularization of the seed (LFQ, BSQ, and any small explicit codebook).

    L = E_z[ H(q(.|z)) ] - gamma * H( E_z[ q(.|z)] ),   q(c|z) ∝ exp(-tau * ||c - z||^2)

The first term (clustering) pulls each latent towards one code; the second (diversity) spreads
the batch over the codebook, i.e. equalizes the Voronoi cells' probability mass.

Binary codebooks {±s}^d factorize: q(c|z) = prod_i q_i(c_i | z_i), so the per-sample entropy is
exact and cheap (sum of d binary entropies, the BSQ "analytic" term). The codebook entropy of the
batch-averaged distribution does not factorize; it is computed

* exactly over all 2^d codes when ``group_size >= d`` (default for d <= 16), or
* over groups of ``group_size`` consecutive bits (BSQ's sub-codebooks; default 8 for d > 16): the sum of the group
  entropies, an upper bound of the joint entropy by subadditivity.

Entropies are in nats internally; ``stats`` reports bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..utils.histogram import entropy

__all__ = [
    "EntropyLoss",
    "binary_entropy_terms",
    "explicit_entropy_terms",
    "entropy",
]

_EXACT_MAX_BITS = 16
_DEFAULT_GROUP = 8


def _all_sign_patterns(g: int, device, dtype) -> Tensor:
    """(2^g, g) matrix of ±1; row k has +1 at bit j of k (MSB first, as LFQ indices)."""
    k = torch.arange(1 << g, device=device)
    bits = (k[:, None] >> torch.arange(g - 1, -1, -1, device=device)) & 1
    return bits.to(dtype) * 2 - 1


def binary_entropy_terms(z: Tensor, scale: float, tau: float, group_size: int | None = None) -> tuple[Tensor, Tensor]:
    """(mean per-sample entropy, codebook entropy) in nats for the binary code {±scale}^d.

    Args:
        z: ``(n, d)`` float latents (already normalized for BSQ).
        scale: code magnitude per coordinate (1 for LFQ, 1/sqrt(d) for BSQ).
        tau: inverse temperature of the soft assignment.
        group_size: bits per sub-codebook for the codebook entropy; ``None`` means exact
            (all d bits) when d <= 16, else groups of 8 bits. Memory is ``n * 2^group_size``.
    """
    n, d = z.shape
    # per-coordinate logits: q_i(+s | z_i) = sigmoid(4 tau s z_i), since
    # -(s - z)^2 + (-s - z)^2 = 4 s z
    logit = 4.0 * tau * scale * z
    ls_pos, ls_neg = F.logsigmoid(logit), F.logsigmoid(-logit)
    per_sample = -(ls_pos.exp() * ls_pos + ls_neg.exp() * ls_neg).sum(-1).mean()

    g = group_size if group_size is not None else (d if d <= _EXACT_MAX_BITS else _DEFAULT_GROUP)
    cb = z.new_zeros(())
    for start in range(0, d, g):
        sl = slice(start, min(start + g, d))
        bits = (_all_sign_patterns(sl.stop - start, z.device, z.dtype) + 1) / 2  # (2^g, g) in {0,1}
        # log q(sub-code | z) = sum_i [b_i log sigmoid(l_i) + (1 - b_i) log sigmoid(-l_i)]
        logq = ls_pos[:, sl] @ bits.T + ls_neg[:, sl] @ (1 - bits).T  # (n, 2^g)
        cb = cb + entropy(logq.exp().mean(0))
    return per_sample, cb


def explicit_entropy_terms(z: Tensor, codebook: Tensor, tau: float, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """(mean per-sample entropy, codebook entropy) in nats for an explicit codebook ``(K, d)``.

    Exact softmax over all K codes of ``-tau * ||c - z||^2``; meant for small codebooks.
    """
    per_sample = z.new_zeros(())
    avg = z.new_zeros(codebook.shape[0])
    c2 = (codebook * codebook).sum(-1)
    for s in range(0, z.shape[0], chunk):
        zz = z[s : s + chunk]
        d2 = (zz * zz).sum(-1, keepdim=True) - 2 * zz @ codebook.T + c2
        q = torch.softmax(-tau * d2, -1)
        per_sample = per_sample + entropy(q).sum()
        avg = avg + q.sum(0)
    n = max(z.shape[0], 1)
    return per_sample / n, entropy(avg / n)


@dataclass
class EntropyLoss:
    """Configuration of the entropy regularizer; ``weight * (E[H(q)] - gamma * H(E[q]))``.

    Args:
        weight: overall loss weight (0 disables the term).
        gamma: weight of the diversity (codebook entropy) term; > 1 is common for big codebooks.
        tau: inverse temperature of q(c|z) ∝ exp(-tau ||c - z||^2).
        group_size: bits per sub-codebook for binary codes (None: exact up to 16 bits).
    """

    weight: float = 0.1
    gamma: float = 1.0
    tau: float = 1.0
    group_size: int | None = None

    def __post_init__(self) -> None:
        for name in ("weight", "gamma", "tau"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"EntropyLoss.{name} must be a finite number >= 0, got {v!r}")
        if self.tau == 0:
            raise ValueError("EntropyLoss.tau must be > 0, got 0")
        if self.group_size is not None and (
            isinstance(self.group_size, bool) or not isinstance(self.group_size, int) or not 1 <= self.group_size <= 20
        ):
            raise ValueError(f"EntropyLoss.group_size must be an int in [1, 20] or None, got {self.group_size!r}")

    @classmethod
    def coerce(cls, value: "EntropyLoss | dict | float | None") -> "EntropyLoss | None":
        """Accept an EntropyLoss, a dict of its fields, a float weight, or None."""
        if value is None or isinstance(value, EntropyLoss):
            return value
        if isinstance(value, dict):
            return cls(**value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(weight=float(value))
        raise ValueError(f"entropy must be an EntropyLoss, a dict, a float weight or None, got {value!r}")

    def combine(self, per_sample: Tensor, codebook: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, stats)`` from the mean per-sample entropy and the codebook (batch-average) entropy,
        both scalars in nats: ``weight * (per_sample - gamma * codebook)``, with both in
        bits in ``stats``."""
        loss = self.weight * (per_sample - self.gamma * codebook)
        ln2 = math.log(2)
        return loss, {
            "per_sample_entropy_bits": per_sample.detach() / ln2,
            "codebook_entropy_bits": codebook.detach() / ln2,
        }
