"""Conversions between image arrays and model tensors; padding to a multiple of the patch size."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

__all__ = ["to_tensor", "to_uint8", "pad_to_multiple", "resize_center_crop"]


def to_tensor(img: np.ndarray) -> Tensor:
    """uint8 ``(H, W, 3)`` -> float ``(1, 3, H, W)`` in [-1, 1]."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a uint8 RGB array (H, W, 3), got {img.dtype} {img.shape}")
    t = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()  # the only float copy
    return t.div_(127.5).sub_(1)  # in place: a 24 MP photo costs one 288 MB tensor, not three


def to_uint8(x: Tensor) -> np.ndarray:
    """float ``(1, 3, H, W)`` or ``(3, H, W)`` in [-1, 1] -> uint8 ``(H, W, 3)`` (clamped, rounded)."""
    if x.ndim == 4:
        x = x[0]
    y = x.detach().float().cpu().clamp(-1, 1)  # one float copy, then in place
    return y.add_(1).mul_(127.5).round_().to(torch.uint8).permute(1, 2, 0).numpy()


def pad_to_multiple(x: Tensor, multiple: int, mode: str = "replicate") -> tuple[Tensor, tuple[int, int]]:
    """Pad ``(b, c, H, W)`` on the bottom/right to multiples of ``multiple``; returns the padded
    tensor and the original ``(H, W)`` for cropping back."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        if mode == "reflect" and (ph >= h or pw >= w):
            mode = "replicate"  # reflect needs the pad smaller than the image
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


_INTERPOLATION = {"bicubic": Image.BICUBIC, "lanczos": Image.LANCZOS, "bilinear": Image.BILINEAR}


def resize_center_crop(img: Image.Image, size: int, interpolation: str = "bicubic") -> Image.Image:
    """Resize the short side to ``size`` (antialiased; ``interpolation`` bicubic, lanczos as the
    authors' evaluation, or bilinear) and crop the central square."""
    if interpolation not in _INTERPOLATION:
        raise ValueError(f"interpolation must be one of {sorted(_INTERPOLATION)}, got {interpolation!r}")
    w, h = img.size
    r = size / min(w, h)
    img = img.resize((max(size, round(w * r)), max(size, round(h * r))), _INTERPOLATION[interpolation])
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))
