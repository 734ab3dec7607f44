"""PSNR, SSIM and MS-SSIM with the field's conventions.

Images are float tensors ``(b, 3, h, w)`` in [0, 1]. They are
clamped and, by default, rounded to 8-bit values (as a saved PNG would be), then measured on the
[0, 255] scale: PSNR per image, then averaged over images; SSIM / MS-SSIM via ``pytorch_msssim``
with ``data_range=255``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import MeanMetric, register_metric

__all__ = ["to_255", "psnr_per_image", "ssim_per_image", "ms_ssim_per_image", "MS_SSIM_MIN_SIDE", "PSNR", "SSIM", "MSSSIM"]

# pytorch_msssim's default: win_size 11 and 5 scales need the smaller side > (11 - 1) * 2^4
MS_SSIM_MIN_SIDE = 161


def _check_pair(x: Tensor, y: Tensor) -> None:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise ValueError("images must be torch tensors")
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must both have shape (b, 3, h, w) (or 1 channel), got {tuple(x.shape)} and {tuple(y.shape)}")


def to_255(x: Tensor, quantize: bool = True) -> Tensor:
    """[0, 1] floats -> [0, 255] float64, clamped and (by default) rounded to integers."""
    v = x.detach().double().clamp(0, 1) * 255
    return torch.round(v) if quantize else v


def psnr_uint8(a, b, rows: int = 256) -> float:
    """PSNR (dB, on [0, 255], capped at 100 as the metrics are) of two uint8 arrays of one shape,
    in blocks of ``rows`` rows with int32 differences and a float64 sum: a 24 MP photo needs a few
    MB, not the float64 copies of :func:`psnr_per_image`; the same value for uint8 images."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected two uint8 arrays of one shape, got {a.dtype} {a.shape} and {b.dtype} {b.shape}")
    total = 0.0
    for i in range(0, a.shape[0], rows):
        d = a[i : i + rows].astype(np.int32) - b[i : i + rows]
        total += float(np.square(d, dtype=np.int64).sum())
    return psnr_from_mse(total / max(1, a.size))


def psnr_from_mse(mse: float) -> float:
    """PSNR in dB of a mean squared error on [0, 255], capped at 100 as the metrics are."""
    return 100.0 if mse == 0 else min(100.0, 10 * math.log10(255.0**2 / mse))


def psnr_per_image(x: Tensor, y: Tensor, quantize: bool = True) -> Tensor:
    """PSNR in dB of each image pair on [0, 255], shape (b,). Identical images give +inf."""
    _check_pair(x, y)
    mse = (to_255(x, quantize) - to_255(y, quantize)).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(255.0**2 / mse)


def ssim_per_image(x: Tensor, y: Tensor, quantize: bool = True) -> Tensor:
    """SSIM of each pair (pytorch_msssim, data_range 255, Gaussian window 11, sigma 1.5), shape (b,)."""
    from pytorch_msssim import ssim

    _check_pair(x, y)
    return ssim(to_255(x, quantize).float(), to_255(y, quantize).float(), data_range=255, size_average=False).double()


def ms_ssim_per_image(x: Tensor, y: Tensor, quantize: bool = True) -> Tensor:
    """MS-SSIM of each pair (pytorch_msssim, data_range 255), shape (b,).

    Raises:
        ValueError: when the smaller image side is below 161 pixels (5 scales of an 11-tap window).
    """
    from pytorch_msssim import ms_ssim

    _check_pair(x, y)
    side = min(x.shape[-2:])
    if side < MS_SSIM_MIN_SIDE:
        raise ValueError(
            f"MS-SSIM needs images of at least {MS_SSIM_MIN_SIDE}x{MS_SSIM_MIN_SIDE} pixels "
            f"(5 scales, 11-pixel window); got {tuple(x.shape[-2:])}. Evaluate at a larger resolution or drop ms_ssim."
        )
    return ms_ssim(to_255(x, quantize).float(), to_255(y, quantize).float(), data_range=255, size_average=False).double()


@register_metric("psnr")
class PSNR(MeanMetric):
    """Mean PSNR (dB) over images; identical pairs count as 100 dB."""

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """PSNR in dB on [0, 255] (at most 100) of each pair, float64 ``(b,)``; ``real`` and ``recon``
        images ``(b, 3, h, w)`` float in [0, 1], rounded to 8 bits first."""
        return psnr_per_image(real, recon).clamp(max=100.0)


@register_metric("ssim")
class SSIM(MeanMetric):
    """Mean SSIM over images."""

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """SSIM of each pair, float ``(b,)``; ``real`` and ``recon`` images ``(b, 3, h, w)`` float in
        [0, 1]."""
        return ssim_per_image(real, recon)


@register_metric("ms_ssim")
class MSSSIM(MeanMetric):
    """Mean MS-SSIM over the images of at least 161 px (smaller ones are skipped and counted)."""

    def applies(self, real: Tensor) -> str | None:
        """None for images of at least 161 px a side (MS-SSIM's five scales), else the reason the batch
        is skipped."""
        return None if min(real.shape[-2:]) >= MS_SSIM_MIN_SIDE else f"smaller than {MS_SSIM_MIN_SIDE} px"

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """MS-SSIM of each pair, float ``(b,)``; ``real`` and ``recon`` images ``(b, 3, h, w)`` float
        in [0, 1]."""
        return ms_ssim_per_image(real, recon)
