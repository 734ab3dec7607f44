"""Losses of a generator's output heads over npq tokens.

* :func:`chunked_cross_entropy`: one softmax over a large vocabulary (196,560 Λ24 codes) with
  memory bounded by ``chunk`` rows: logits are computed ``chunk`` rows at a time and recomputed
  in the backward pass (activation checkpointing), so ``rows x vocabulary`` logits never exist at
  once. Equal to ``F.cross_entropy(hidden @ weight.T + bias, targets)`` (tested, values and
  gradients).
* :func:`factorized_cross_entropy`: a token as L labels (a :class:`~npq.quantize.labels.LabelScheme`:
  Λ24 coordinates, BSQ bits, FSQ levels), each predicted by its own softmax; the mean over labels
  of their cross-entropies, in nats per label (sum them for nats per token).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = ["chunked_cross_entropy", "factorized_cross_entropy"]


def _chunk_loss(h: Tensor, weight: Tensor, bias: Tensor | None, t: Tensor) -> Tensor:
    logits = F.linear(h, weight, bias)
    if logits.dtype in (torch.float16, torch.bfloat16):  # the softmax in float32 under autocast
        logits = logits.float()
    return F.cross_entropy(logits, t, reduction="sum")


def chunked_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, bias: Tensor | None = None, chunk: int = 1024) -> Tensor:
    """Mean cross-entropy (nats) of ``targets`` ``(N,)`` under logits ``hidden @ weight.T + bias``.

    Args:
        hidden: ``(N, D)`` (any leading shape is flattened with ``targets``).
        weight: ``(V, D)``; bias: ``(V,)`` or None.
        chunk: rows of logits alive at once (memory ``chunk x V`` floats, forward and backward).
    """
    h = hidden.reshape(-1, hidden.shape[-1])
    t = targets.reshape(-1).long()
    if h.shape[0] != t.shape[0]:
        raise ValueError(f"hidden has {h.shape[0]} rows, targets {t.shape[0]}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    total = h.new_zeros((), dtype=torch.promote_types(h.dtype, torch.float32))
    for i in range(0, h.shape[0], chunk):
        args = (h[i : i + chunk], weight, bias, t[i : i + chunk])
        total = total + (checkpoint(_chunk_loss, *args, use_reentrant=False) if torch.is_grad_enabled() else _chunk_loss(*args))
    return total / max(1, h.shape[0])


def factorized_cross_entropy(logits: list[Tensor] | Tensor, labels: Tensor) -> Tensor:
    """Mean over rows and labels of the cross-entropy of label ``l`` under ``logits[l]``.

    Args:
        logits: a list of L tensors ``(N, sizes[l])``, or one ``(N, L, C)`` tensor when every
            label has C classes (Λ24 coordinates: C = 9, bits: C = 2).
        labels: ``(N, L)`` int64.
    """
    if isinstance(logits, Tensor):
        n, L, c = logits.shape
        return F.cross_entropy(logits.reshape(n * L, c).float(), labels.reshape(-1).long())
    return torch.stack([F.cross_entropy(lg.float(), labels[:, k].long()) for k, lg in enumerate(logits)]).mean()
