"""Labelled image grids for generated samples (one row per class, its name on the left)."""

from __future__ import annotations

import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

__all__ = ["image_grid", "to_pil"]


def to_pil(image: Tensor) -> Image.Image:
    """``(3, H, W)`` in [-1, 1] -> an RGB PIL image (clamped, rounded)."""
    a = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).numpy())


def image_grid(images: Tensor, row_labels: list[str], per_row: int, scale: int | None = None, pad: int = 2) -> Image.Image:
    """Images ``(n, 3, H, W)`` in [-1, 1] as ``n / per_row`` rows of ``per_row``, each row
    labelled; small images are enlarged ``scale`` times (nearest; default: to at least 64 px)."""
    n, _, h, w = images.shape
    rows = -(-n // per_row)
    if len(row_labels) != rows:
        raise ValueError(f"{rows} rows but {len(row_labels)} labels")
    scale = scale or max(1, -(-64 // max(h, w)))
    font = ImageFont.load_default()
    label_w = 8 + max((int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(s, font=font)) for s in row_labels), default=0)
    cw, ch = w * scale + pad, h * scale + pad
    canvas = Image.new("RGB", (label_w + per_row * cw + pad, rows * ch + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for r, name in enumerate(row_labels):
        draw.text((4, pad + r * ch + ch // 2 - 6), name, fill="black", font=font)
    for i in range(n):
        r, c = divmod(i, per_row)
        im = to_pil(images[i]).resize((w * scale, h * scale), Image.NEAREST)
        canvas.paste(im, (label_w + pad + c * cw, pad + r * ch))
    return canvas


