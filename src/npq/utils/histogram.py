"""Entropy, perplexity and usage of a histogram of code indices: one definition for the library
(the quantizers' per-batch statistics, the evaluation's codebook usage, the tour)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["entropy", "entropy_nats", "entropy_bits", "usage_stats"]


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Shannon entropy in nats of probability vectors along ``dim`` (0 log 0 = 0)."""
    return -(p * torch.log(p.clamp_min(1e-30))).sum(dim)


def entropy_nats(counts: Tensor) -> Tensor:
    """Shannon entropy (nats) of the empirical distribution ``counts / counts.sum()``."""
    return entropy(counts / counts.sum().clamp_min(1))


def entropy_bits(counts: Tensor) -> float:
    """Entropy of the histogram in bits (computed in float64)."""
    return float(entropy_nats(counts.double())) / math.log(2)


def usage_stats(counts: Tensor) -> dict[str, Tensor]:
    """``usage`` (fraction of codes with a non-zero count) and ``perplexity`` (e^entropy in nats) of
    code counts ``(n_codes,)``, as 0-d tensors."""
    return {"usage": (counts > 0).float().mean(), "perplexity": entropy_nats(counts.float()).exp()}
