"""ViT encoder and decoder for tokenizers (pre-norm blocks, 2-D sin-cos or learnable positions).

Shapes: the encoder maps images ``(b, 3, H, W)`` to a grid ``(b, H/p, W/p, width)``; the decoder
maps such a grid back to images. With sin-cos positions a model runs at any resolution that is a
multiple of the patch size.

Options of the authors' published tokenizer (BSQ-ViT / Λ24-SQ code, ``transcoder/models/
transformer.py``), so their recipe and their checkpoints (:mod:`npq.models.official`) run here:
``ln_pre`` (a LayerNorm after the position embedding; the patch embedding then has no bias),
``pos="learned"`` (normal, std 0.02), ``head="tanh-mlp"`` (decoder output LayerNorm ->
Linear(width, head_dim) -> Tanh -> Linear(head_dim, 3 p^2); their ``head_dim`` is 3072 whatever the
width) and ``init="trunc-normal"`` (truncated normal 0.02 for the blocks' and heads' weights, zero
biases). Patch pixels are flattened channel-major ``(c, y, x)`` in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ViTConfig", "ViTEncoder", "ViTDecoder", "VIT_PRESETS", "sincos_2d"]


@dataclass
class ViTConfig:
    """Width, depth, heads, MLP ratio and patch size of a ViT; ``pos`` is ``"sincos"`` or ``"learned"``
    (learned needs ``image_size``); ``ln_pre``, ``head`` (``"linear"`` or ``"tanh-mlp"``),
    ``head_dim`` and ``init`` (``"default"`` or ``"trunc-normal"``): see the module docstring."""

    width: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    patch: int = 8
    pos: str = "sincos"
    image_size: int = 128
    ln_pre: bool = False
    head: str = "linear"
    head_dim: int = 3072
    init: str = "default"

    def __post_init__(self) -> None:
        for k in ("width", "depth", "heads", "patch", "image_size"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"vit.{k} must be a positive integer, got {v!r}")
        if self.width % self.heads:
            raise ValueError(f"vit.width ({self.width}) must be divisible by vit.heads ({self.heads})")
        if self.pos not in ("sincos", "learned"):
            raise ValueError(f"vit.pos must be 'sincos' or 'learned', got {self.pos!r}")
        if self.image_size % self.patch:
            raise ValueError(f"vit.image_size ({self.image_size}) must be a multiple of vit.patch ({self.patch})")
        if not isinstance(self.ln_pre, bool):
            raise ValueError(f"vit.ln_pre must be true or false, got {self.ln_pre!r}")
        if self.head not in ("linear", "tanh-mlp"):
            raise ValueError(f"vit.head must be 'linear' or 'tanh-mlp', got {self.head!r}")
        if isinstance(self.head_dim, bool) or not isinstance(self.head_dim, int) or self.head_dim <= 0:
            raise ValueError(f"vit.head_dim must be a positive integer, got {self.head_dim!r}")
        if self.init not in ("default", "trunc-normal"):
            raise ValueError(f"vit.init must be 'default' or 'trunc-normal', got {self.init!r}")


# the paper's presets (ViT-S/8 and ViT-B/8 at 128 and 256 pixels)
VIT_PRESETS = {
    "vit-s/8@128": ViTConfig(384, 12, 6, 4.0, 8, "sincos", 128),
    "vit-s/8@256": ViTConfig(384, 12, 6, 4.0, 8, "sincos", 256),
    "vit-b/8@128": ViTConfig(768, 12, 12, 4.0, 8, "sincos", 128),
    "vit-b/8@256": ViTConfig(768, 12, 12, 4.0, 8, "sincos", 256),
}


def sincos_2d(h: int, w: int, dim: int, device=None) -> Tensor:
    """2-D sin-cos position embedding ``(h * w, dim)`` (half the channels per axis), dim % 4 == 0."""
    if dim % 4:
        raise ValueError(f"sin-cos positions need width % 4 == 0, got {dim}")
    q = dim // 4
    omega = 1.0 / (10000 ** (torch.arange(q, dtype=torch.float32, device=device) / q))
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device), torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
    out = []
    for grid in (ys.reshape(-1), xs.reshape(-1)):
        a = grid[:, None] * omega[None]
        out += [a.sin(), a.cos()]
    return torch.cat(out, 1)


class Block(nn.Module):
    """Pre-norm transformer block: x + MHSA(LN(x)), x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, c))
        return x + self.mlp(self.norm2(x))


