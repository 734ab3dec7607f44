"""Codebook statistics of token histograms: usage, perplexity, entropy, per-class usage for Λ24."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..lattices import LeechCode
from ..lattices.leech import CLASS_SIZES
from ..utils import distributed as D
from ..utils.histogram import entropy_bits
from .base import Metric, MetricContext, register_metric

__all__ = ["CodeUsage", "Usage"]


class CodeUsage:
    """Accumulates a token histogram over batches (and ranks) and summarizes it.

    Args:
        codebook_size: number of codes N.
        code: optional :class:`LeechCode` (or subset) for usage per shape class.
    """

    def __init__(self, codebook_size: int, code: LeechCode | None = None):
        self.n_codes = int(codebook_size)
        self.counts = torch.zeros(self.n_codes, dtype=torch.float64)
        self.code = code

    def update(self, indices: Tensor) -> None:
        idx = indices.detach().reshape(-1).long().cpu()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_codes):
            raise ValueError(f"indices must lie in [0, {self.n_codes - 1}], got [{int(idx.min())}, {int(idx.max())}]")
        self.counts += torch.bincount(idx, minlength=self.n_codes).double()

    def all_reduce(self) -> "CodeUsage":
        D.all_reduce_sum(self.counts)
        return self

    def summary(self, top: int = 5) -> dict:
        total = float(self.counts.sum())
        ent = entropy_bits(self.counts)
        order = torch.argsort(self.counts, descending=True, stable=True)
        used = order[self.counts[order] > 0]
        out = {
            "tokens": int(total),
            "codes_used": int((self.counts > 0).sum()),
            "usage": float((self.counts > 0).double().mean()),
            "entropy_bits": ent,
            "bits_per_token": math.log2(self.n_codes),
            "entropy_over_bits": ent / math.log2(self.n_codes) if self.n_codes > 1 else 1.0,
            "perplexity": 2.0**ent,
            "most_used": [(int(i), int(self.counts[i])) for i in used[:top]],
            "least_used": [(int(i), int(self.counts[i])) for i in used.flip(0)[:top]],
        }
        if self.code is not None:
            per = {}
            for c in self.code.classes:
                lo, size = self.code.offsets[c], CLASS_SIZES[c]
                seg = self.counts[lo : lo + size]
                per[c] = {"codes": size, "codes_used": int((seg > 0).sum()), "usage": float((seg > 0).double().mean()),
                          "token_share": float(seg.sum() / max(total, 1.0))}
            out["per_class"] = per
        return out


@register_metric("usage")
class Usage(Metric):
    """Codebook usage of the tokens (needs ``MetricContext.codebook_size``; per shape class with a
    LeechCode in ``MetricContext.code``)."""

    def __init__(self, ctx: MetricContext):
        if not ctx.codebook_size:
            raise ValueError("metric 'usage' needs codebook_size")
        super().__init__(ctx)
        self.usage = CodeUsage(ctx.codebook_size, ctx.code)

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        if indices is None:
            raise ValueError("metric 'usage' needs the token indices in update()")
        self.usage.update(indices)

    def compute(self) -> dict:
        return {"usage": self.usage.all_reduce().summary()}

    @classmethod
    def format(cls, results: dict) -> list[tuple[str, str]]:
        u = results.get("usage")
        if u is None:
            return []
        return [("codes used", f"{u['codes_used']:,} / {2 ** u['bits_per_token']:,.0f} ({100 * u['usage']:.2f}%)"),
                ("token entropy", f"{u['entropy_bits']:.2f} of {u['bits_per_token']:.2f} bits"),
                ("perplexity", f"{u['perplexity']:.1f}")]
