"""A small convolutional encoder/decoder that trains in reasonable time on a CPU.

Downsampling ``2^len(mult)`` with residual blocks; the encoder maps ``(b, 3, H, W)`` to
``(b, H/f, W/f, out_dim)`` (channel-last, like the ViT), the decoder the reverse.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor, nn

__all__ = ["ConvConfig", "ConvEncoder", "ConvDecoder"]


@dataclass
class ConvConfig:
    """Base channels, per-level multipliers (one downsampling per level), residual blocks per level."""

    channels: int = 32
    mult: list[int] = field(default_factory=lambda: [1, 2, 4])
    blocks: int = 1
    width: int = 128  # channels of the latent grid before the quantizer projection

    def __post_init__(self) -> None:
        if not self.mult or any((not isinstance(m, int)) or m <= 0 for m in self.mult):
            raise ValueError(f"conv.mult must be a non-empty list of positive ints, got {self.mult!r}")
        for k in ("channels", "width"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"conv.{k} must be a positive integer, got {v!r}")
        if isinstance(self.blocks, bool) or not isinstance(self.blocks, int) or self.blocks < 0:
            raise ValueError(f"conv.blocks must be an integer >= 0, got {self.blocks!r}")


class ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        g = min(8, c)
        self.body = nn.Sequential(nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1), nn.GroupNorm(g, c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """Convolutional encoder: images ``(b, 3, H, W)`` in [-1, 1] to a latent grid ``(b, H/f, W/f,
    width)``, f = 2^len(mult) (:class:`ConvConfig`)."""
    def __init__(self, cfg: ConvConfig):
        super().__init__()
        ch = [cfg.channels * m for m in cfg.mult]
        layers: list[nn.Module] = [nn.Conv2d(3, ch[0], 3, 1, 1)]
        prev = ch[0]
        for c in ch:
            layers += [nn.Conv2d(prev, c, 4, 2, 1)] + [ResBlock(c) for _ in range(cfg.blocks)]
            prev = c
        layers += [nn.GroupNorm(min(8, prev), prev), nn.SiLU(), nn.Conv2d(prev, cfg.width, 1)]
        self.net = nn.Sequential(*layers)
        self.out_dim = cfg.width
        self.downsample = 2 ** len(ch)

    def forward(self, images: Tensor) -> Tensor:
        """Latent grid ``(b, H/f, W/f, width)`` of images ``(b, 3, H, W)`` in [-1, 1] (H and W
        multiples of the downsampling f)."""
        f = self.downsample
        if images.shape[-1] % f or images.shape[-2] % f:
            raise ValueError(f"image size {tuple(images.shape[-2:])} must be a multiple of the downsampling {f}")
        return self.net(images).permute(0, 2, 3, 1)


class ConvDecoder(nn.Module):
    """Convolutional decoder, the encoder's mirror: a latent grid ``(b, h, w, width)`` to images ``(b,
    3, h f, w f)`` (:class:`ConvConfig`)."""
    def __init__(self, cfg: ConvConfig):
        super().__init__()
        ch = [cfg.channels * m for m in cfg.mult][::-1]
        layers: list[nn.Module] = [nn.Conv2d(cfg.width, ch[0], 3, 1, 1)]
        prev = ch[0]
        for c in ch:
            layers += [ResBlock(prev) for _ in range(cfg.blocks)] + [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(prev, c, 3, 1, 1)]
            prev = c
        layers += [nn.GroupNorm(min(8, prev), prev), nn.SiLU()]
        self.net = nn.Sequential(*layers)
        self.out = nn.Conv2d(prev, 3, 3, 1, 1)
        self.in_dim = cfg.width
        self.upsample = 2 ** len(ch)

    def forward(self, grid: Tensor) -> Tensor:
        """Images ``(b, 3, h f, w f)`` (about [-1, 1], not clamped) of a latent grid ``(b, h, w,
        width)``."""
        return self.out(self.net(grid.permute(0, 3, 1, 2)))

    def last_layer(self) -> Tensor:
        """The weight of the output convolution (the adaptive GAN weight's reference layer)."""
        return self.out.weight
