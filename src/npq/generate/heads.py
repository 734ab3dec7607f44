"""A generator's output heads over npq tokens and their losses.

:class:`Head` predicts a token through the label scheme a quantizer offers
(``quantizer.label_schemes()``): one softmax over the vocabulary (``"index"``) or one per label
(Λ24 ``"coordinates"``, BSQ/LFQ ``"bits"``, FSQ ``"levels"``), so a new quantizer brings its head
by declaring a scheme in its own file.


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
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from ..quantize.labels import LabelScheme

__all__ = ["chunked_cross_entropy", "factorized_cross_entropy", "filter_logits", "Head"]


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


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Logits ``(..., C)`` divided by ``temperature``, with everything outside the ``top_k`` largest
    (0: no limit) and outside the smallest set of probability ``>= top_p`` set to -inf."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits.float() / temperature
    c = logits.shape[-1]
    if 0 < top_k < c:
        kth = logits.topk(top_k, -1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        srt, order = logits.sort(-1, descending=True)
        cum = srt.softmax(-1).cumsum(-1)
        drop = cum - srt.softmax(-1) >= top_p  # keep the first token whose cumulative mass reaches top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def _draw(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One class per row of ``(..., C)`` logits (inverse-CDF with one uniform per row, so a draw
    consumes the same random numbers whatever the logits' batch layout)."""
    p = logits.softmax(-1).double()
    u = torch.rand(p.shape[:-1] + (1,), generator=generator, dtype=torch.float64, device="cpu").to(p.device)
    cdf = p.cumsum(-1)
    idx = (cdf < u * cdf[..., -1:]).sum(-1)
    return idx.clamp_max(p.shape[-1] - 1)


class Head(nn.Module):
    """Output head over a :class:`~npq.quantize.labels.LabelScheme`: ``loss(hidden, indices)``
    (the training objective, nats), ``nll(hidden, indices)`` (nats per token), ``logits(hidden)``
    and ``sample(cond, uncond, scale, ...)`` giving token indices."""

    def __init__(self, width: int, scheme: LabelScheme, chunk: int = 1024):
        super().__init__()
        self.scheme = scheme
        self.sizes = tuple(int(s) for s in scheme.sizes)
        self.chunk = int(chunk)
        self.proj = nn.Linear(width, sum(self.sizes))
        nn.init.trunc_normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)

    @property
    def factorized(self) -> bool:
        return len(self.sizes) > 1

    def logits(self, hidden: Tensor) -> list[Tensor]:
        """Per label, logits ``(N, sizes[l])`` for hidden ``(N, width)`` (for one label over a
        large vocabulary, this materializes ``N x V``: sampling only)."""
        return list(self.proj(hidden).split(self.sizes, -1))

    def loss(self, hidden: Tensor, indices: Tensor) -> Tensor:
        """The training loss: cross-entropy of the index (one label; chunked, never ``N x V`` logits
        at once) or the mean over labels of theirs (factorized)."""
        h, t = hidden.reshape(-1, hidden.shape[-1]), indices.reshape(-1)
        if not self.factorized:
            return chunked_cross_entropy(h, self.proj.weight, t, self.proj.bias, self.chunk)
        labels = self.scheme.to_labels(t)
        lg = self.proj(h)
        if len(set(self.sizes)) == 1:
            return factorized_cross_entropy(lg.view(len(h), len(self.sizes), self.sizes[0]), labels)
        return factorized_cross_entropy(list(lg.split(self.sizes, -1)), labels)

    def nll(self, hidden: Tensor, indices: Tensor) -> Tensor:
        """Negative log-likelihood per token (nats), ``(N,)``: of the index, or the sum over labels
        (for Λ24 coordinates an upper bound of the token's, since label vectors that are not
        codewords also decode to it)."""
        h, t = hidden.reshape(-1, hidden.shape[-1]), indices.reshape(-1)
        out = []
        for i in range(0, len(h), self.chunk):
            hh, tt = h[i : i + self.chunk], t[i : i + self.chunk]
            labels = self.scheme.to_labels(tt)
            total = torch.zeros(len(hh), dtype=torch.float32, device=h.device)
            for k, lg in enumerate(self.logits(hh)):
                total = total + F.cross_entropy(lg.float(), labels[:, k], reduction="none")
            out.append(total)
        return torch.cat(out)

    def sample(self, cond: Tensor, uncond: Tensor | None = None, scale: float = 1.0, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Token indices ``(N,)`` from hidden states ``(N, width)``; with ``uncond``, classifier-free
        guidance ``u + scale (c - u)`` on each label's logits. Each label is drawn independently."""
        def guided(c: Tensor, u: Tensor | None) -> Tensor:
            return c.float() if u is None else u.float() + scale * (c.float() - u.float())

        if len(set(self.sizes)) == 1:  # equal label sizes (Λ24 coordinates, bits): all labels in one draw
            shape = (len(cond), len(self.sizes), self.sizes[0])
            g = guided(self.proj(cond).view(shape), self.proj(uncond).view(shape) if uncond is not None else None)
            return self.scheme.to_indices(_draw(filter_logits(g, temperature, top_k, top_p), generator))
        lc = self.logits(cond)
        lu = self.logits(uncond) if uncond is not None else [None] * len(lc)
        labels = [_draw(filter_logits(guided(c, u), temperature, top_k, top_p), generator) for c, u in zip(lc, lu)]
        return self.scheme.to_indices(torch.stack(labels, -1))
