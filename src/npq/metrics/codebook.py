"""Codebook statistics of token histograms: usage, perplexity, entropy, per-class usage for Λ24."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..lattices import LeechCode
from ..quantize import distributed as D

__all__ = ["CodeUsage"]


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
        p = self.counts / max(total, 1.0)
        nz = p[p > 0]
        ent = float(-(nz * nz.log2()).sum())
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
                lo = self.code.offsets[c]
                size = {"A": 1104, "B": 97152, "C": 98304}[c]
                seg = self.counts[lo : lo + size]
                per[c] = {"codes": size, "codes_used": int((seg > 0).sum()), "usage": float((seg > 0).double().mean()),
                          "token_share": float(seg.sum() / max(total, 1.0))}
            out["per_class"] = per
        return out
