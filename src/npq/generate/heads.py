"""A generator's output heads over npq tokens and their losses.

:class:`Head` predicts a token through the label scheme a quantizer offers
(``quantizer.label_schemes()``): one softmax over the vocabulary (``"index"``) or one per label
(Λ24 ``"coordinates"``, BSQ/LFQ ``"bits"``, FSQ ``"levels"``), so a new quantizer brings its head
by declaring a scheme in its own file.


* :func:`chunked_cross_entropy`: one softmax over a large vocabulary (196,560 Λ24 codes) with
  memory bounded by ``chunk`` rows: logits are computed ``chunk`` rows at a time together with
  their gradients (softmax minus one-hot), so ``rows x vocabulary`` logits never exist at once and
  nothing is recomputed. Equal to ``F.cross_entropy(hidden @ weight.T + bias, targets)`` (tested, values and
  gradients).
* :func:`factorized_cross_entropy`: a token as L labels (a :class:`~npq.quantize.labels.LabelScheme`:
  Λ24 coordinates, BSQ bits, FSQ levels), each predicted by its own softmax; the mean over labels
  of their cross-entropies, in nats per label (sum them for nats per token).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..quantize.labels import LabelScheme

__all__ = ["chunked_cross_entropy", "factorized_cross_entropy", "filter_logits", "Head"]


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of ``targets`` under ``h @ weight.T + bias``, ``chunk`` rows of logits
    at a time; the gradients are formed in the same pass (softmax minus one-hot, two matmuls per
    chunk), so the backward pass neither keeps nor recomputes logits."""

    @staticmethod
    def forward(ctx, h, weight, bias, t, chunk):
        grads = any(ctx.needs_input_grad[:3])
        acc = torch.promote_types(h.dtype, torch.float32)
        w = weight.to(acc)
        b = bias.to(acc) if bias is not None else None
        total = torch.zeros((), dtype=torch.float64, device=h.device)
        gh = torch.empty(h.shape, dtype=acc, device=h.device) if grads else None
        gw = torch.zeros(w.shape, dtype=acc, device=h.device) if grads else None
        gb = torch.zeros(w.shape[0], dtype=acc, device=h.device) if grads and bias is not None else None
        # one logits buffer for every chunk, products written in place: no chunk x V allocation per chunk
        buf = torch.empty(min(chunk, h.shape[0]), w.shape[0], dtype=acc, device=h.device)
        for i in range(0, h.shape[0], chunk):
            hc, tc = h[i : i + chunk].to(acc), t[i : i + chunk]
            logits = buf[: len(hc)]
            if b is None:
                torch.mm(hc, w.T, out=logits)
            else:
                torch.addmm(b, hc, w.T, out=logits)
            lse = logits.logsumexp(-1, keepdim=True)
            total += (lse.squeeze(-1) - logits.gather(-1, tc[:, None]).squeeze(-1)).sum(dtype=torch.float64)
            if grads:
                p = logits.sub_(lse).exp_()  # softmax, in place of the logits
                p[torch.arange(len(tc), device=p.device), tc] -= 1
                torch.mm(p, w, out=gh[i : i + chunk])
                gw.addmm_(p.T, hc)
                if gb is not None:
                    gb += p.sum(0)
        gh = gh.to(h.dtype) if gh is not None else None
        ctx.save_for_backward(gh, gw, gb)
        ctx.wdtype = weight.dtype
        return total.to(acc)

    @staticmethod
    def backward(ctx, g):
        gh, gw, gb = ctx.saved_tensors
        scale = lambda x: None if x is None else x * g.to(x.dtype)  # noqa: E731
        return scale(gh), scale(gw).to(ctx.wdtype) if gw is not None else None, scale(gb), None, None


def chunked_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor, bias: Tensor | None = None, chunk: int = 1024) -> Tensor:
    """Mean cross-entropy (nats) of ``targets`` ``(N,)`` under logits ``hidden @ weight.T + bias``.

    Args:
        hidden: ``(N, D)`` (any leading shape is flattened with ``targets``).
        weight: ``(V, D)``; bias: ``(V,)`` or None.
        chunk: rows of logits alive at once (memory ``chunk x V`` floats); the gradients are
            computed in the forward pass (three matmuls per chunk, as without chunking).
    """
    h = hidden.reshape(-1, hidden.shape[-1])
    t = targets.reshape(-1).long()
    if h.shape[0] != t.shape[0]:
        raise ValueError(f"hidden has {h.shape[0]} rows, targets {t.shape[0]}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    return _LinearCrossEntropy.apply(h, weight, bias, t, int(chunk)) / max(1, h.shape[0])


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


def _draw(logits: Tensor, generator: torch.Generator | None, block: int = 512) -> Tensor:
    """One class per row of ``(..., C)`` logits by inverse CDF with one uniform per row (so a draw
    consumes the same random numbers whatever the logits' batch layout). Two levels, so that a
    196,560-way draw costs one float32 exp pass: the float64 CDF of blocks of ``block`` classes
    picks a block, the float64 CDF inside it picks the class."""
    lg = logits.float()
    p = lg.sub(lg.amax(-1, keepdim=True)).exp_()  # unnormalized; -inf (filtered) -> 0
    c = p.shape[-1]
    lead = p.shape[:-1]
    u = torch.rand(lead + (1,), generator=generator, dtype=torch.float64, device="cpu").to(p.device)
    if c <= block:
        cdf = p.double().cumsum(-1)
        return (cdf < u * cdf[..., -1:]).sum(-1).clamp_max(c - 1)
    full = c // block
    mass = p[..., : full * block].unflatten(-1, (full, block)).sum(-1)  # float32 block masses, (..., nb)
    if c > full * block:
        mass = torch.cat([mass, p[..., full * block :].sum(-1, keepdim=True)], -1)
    mass = mass.double()
    cum = mass.cumsum(-1)
    target = u * cum[..., -1:]
    j = (cum < target).sum(-1, keepdim=True).clamp_max(mass.shape[-1] - 1)  # the block
    idx = j * block + torch.arange(block, device=p.device)
    inner = (p.gather(-1, idx.clamp_max(c - 1)) * (idx < c)).double().cumsum(-1)
    rest = (target - (cum.gather(-1, j) - mass.gather(-1, j))).clamp_max(inner[..., -1:])  # rounding: stay in the block
    k = (inner < rest).sum(-1, keepdim=True).clamp_max(block - 1)
    return (j * block + k).squeeze(-1).clamp_max(c - 1)


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

        n = len(cond)
        both = self.proj(cond if uncond is None else torch.cat([cond, uncond]))  # one pass over the head's weights
        lc, lu = both[:n], (both[n:] if uncond is not None else None)
        if len(set(self.sizes)) == 1:  # equal label sizes (Λ24 coordinates, bits, one index): all labels in one draw
            shape = (n, len(self.sizes), self.sizes[0])
            g = guided(lc.view(shape), lu.view(shape) if lu is not None else None)
            return self.scheme.to_indices(_draw(filter_logits(g, temperature, top_k, top_p), generator))
        lc = list(lc.split(self.sizes, -1))
        lu = list(lu.split(self.sizes, -1)) if lu is not None else [None] * len(lc)
        labels = [_draw(filter_logits(guided(c, u), temperature, top_k, top_p), generator) for c, u in zip(lc, lu)]
        return self.scheme.to_indices(torch.stack(labels, -1))
