"""A new metric in one class: mean absolute error on [0, 255] (lower is better).

Import this module once and ``npq eval --metrics psnr,mae`` reports it (docs/extending.md).
"""

from __future__ import annotations

from torch import Tensor

from npq.metrics import MeanMetric, register_metric
from npq.metrics.image import to_255


@register_metric("mae")
class MeanAbsoluteError(MeanMetric):
    """Mean |x - y| over pixels and channels of 8-bit images, averaged over images."""

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        return (to_255(real) - to_255(recon)).abs().flatten(1).mean(1)
