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

__all__ = ["CodeUsage", "Usage", "usage_context"]


def usage_context(quantizer) -> dict:
    """``codebook_size``, ``code`` and ``stage_sizes`` of :class:`~npq.metrics.MetricContext` for a
    quantizer: a Λ24 code for per-class usage; for a residual quantizer the stages' sizes (its
    tokens ``(..., K)`` are counted stage by stage: the product of the stages' sizes, 196,560^K,
    is no histogram size)."""
    from ..quantize.spherical import SphericalCodeQuantizer

    stages = getattr(quantizer, "stages", None)
    if stages is not None:
        first = stages[0]
        code = first.code if isinstance(first, SphericalCodeQuantizer) and isinstance(first.code, LeechCode) else None
        return {"codebook_size": first.codebook_size, "code": code, "stage_sizes": [q.codebook_size for q in stages]}
    code = quantizer.code if isinstance(quantizer, SphericalCodeQuantizer) and isinstance(quantizer.code, LeechCode) else None
    return {"codebook_size": quantizer.codebook_size, "code": code, "stage_sizes": None}


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
        """Count the codes in ``indices`` (int, any shape, values in [0, n_codes))."""
        idx = indices.detach().reshape(-1).long().cpu()
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= self.n_codes):
            raise ValueError(f"indices must lie in [0, {self.n_codes - 1}], got [{int(idx.min())}, {int(idx.max())}]")
        self.counts += torch.bincount(idx, minlength=self.n_codes).double()

    def all_reduce(self) -> "CodeUsage":
        """Sum the counts over torch.distributed ranks, in place (a collective); returns self."""
        D.all_reduce_sum(self.counts)
        return self

    def summary(self, top: int = 5) -> dict:
        """Summary of the counts: tokens, codes_used, usage (fraction of codes used), entropy_bits,
        bits_per_token (log2 n_codes), entropy_over_bits, perplexity (2^entropy), most_used
        / least_used (the ``top`` codes and their counts), and per shell class for lattice
        codes."""
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
        if not ctx.codebook_size and not ctx.stage_sizes:
            raise ValueError("metric 'usage' needs codebook_size (or stage_sizes)")
        super().__init__(ctx)
        self.stages = [CodeUsage(n, ctx.code) for n in ctx.stage_sizes] if ctx.stage_sizes else None
        self.usage = self.stages[0] if self.stages else CodeUsage(ctx.codebook_size, ctx.code)

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        """Count a batch's tokens ``indices`` (int64 ``(b, h, w)``, or ``(b, h, w, stages)`` for a
        residual quantizer, counted per stage); ``real`` and ``recon`` are unused."""
        if indices is None:
            raise ValueError("metric 'usage' needs the token indices in update()")
        if self.stages is None:
            self.usage.update(indices)
            return
        if indices.shape[-1] != len(self.stages):
            raise ValueError(f"residual tokens must have a last dimension of {len(self.stages)} stages, got {tuple(indices.shape)}")
        for k, u in enumerate(self.stages):
            u.update(indices[..., k])

    def compute(self) -> dict:
        """Usage of the codebook; for residual tokens, stage 1's at the top level (the figures
        compared with single-stage quantizers) and every stage's under ``"stages"``."""
        if self.stages is None:
            return {"usage": self.usage.all_reduce().summary()}
        per = [u.all_reduce().summary() for u in self.stages]
        return {"usage": {**per[0], "stages": per}}

    @classmethod
    def format(cls, results: dict) -> list[tuple[str, str]]:
        u = results.get("usage")
        if u is None:
            return []
        rows = []
        for k, s in enumerate(u.get("stages") or [u]):
            tag = f" (stage {k + 1})" if "stages" in u else ""
            rows += [(f"codes used{tag}", f"{s['codes_used']:,} / {2 ** s['bits_per_token']:,.0f} ({100 * s['usage']:.2f}%)"),
                     (f"token entropy{tag}", f"{s['entropy_bits']:.2f} of {s['bits_per_token']:.2f} bits"),
                     (f"perplexity{tag}", f"{s['perplexity']:.1f}")]
        return rows
