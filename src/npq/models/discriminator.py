"""Discriminators: PatchGAN (N-layer, as in pix2pix / taming), a simplified StyleGAN2-style ResNet,
and the StyleGAN2(-ADA) ResNet discriminator the authors' tokenizer code uses (equalized learning
rate, FIR [1, 3, 3, 1] downsampling, minibatch standard deviation; channels
``min(channel_base / resolution, 512)``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PatchGAN", "StyleGAN2Discriminator", "StyleGAN2ADADiscriminator", "make_discriminator"]


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
        """Patch logits ``(b, 1, h', w')`` (real > 0) of images ``(b, 3, H, W)`` in [-1, 1]."""
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
        """Logits ``(b, 1)`` (real > 0) of square images ``(b, 3, S, S)`` in [-1, 1], resized to the
        discriminator's resolution when S differs."""
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


_FIR = torch.tensor([1.0, 3.0, 3.0, 1.0])


def _blur(x: Tensor, pad: int, down: int = 1) -> Tensor:
    """Depthwise FIR filter [1, 3, 3, 1] x [1, 3, 3, 1] / 64 with ``pad`` zeros per side, then keep
    every ``down``-th pixel (StyleGAN2's ``upfirdn2d`` for downsampling)."""
    f = torch.outer(_FIR, _FIR).to(x.device, x.dtype)
    f = (f / f.sum())[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (pad,) * 4), f, stride=down, groups=x.shape[1])


class _EqConv(nn.Module):
    """Conv with equalized learning rate: N(0, 1) weights scaled by 1/sqrt(fan_in) at run time;
    optional FIR downsampling by 2; leaky ReLU (0.2) with gain sqrt(2) times ``gain``."""

    def __init__(self, cin: int, cout: int, k: int, bias: bool = True, act: bool = True, down: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.k, self.act, self.down = k, act, down
        self.scale = 1 / math.sqrt(cin * k * k)

    def forward(self, x: Tensor, gain: float = 1.0) -> Tensor:
        w = self.weight * self.scale
        if self.down and self.k == 1:
            x = F.conv2d(_blur(x, 1, 2), w)
        elif self.down:
            x = F.conv2d(_blur(x, (4 - 2 + self.k - 1) // 2), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.k // 2)
        if self.bias is not None:
            x = x + self.bias[None, :, None, None]
        if self.act:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2)
        return x * gain if gain != 1 else x


class _EqLinear(nn.Module):
    def __init__(self, cin: int, cout: int, act: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.act, self.scale = act, 1 / math.sqrt(cin)

    def forward(self, x: Tensor) -> Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.act else x


class _ADABlock(nn.Module):
    """ResNet block: skip = down(1x1 conv) * sqrt(1/2); main = conv3x3, conv3x3 down, * sqrt(1/2)."""

    def __init__(self, ctmp: int, cout: int, first: bool):
        super().__init__()
        self.fromrgb = _EqConv(3, ctmp, 1) if first else None
        self.conv0 = _EqConv(ctmp, ctmp, 3)
        self.conv1 = _EqConv(ctmp, cout, 3, down=True)
        self.skip = _EqConv(ctmp, cout, 1, bias=False, act=False, down=True)

    def forward(self, x: Tensor) -> Tensor:
        if self.fromrgb is not None:
            x = self.fromrgb(x)
        y = self.skip(x, gain=math.sqrt(0.5))
        return y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))


class StyleGAN2ADADiscriminator(nn.Module):
    """The StyleGAN2(-ADA) ResNet discriminator as the authors' tokenizer code configures it: blocks
    from ``resolution`` down to 8 px, channels ``min(channel_base // r, channel_max)`` at resolution
    r (``channel_base`` 32768 by default, 16384 in their 256-px Λ24-SQ config), then minibatch
    stddev (groups of 4, one feature), a 3x3 conv, a linear layer and the logit ``(b, 1)``."""

    def __init__(self, resolution: int = 256, channel_base: int = 32768, channel_max: int = 512, mbstd_group: int = 4):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        ch = lambda r: min(channel_base // r, channel_max)  # noqa: E731
        res = [2**i for i in range(int(math.log2(resolution)), 2, -1)]
        self.blocks = nn.ModuleList(_ADABlock(ch(r), ch(r // 2), i == 0) for i, r in enumerate(res))
        c = ch(4)
        self.conv = _EqConv(c + 1, c, 3)
        self.fc = _EqLinear(c * 16, c)
        self.out = _EqLinear(c, 1, act=False)
        self.resolution, self.mbstd_group = resolution, mbstd_group

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(b, 1)`` (real > 0) of images ``(b, 3, H, W)`` in [-1, 1], resized to the
        discriminator's resolution when they differ."""
        if tuple(x.shape[-2:]) != (self.resolution, self.resolution):
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False)
        for blk in self.blocks:
            x = blk(x)
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n) if n % min(self.mbstd_group, n) == 0 else 1
        y = x.reshape(g, -1, 1, c, h, w)
        y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=(2, 3, 4))  # (n/g, 1)
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        x = self.conv(torch.cat([x, y], 1))
        return self.out(self.fc(x.flatten(1)))


def make_discriminator(kind: str, resolution: int, channels: int = 64) -> nn.Module:
    """``"patchgan"``, ``"stylegan2"`` (npq's simplified one, ``channels`` at full resolution) or
    ``"stylegan2-ada"`` (the authors'; ``channels`` is then the channel base / 1024, i.e. 32 for
    their default base 32768, 16 for 16384)."""
    if kind == "patchgan":
        return PatchGAN(channels)
    if kind == "stylegan2":
        return StyleGAN2Discriminator(resolution, channels)
    if kind == "stylegan2-ada":
        return StyleGAN2ADADiscriminator(resolution, channel_base=channels * 1024)
    raise ValueError(f"discriminator must be 'patchgan', 'stylegan2' or 'stylegan2-ada', got {kind!r}")
