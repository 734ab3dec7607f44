"""Feature-space distances on the one ImageNet-pretrained network available offline,
EfficientNet-Lite0 (:mod:`npq.models.efficientnet_lite`). They are *not* LPIPS or FID (those need
AlexNet/VGG/InceptionV3 weights, which npq loads from a user's path); they are named for what
they are:

* ``effnet_pd`` - perceptual distance, LPIPS-style but uncalibrated: at the outputs of the 7
  stages, channel vectors are unit-normalized per position, the squared difference is summed
  over channels and averaged over positions; the 7 stage values are averaged with equal weights
  (LPIPS learns per-channel weights from human judgements; there are none for this network).
  0 for identical images, grows with distortion.
* ``effnet_fd`` - Fréchet distance between the 1280-d pooled head features of the real and the
  reconstructed images (resized to 224 px, the network's resolution), as FID does with
  InceptionV3's 2048-d features. Like FID it is biased upwards for few images; compare values
  only at the same image count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.efficientnet_lite import load_efficientnet_lite0
from .base import MeanMetric, Metric, MetricContext, register_metric
from .fid import FeatureStats, frechet_distance

__all__ = ["effnet_distance", "effnet_pd_per_image", "effnet_features", "EffNetPD", "EffNetFD", "FD_SIZE"]

FD_SIZE = 224


def _unit(f: Tensor, eps: float = 1e-10) -> Tensor:
    return f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)


def effnet_distance(net, x: Tensor, y: Tensor) -> Tensor:
    """The distance ``(b,)`` between [0, 1] images ``(b, 3, h, w)``, differentiable (the training
    loss ``perceptual_net: effnet-lite0`` uses it; the metric wraps it in ``no_grad``)."""
    fx, _ = net.features(x.clamp(0, 1))
    fy, _ = net.features(y.clamp(0, 1))
    per_stage = [(_unit(a) - _unit(b)).pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fy)]
    return torch.stack(per_stage, 0).mean(0)


def effnet_pd_per_image(x: Tensor, y: Tensor, net=None) -> Tensor:
    """EfficientNet-Lite0 perceptual distance of each pair of [0, 1] images ``(b, 3, h, w)``, (b,)."""
    net = net or load_efficientnet_lite0()
    with torch.no_grad():
        return effnet_distance(net, x.float(), y.float()).double()


def effnet_features(images: Tensor, net=None) -> Tensor:
    """Pooled 1280-d head features of [0, 1] images resized to 224 x 224, ``(b, 1280)``."""
    net = net or load_efficientnet_lite0()
    x = F.interpolate(images.float().clamp(0, 1), size=(FD_SIZE, FD_SIZE), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        return net.features(x)[1]


@register_metric("effnet_pd")
class EffNetPD(MeanMetric):
    """Mean EfficientNet-Lite0 perceptual distance (LPIPS-style, uncalibrated; not LPIPS)."""

    def per_image(self, real: Tensor, recon: Tensor) -> Tensor:
        """EfficientNet-Lite0 perceptual distance float ``(b,)`` of each pair, ``real`` and ``recon``
        images ``(b, 3, h, w)`` float in [0, 1]."""
        return effnet_pd_per_image(real, recon)


@register_metric("effnet_fd")
class EffNetFD(Metric):
    """Fréchet distance on EfficientNet-Lite0 pooled features (rFID-style; not rFID)."""

    def __init__(self, ctx: MetricContext):
        super().__init__(ctx)
        self.real, self.fake = FeatureStats(1280), FeatureStats(1280)

    def update(self, real: Tensor, recon: Tensor, indices: Tensor | None) -> None:
        """Add the EfficientNet-Lite0 features of a batch's ``real`` and ``recon`` (images ``(b, 3, h,
        w)`` float in [0, 1]) to their statistics."""
        self.real.update(effnet_features(real))
        self.fake.update(effnet_features(recon))

    def compute(self) -> dict:
        """``{effnet_fd: Fréchet distance}`` between the real and reconstructed images' feature
        statistics over every rank."""
        mu_r, cov_r = self.real.all_reduce().mean_cov()
        mu_f, cov_f = self.fake.all_reduce().mean_cov()
        return {"effnet_fd": frechet_distance(mu_r, cov_r, mu_f, cov_f)}
