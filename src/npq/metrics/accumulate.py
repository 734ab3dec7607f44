"""Accumulate reconstruction metrics over batches and torch.distributed ranks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..utils import distributed as D
from .base import MetricContext, metric_class, metric_names

__all__ = ["ReconstructionMetrics", "format_results"]


class ReconstructionMetrics:
    """The registered metrics named in ``metrics``, updated together and reduced over ranks in
    :meth:`compute`.

    Args:
        metrics: names from :func:`npq.metrics.metric_names` (psnr, ssim, ms_ssim, lpips, rfid, usage).
        lpips_model: LPIPS network (see :class:`~npq.metrics.base.MetricContext`).
        feature_extractor: features for the Fréchet distances.
        real_stats: (mean, covariance) of the reference features.
        codebook_size: vocabulary size for codebook usage.
        code: the quantizer (usage per residual stage).
        stage_sizes: codebook size of each residual stage.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("psnr", "ssim"),
        lpips_model: nn.Module | None = None,
        feature_extractor: Callable[[Tensor], Tensor] | None = None,
        real_stats: tuple[np.ndarray, np.ndarray] | None = None,
        codebook_size: int | None = None,
        code: object | None = None,
        stage_sizes: list[int] | None = None,
    ):
        unknown = [m for m in metrics if m not in metric_names()]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {metric_names()}")
        ctx = MetricContext(lpips_model, feature_extractor, real_stats, codebook_size, code, stage_sizes)
        self.metrics = {m: metric_class(m)(ctx) for m in metrics}
        self.count = 0

    @property
    def real_feats(self):
        """Accumulated real-image feature statistics of rFID (None if not accumulated)."""
        rfid = self.metrics.get("rfid")
        return getattr(rfid, "real", None)

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None = None) -> None:
        """Add a batch of images in [0, 1] ``(b, 3, h, w)`` (and their tokens for ``usage``)."""
        self.count += real.shape[0]
        for m in self.metrics.values():
            m.update(real, recon, indices)

    def compute(self) -> dict:
        """Reduce over ranks and return the results (identical on every rank)."""
        count = D.all_reduce_sum(torch.tensor([float(self.count)], dtype=torch.float64))
        out: dict = {"images": int(count.item())}
        for m in self.metrics.values():
            out.update(m.compute())
        return out


def format_results(res: dict) -> str:
    """Markdown table of the results: the image count, then each registered metric's rows."""
    rows = ["| metric | value |", "|---|---|", f"| images | {res.get('images', 0)} |"]
    for name in metric_names():
        rows += [f"| {k} | {v} |" for k, v in metric_class(name).format(res)]
    notes = [f"{k}: {v}" for k, v in res.items() if k.endswith("_note")]
    notes += [f"skipped {len(res['skipped'])} unreadable file(s): " + "; ".join(res["skipped"][:5])] if res.get("skipped") else []
    return "\n".join(rows + ([""] + notes if notes else []))
