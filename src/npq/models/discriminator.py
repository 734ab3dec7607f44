"""Discriminators: PatchGAN (N-layer, as in pix2pix / taming) and a StyleGAN2-style ResNet."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PatchGAN", "StyleGAN2Discriminator", "make_discriminator"]


class PatchGAN(nn.Module):
    """N-layer PatchGAN: a grid of real/fake logits ``(b, 1, h', w')``."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = channels
        for i in range(1, layers + 1):
            nc = channels * min(2**i, 8)
            stride = 2 if i < layers else 1
            mods += [nn.Conv2d(c, nc, 4, stride, 1, bias=False), nn.GroupNorm(min(32, nc), nc), nn.LeakyReLU(0.2)]
            c = nc
        mods += [nn.Conv2d(c, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _DBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1)
        self.conv2 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = F.leaky_relu(self.conv1(x), 0.2)
        y = F.avg_pool2d(F.leaky_relu(self.conv2(y), 0.2), 2)
        return (y + F.avg_pool2d(self.skip(x), 2)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    """ResNet discriminator in the style of StyleGAN2: residual downsampling blocks, minibatch
    standard deviation, a linear head; one logit per image ``(b, 1)``."""

    def __init__(self, resolution: int = 128, channels: int = 64, max_channels: int = 512):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        n = int(math.log2(resolution)) - 2  # down to 4x4
        chs = [min(channels * 2**i, max_channels) for i in range(n + 1)]
        self.from_rgb = nn.Conv2d(3, chs[0], 1)
        self.blocks = nn.Sequential(*[_DBlock(chs[i], chs[i + 1]) for i in range(n)])
        self.conv = nn.Conv2d(chs[-1] + 1, chs[-1], 3, 1, 1)
        self.fc = nn.Linear(chs[-1] * 16, chs[-1])
        self.out = nn.Linear(chs[-1], 1)
        self.resolution = resolution

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"StyleGAN2 discriminator needs square images, got {tuple(x.shape[-2:])}")
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        y = self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))
        g = min(4, y.shape[0])
        b = y.shape[0]
        if b % g:
            g = 1
        s = y.reshape(g, -1, *y.shape[1:]).std(0, unbiased=False).mean(dim=(1, 2, 3))  # minibatch stddev
        s = s.repeat(g)[:, None, None, None].expand(b, 1, *y.shape[2:])
        y = F.leaky_relu(self.conv(torch.cat([y, s], 1)), 0.2)
        return self.out(F.leaky_relu(self.fc(y.flatten(1)), 0.2))


def make_discriminator(kind: str, resolution: int, channels: int = 64) -> nn.Module:
    """``"patchgan"`` or ``"stylegan2"``."""
    if kind == "patchgan":
        return PatchGAN(channels)
    if kind == "stylegan2":
        return StyleGAN2Discriminator(resolution, channels)
    raise ValueError(f"discriminator must be 'patchgan' or 'stylegan2', got {kind!r}")
