"""Accumulate reconstruction metrics over batches and torch.distributed ranks."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..quantize import distributed as D
from .codebook import CodeUsage
from .fid import FeatureStats, frechet_distance
from .image import MS_SSIM_MIN_SIDE, ms_ssim_per_image, psnr_per_image, ssim_per_image
from .perceptual import lpips_per_image

__all__ = ["ReconstructionMetrics", "ALL_METRICS"]

ALL_METRICS = ("psnr", "ssim", "ms_ssim", "lpips", "rfid", "usage")


class ReconstructionMetrics:
    """Sums of per-image metrics (PSNR, SSIM, MS-SSIM, LPIPS), feature statistics for rFID and a
    token histogram, reduced over ranks in :meth:`compute`.

    Args:
        metrics: names from ``ALL_METRICS``.
        lpips_model: an LPIPS module (see :func:`npq.metrics.load_lpips`), needed for ``lpips``.
        feature_extractor: ``images in [0,1] -> (b, k)`` features, needed for ``rfid``.
        real_stats: ``(mu, cov)`` of the real images' features; if None they are accumulated from
            the ``real`` images passed to :meth:`update`.
        codebook_size, code: for ``usage`` (``code`` = a LeechCode for per-class usage).
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("psnr", "ssim"),
        lpips_model: nn.Module | None = None,
        feature_extractor: Callable[[Tensor], Tensor] | None = None,
        real_stats: tuple[np.ndarray, np.ndarray] | None = None,
        codebook_size: int | None = None,
        code=None,
    ):
        unknown = [m for m in metrics if m not in ALL_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(ALL_METRICS)}")
        if "lpips" in metrics and lpips_model is None:
            raise ValueError("metric 'lpips' needs lpips_model (npq.metrics.load_lpips)")
        if "rfid" in metrics and feature_extractor is None:
            raise ValueError("metric 'rfid' needs a feature_extractor (npq.metrics.inception_feature_extractor)")
        if "usage" in metrics and not codebook_size:
            raise ValueError("metric 'usage' needs codebook_size")
        self.metrics = list(metrics)
        self.lpips_model, self.extract, self.real_stats = lpips_model, feature_extractor, real_stats
        self.sums = {m: 0.0 for m in ("psnr", "ssim", "ms_ssim", "lpips")}
        self.count = 0
        self.ms_ssim_skipped = 0
        self.fake_feats: FeatureStats | None = None
        self.real_feats: FeatureStats | None = None
        self.usage = CodeUsage(codebook_size, code) if "usage" in metrics else None

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None = None) -> None:
        """Add a batch of images in [0, 1] ``(b, 3, h, w)`` (and their tokens for ``usage``)."""
        b = real.shape[0]
        self.count += b
        if "psnr" in self.metrics:
            self.sums["psnr"] += float(psnr_per_image(real, recon).clamp(max=100.0).sum())
        if "ssim" in self.metrics:
            self.sums["ssim"] += float(ssim_per_image(real, recon).sum())
        if "ms_ssim" in self.metrics:
            if min(real.shape[-2:]) >= MS_SSIM_MIN_SIDE:
                self.sums["ms_ssim"] += float(ms_ssim_per_image(real, recon).sum())
            else:
                self.ms_ssim_skipped += b
        if "lpips" in self.metrics:
            dev = next(self.lpips_model.parameters()).device
            self.sums["lpips"] += float(lpips_per_image(self.lpips_model, real.to(dev), recon.to(dev)).sum())
        if "rfid" in self.metrics:
            f = self.extract(recon)
            if self.fake_feats is None:
                self.fake_feats = FeatureStats(f.shape[-1])
            self.fake_feats.update(f)
            if self.real_stats is None:
                r = self.extract(real)
                if self.real_feats is None:
                    self.real_feats = FeatureStats(r.shape[-1])
                self.real_feats.update(r)
        if self.usage is not None:
            if indices is None:
                raise ValueError("metric 'usage' needs the token indices in update()")
            self.usage.update(indices)

    def compute(self) -> dict:
        """Reduce over ranks and return the averages (identical on every rank)."""
        vec = torch.tensor([self.count, self.ms_ssim_skipped] + [self.sums[k] for k in ("psnr", "ssim", "ms_ssim", "lpips")], dtype=torch.float64)
        D.all_reduce_sum(vec)
        count, skipped = vec[0].item(), vec[1].item()
        sums = dict(zip(("psnr", "ssim", "ms_ssim", "lpips"), vec[2:].tolist()))
        out: dict = {"images": int(count)}
        for m in ("psnr", "ssim", "lpips"):
            if m in self.metrics:
                out[m] = sums[m] / max(count, 1)
        if "ms_ssim" in self.metrics:
            n = count - skipped
            out["ms_ssim"] = sums["ms_ssim"] / n if n > 0 else math.nan
            if skipped:
                out["ms_ssim_note"] = f"skipped {int(skipped)} image(s) smaller than {MS_SSIM_MIN_SIDE} px"
        if "rfid" in self.metrics:
            fake = self.fake_feats.all_reduce()
            mu_f, cov_f = fake.mean_cov()
            if self.real_stats is not None:
                mu_r, cov_r = self.real_stats
            else:
                mu_r, cov_r = self.real_feats.all_reduce().mean_cov()
            out["rfid"] = frechet_distance(mu_r, cov_r, mu_f, cov_f)
        if self.usage is not None:
            out["usage"] = self.usage.all_reduce().summary()
        return out
