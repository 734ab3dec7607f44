"""Gradient estimators for the non-differentiable quantization step.

Every estimator returns *exactly* the quantized value in the forward pass (bit for bit, unlike
``z + (q - z).detach()``, which can differ from ``q`` by a rounding error) and differs only in the
gradient it passes back:

* :func:`straight_through` - identity Jacobian (Bengio et al., 2013).
* :func:`rotation_trick` - Jacobian ``(||q|| / ||z||) R`` with R the rotation taking z/||z|| to
  q/||q|| built from two Householder reflections (Fifty et al., 2025); computed without forming
  any d x d matrix.
* :func:`index_backprop` - ``(onehot - sg(p) + p) @ C`` with ``p = softmax(z^T C)`` (Shi et al.,
  2025): the forward value is the one-hot (argmax) codeword, the backward pass that of the softmax.
* :func:`gumbel_softmax_codes` - ``softmax((l + g) / tau) @ C`` with Gumbel noise g, optionally
  hard (one-hot forward, soft backward) (Jang et al., 2017).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["straight_through", "rotation_trick", "index_backprop", "gumbel_softmax_codes"]

_EPS = 1e-12


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        return q.detach().clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad, None


def straight_through(z: Tensor, q: Tensor) -> Tensor:
    """Value ``q``; gradient w.r.t. ``z`` the identity. Shapes ``(..., d)``."""
    if not z.requires_grad:
        return q.detach()
    return _StraightThrough.apply(z, q)


class _RotationTrick(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, q: Tensor) -> Tensor:  # type: ignore[override]
        zn = z.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        qn = q.norm(dim=-1, keepdim=True)
        zu, qu = z / zn, q / qn.clamp_min(_EPS)
        s = zu + qu
        r = s / s.norm(dim=-1, keepdim=True).clamp_min(_EPS)
        ctx.save_for_backward(zu, qu, r, qn / zn)
        return q.detach().clone()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        zu, qu, r, lam = ctx.saved_tensors
        # (lam R)^T g with R = I - 2 r r^T + 2 qu zu^T  =>  R^T g = g - 2 r (r.g) + 2 zu (qu.g)
        rg = (r * grad).sum(-1, keepdim=True)
        qg = (qu * grad).sum(-1, keepdim=True)
        return lam * (grad - 2 * r * rg + 2 * zu * qg), None


def rotation_trick(z: Tensor, q: Tensor) -> Tensor:
    """Value ``q``; gradient ``(||q||/||z||) R^T g`` where R rotates z/||z|| onto q/||q||.

    Args:
        z: encoder output ``(..., d)``.
        q: its codeword ``(..., d)`` (treated as a constant).
    """
    if not z.requires_grad:
        return q.detach()
    return _RotationTrick.apply(z, q.detach())


def index_backprop(logits: Tensor, codebook: Tensor, indices: Tensor) -> Tensor:
    """Index backpropagation (IBQ): ``(onehot - sg(p) + p) @ codebook`` with ``p = softmax(logits)``.

    The value is exactly ``codebook[indices]``. The codebook's gradient is the one of IBQ's
    definition: the selected rows get the output gradient directly (through the one-hot, not
    through ``p``), and every row also gets the softmax path through the logits; the input's
    gradient flows only through the logits.

    Args:
        logits: ``(n, K)``, e.g. ``z @ codebook.T``.
        codebook: ``(K, d)``.
        indices: ``(n,)`` argmax of the logits.
    """
    p = torch.softmax(logits, -1)
    # (p - sg(p)) @ C is exactly 0 in value; its gradient is the softmax path
    return codebook[indices] + (p - p.detach()) @ codebook


def gumbel_softmax_codes(
    logits: Tensor, codebook: Tensor, tau: float, hard: bool, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Gumbel-softmax relaxation: ``(codes (n, d), indices (n,))``.

    ``y = softmax((logits + g) / tau)``, g ~ Gumbel(0, 1); codes ``y @ codebook``; with
    ``hard=True`` the forward value is the codeword of ``argmax y`` (exactly) and the gradient
    that of the soft codes.
    """
    u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    g = -torch.log(-torch.log(u.clamp(_EPS, 1 - 1e-7)))
    y = F.softmax((logits + g) / tau, dim=-1)
    idx = y.argmax(-1)
    soft = y @ codebook
    if hard:
        return straight_through(soft, codebook[idx]), idx
    return soft, idx
