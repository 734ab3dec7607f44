"""A class-conditional decoder-only transformer over token grids (raster order), LlamaGen-style.

The sequence is ``[class, t_0, ..., t_{L-2}]``; the hidden state at position ``i`` predicts token
``t_i`` through an output head (:mod:`npq.generate.heads`). Blocks are pre-norm with RMSNorm,
SwiGLU feed-forward and 2-D rotary position embeddings (half of each head's channels rotate with
the token's row, half with its column; the class position is not rotated), as in LlamaGen
(Sun et al., 2024). Classifier-free guidance: the class is replaced by a learned "null" class with
probability ``class_dropout`` in training.

Token inputs are embedded from their codewords, ``Linear(quantizer.dim -> width)`` of
``quantizer.decode(t)``, so the input side is the same whatever head predicts the tokens (and a
196,560-entry input table is not needed). A key/value cache makes sampling one position per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GeneratorConfig", "GENERATOR_PRESETS", "Transformer", "KVCache", "rope_2d"]


@dataclass
class GeneratorConfig:
    """Transformer size and conditioning.

    Attributes:
        width: model width; depth: blocks; heads: attention heads (width / heads must be even, a
            multiple of 4 for 2-D rotary embeddings).
        grid: token grid ``[h, w]`` (sequence length h w).
        num_classes: classes of the conditioning (one more embedding is the null class).
        class_dropout: probability of the null class in training (classifier-free guidance).
        mlp_ratio: SwiGLU hidden width / width (LlamaGen: 8/3 of 4x rounded; here a ratio).
        dropout: residual and attention dropout in training.
        rope_base: rotary frequency base.
    """

    width: int = 128
    depth: int = 4
    heads: int = 4
    grid: tuple[int, int] = (8, 8)
    num_classes: int = 10
    class_dropout: float = 0.1
    mlp_ratio: float = 8 / 3
    dropout: float = 0.0
    rope_base: float = 10000.0

    def __post_init__(self) -> None:
        self.grid = tuple(int(g) for g in self.grid)
        for k in ("width", "depth", "heads", "num_classes"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"generator.{k} must be a positive integer, got {v!r}")
        if len(self.grid) != 2 or min(self.grid) <= 0:
            raise ValueError(f"generator.grid must be [h, w] with positive sides, got {self.grid!r}")
        if self.width % self.heads or (self.width // self.heads) % 4:
            raise ValueError(f"generator.width / generator.heads must be a multiple of 4 (2-D rotary), got {self.width}/{self.heads}")
        if not 0 <= self.class_dropout < 1 or not 0 <= self.dropout < 1:
            raise ValueError("generator.class_dropout and generator.dropout must be in [0, 1)")

    @property
    def length(self) -> int:
        return self.grid[0] * self.grid[1]


# sizes: "tiny" trains on 2 CPU cores in minutes (Fashion-MNIST 8x8 tokens); "b" is LlamaGen-B
# (111M parameters with its index head over 16,384 codes; 24 blocks of width 768, 12 heads)
GENERATOR_PRESETS = {
    "tiny": dict(width=128, depth=4, heads=4),
    "small": dict(width=384, depth=12, heads=6),
    "b": dict(width=768, depth=24, heads=12),
    "l": dict(width=1024, depth=24, heads=16),
}


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class SwiGLU(nn.Module):
    def __init__(self, dim: int, ratio: float, dropout: float):
        super().__init__()
        hidden = int(math.ceil(dim * ratio / 8) * 8)
        self.w1, self.w3 = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.w2(F.silu(self.w1(x)) * self.w3(x)))


def rope_2d(grid: tuple[int, int], head_dim: int, base: float = 10000.0, dtype=torch.float32) -> Tensor:
    """Rotation angles (radians) ``(1 + h w, head_dim / 2)`` for the sequence ``[class, t_0 ... ]``:
    position ``1 + i`` holds the input token ``t_i`` at row ``i // w``, column ``i % w``; the
    first half of the frequencies follow the row, the second the column; the class position has
    angle 0. (Only positions ``0 .. h w - 1`` are ever inputs.)"""
    h, w = grid
    quarter = head_dim // 4
    freqs = 1.0 / base ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows = torch.arange(h * w, dtype=torch.float64) // w
    cols = torch.arange(h * w, dtype=torch.float64) % w
    ang = torch.cat([rows[:, None] * freqs, cols[:, None] * freqs], 1)
    return torch.cat([torch.zeros(1, 2 * quarter, dtype=torch.float64), ang]).to(dtype)


def _rotate(x: Tensor, ang: Tensor | tuple[Tensor, Tensor]) -> Tensor:
    """``x (..., T, hd)`` rotated pairwise (channels 2k, 2k+1) by ``ang (T, hd/2)`` (or by its
    precomputed ``(cos, sin)``). float32 / float64: one complex product (a few operations: the
    cached sampling step is short enough for their count to matter); other dtypes (bf16, fp16
    under autocast) the same rotation in real arithmetic."""
    cos, sin = ang if isinstance(ang, tuple) else (ang.cos(), ang.sin())
    if x.dtype in (torch.float32, torch.float64) and x.stride(-1) == 1:
        rot = torch.complex(cos.to(x.dtype), sin.to(x.dtype))
        return torch.view_as_real(torch.view_as_complex(x.unflatten(-1, (-1, 2))) * rot).flatten(-2)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1).flatten(-2)


class KVCache:
    """Keys and values of every block for ``batch`` sequences of up to ``length`` positions."""

    def __init__(self, depth: int, batch: int, heads: int, length: int, head_dim: int, device=None, dtype=torch.float32):
        shape = (batch, heads, length, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(depth)]


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.dropout = dropout
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, ang: Tensor | tuple[Tensor, Tensor], cache: KVCache | None, layer: int, start: int) -> Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        (q, k), v = _rotate(qkv[:2], ang), qkv[2]  # queries and keys rotated in one call
        if cache is not None:
            cache.k[layer][:, :, start : start + t] = k
            cache.v[layer][:, :, start : start + t] = v
            k, v = cache.k[layer][:, :, : start + t], cache.v[layer][:, :, : start + t]
        if start == 0 or t == 1:  # (one new position sees every cached one: no mask)
            mask = None
            causal = start == 0 and t > 1
        else:  # new positions see every cached one and the new ones up to themselves
            causal = False
            mask = torch.ones(t, start + t, dtype=torch.bool, device=x.device).tril(start)
        p = self.dropout if self.training else 0.0
        if t == 1 and p == 0.0:  # a cached sampling step: three small products (the fused kernel's set-up costs more)
            y = (q @ k.transpose(-2, -1)).mul_(q.shape[-1] ** -0.5).softmax(-1) @ v
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal, dropout_p=p)
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


class Block(nn.Module):
    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(cfg.width), RMSNorm(cfg.width)
        self.attn = Attention(cfg.width, cfg.heads, cfg.dropout)
        self.mlp = SwiGLU(cfg.width, cfg.mlp_ratio, cfg.dropout)

    def forward(self, x: Tensor, ang: Tensor | tuple[Tensor, Tensor], cache: KVCache | None, layer: int, start: int) -> Tensor:
        x = x + self.attn(self.norm1(x), ang, cache, layer, start)
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """The trunk: ``(codes (b, T, code_dim) of t_0.., classes (b,)) -> hidden (b, T + 1, width)``
    for positions ``[class, t_0, ...]`` (or the new positions only, with a cache)."""

    def __init__(self, cfg: GeneratorConfig, code_dim: int):
        super().__init__()
        self.cfg = cfg
        self.class_emb = nn.Embedding(cfg.num_classes + 1, cfg.width)  # the last one: the null class
        self.code_in = nn.Linear(code_dim, cfg.width)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm = RMSNorm(cfg.width)
        self.register_buffer("angles", rope_2d(cfg.grid, cfg.width // cfg.heads, cfg.rope_base), persistent=False)
        self.register_buffer("rope_cos", self.angles.cos(), persistent=False)  # computed once, not per block and step
        self.register_buffer("rope_sin", self.angles.sin(), persistent=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)

    @property
    def null_class(self) -> int:
        return self.cfg.num_classes

    def new_cache(self, batch: int, device=None, dtype=torch.float32) -> KVCache:
        """An empty key/value cache for ``batch`` sequences: ``depth`` layers of ``(batch, heads,
        length, head_dim)`` keys and values of ``dtype`` on ``device``."""
        c = self.cfg
        return KVCache(c.depth, batch, c.heads, c.length, c.width // c.heads, device, dtype)

    def forward(self, classes: Tensor | None, codes: Tensor | None, cache: KVCache | None = None, start: int = 0) -> Tensor:
        """``classes (b,)`` int64 (needed when ``start == 0``), ``codes (b, T, code_dim)`` for the
        input tokens at positions ``start + 1 ..`` (``start == 0``: after the class) or None."""
        parts = []
        if start == 0:
            parts.append(self.class_emb(classes)[:, None])
        if codes is not None and codes.shape[1]:
            parts.append(self.code_in(codes.to(self.code_in.weight.dtype)))
        x = torch.cat(parts, 1)
        t = x.shape[1]
        if start + t > self.cfg.length:
            raise ValueError(f"sequence of {start + t} positions exceeds the generator's {self.cfg.length}")
        ang = (self.rope_cos[start : start + t], self.rope_sin[start : start + t])
        for i, blk in enumerate(self.blocks):
            x = blk(x, ang, cache, i, start)
        return self.norm(x)
