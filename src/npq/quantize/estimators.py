"""Gradient estimators for the non-differentiable quantization step.

``straight_through(z, q)`` returns exactly ``q`` in the forward pass (bit for bit, unlike the
common ``z + (q - z).detach()``, which can differ from ``q`` by a rounding error) and passes the
upstream gradient to ``z`` unchanged (identity Jacobian).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["straight_through"]


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        return q.detach().clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad, None


def straight_through(z: Tensor, q: Tensor) -> Tensor:
    """Straight-through estimator: value ``q``, gradient w.r.t. ``z`` the identity.

    Args:
        z: continuous input ``(..., d)``.
        q: its quantized value, same shape.
    """
    if not z.requires_grad:
        return q.detach()
    return _StraightThrough.apply(z, q)