def _trunc_normal_init(module: nn.Module) -> None:
    """Truncated normal (std 0.02, at +-2) weights and zero biases of every Linear (the authors' init)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _ViTBase(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.blocks = nn.ModuleList(Block(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width)
        if cfg.ln_pre:
            self.norm_pre = nn.LayerNorm(cfg.width)
        if cfg.pos == "learned":
            g = cfg.image_size // cfg.patch
            self.pos_embed = nn.Parameter(torch.randn(1, g * g, cfg.width) * 0.02)
        if cfg.init == "trunc-normal":
            _trunc_normal_init(self.blocks)

    def _pos(self, h: int, w: int, device) -> Tensor:
        if self.cfg.pos == "sincos":
            return sincos_2d(h, w, self.cfg.width, device)[None]
        g = self.cfg.image_size // self.cfg.patch
        if (h, w) != (g, g):
            raise ValueError(f"learned positions were trained for a {g}x{g} grid, got {h}x{w}; use pos='sincos' for other sizes")
        return self.pos_embed

    def _run(self, x: Tensor, h: int, w: int) -> Tensor:
        x = x + self._pos(h, w, x.device).to(x.dtype)
        if self.cfg.ln_pre:
            x = self.norm_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class ViTEncoder(_ViTBase):
    """Images ``(b, 3, H, W)`` -> grid ``(b, H/p, W/p, width)``."""

    def __init__(self, cfg: ViTConfig):
        super().__init__(cfg)
        self.patch_embed = nn.Conv2d(3, cfg.width, cfg.patch, cfg.patch, bias=not cfg.ln_pre)
        if cfg.init == "trunc-normal":
            nn.init.trunc_normal_(self.patch_embed.weight, std=0.02)
        self.out_dim = cfg.width
        self.downsample = cfg.patch

    def forward(self, images: Tensor) -> Tensor:
        """Latent grid ``(b, H/p, W/p, width)`` of images ``(b, 3, H, W)`` in [-1, 1] (H and W
        multiples of the patch size p)."""
        p = self.cfg.patch
        if images.shape[-1] % p or images.shape[-2] % p:
            raise ValueError(f"image size {tuple(images.shape[-2:])} must be a multiple of the patch size {p}")
        x = self.patch_embed(images)  # (b, c, h, w)
        b, c, h, w = x.shape
        x = self._run(x.flatten(2).transpose(1, 2), h, w)
        return x.reshape(b, h, w, c)


class ViTDecoder(_ViTBase):
    """Grid ``(b, h, w, width)`` -> images ``(b, 3, h p, w p)``."""

    def __init__(self, cfg: ViTConfig):
        super().__init__(cfg)
        out = 3 * cfg.patch * cfg.patch
        if cfg.head == "tanh-mlp":
            self.head = nn.Sequential(nn.Linear(cfg.width, cfg.head_dim), nn.Tanh())
            self.to_pixels = nn.Linear(cfg.head_dim, out)
        else:
            self.to_pixels = nn.Linear(cfg.width, out)
        if cfg.init == "trunc-normal":
            _trunc_normal_init(self.to_pixels)
            if cfg.head == "tanh-mlp":
                _trunc_normal_init(self.head)
        self.in_dim = cfg.width
        self.upsample = cfg.patch

    def forward(self, grid: Tensor) -> Tensor:
        """Images ``(b, 3, h p, w p)`` of a latent grid ``(b, h, w, width)`` (clamped to [-1, 1] when
        the config says so)."""
        b, h, w, c = grid.shape
        p = self.cfg.patch
        x = self._run(grid.reshape(b, h * w, c), h, w)
        if self.cfg.head == "tanh-mlp":
            x = self.head(x)
        x = self.to_pixels(x).reshape(b, h, w, 3, p, p)
        return x.permute(0, 3, 1, 4, 2, 5).reshape(b, 3, h * p, w * p)

    def last_layer(self) -> Tensor:
        """Weight of the output layer (for the adaptive GAN weight)."""
        return self.to_pixels.weight
