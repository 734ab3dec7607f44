"""A PIL image as the float tensor a tokenizer encodes, computed one slice at a time.

``ImagePixels(img, f)[:, :, y0:y1, x0:x1]`` equals the same slice of
``pad_to_multiple(to_tensor(rgb), f, mode="replicate")[0]`` where ``rgb`` is the image's RGB
plane (:func:`image_mode` / :func:`rgb_of`), but only that slice is cropped, colour-converted and
turned into floats. A 64 MP photo thus exists once, as Pillow's own image, while the codec runs
tile by tile (:mod:`npq.models.tiling`): no whole-image float copy, no second copy in another
colour mode. The alpha plane of an RGBA image is deflated row strip by row strip
(:func:`deflate_alpha`).
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image
from torch import Tensor

from .transforms import to_tensor

__all__ = ["ImagePixels", "image_mode", "rgb_of", "deflate_alpha"]

UNSUPPORTED = ("I;16", "I;16B", "I;16L", "I", "F")
ALPHA_MODES = ("LA", "PA", "RGBa")  # kept as RGBA (RGBa: premultiplied, undone)


def image_mode(img: Image.Image) -> str:
    """The mode npq codes ``img`` in: ``L``, ``RGB`` or ``RGBA`` (palette images with a
    transparent colour and alpha modes keep their alpha plane). 16-bit and float images are
    refused rather than clipped."""
    if img.mode in UNSUPPORTED:
        raise ValueError(f"{img.mode} images (16-bit or float) are not supported; convert to 8-bit first")
    if img.size[0] < 1 or img.size[1] < 1:
        raise ValueError("empty image")
    if img.mode == "P":
        return "RGBA" if "transparency" in img.info else "RGB"
    if img.mode in ALPHA_MODES:
        return "RGBA"
    return img.mode if img.mode in ("L", "RGB", "RGBA") else "RGB"


def _as_coded(img: Image.Image) -> Image.Image:
    """A (cropped) image in the mode :func:`image_mode` names: the same pixelwise conversion for
    a crop as for the whole image."""
    mode = image_mode(img)
    return img if img.mode == mode else img.convert(mode)


def rgb_of(img: Image.Image) -> np.ndarray:
    """The RGB plane npq codes, uint8 ``(H, W, 3)`` (alpha dropped, never composited)."""
    im = _as_coded(img)
    return np.array(im if im.mode == "RGB" else im.convert("RGB"))


class ImagePixels:
    """``img`` as a lazily computed float tensor of shape ``(1, 3, H', W')`` in [-1, 1], H' and W'
    the image's height and width rounded up to multiples of ``multiple`` (replicate padding).
    Supports ``shape`` and slicing ``[:, :, y0:y1, x0:x1]`` (unit steps); :meth:`full` computes
    all of it (for images that go through the network in one pass)."""

    def __init__(self, img: Image.Image, multiple: int = 1):
        image_mode(img)  # refuses what cannot be coded, before any work
        img.load()
        self.img = img
        self.width, self.height = img.size
        self.shape = (1, 3, -(-self.height // multiple) * multiple, -(-self.width // multiple) * multiple)

    def __getitem__(self, key) -> Tensor:
        if not (isinstance(key, tuple) and len(key) == 4 and all(isinstance(k, slice) for k in key)):
            raise TypeError("ImagePixels supports [:, :, y0:y1, x0:x1] slicing only")
        (y0, y1, sy), (x0, x1, sx) = key[2].indices(self.shape[2]), key[3].indices(self.shape[3])
        if sy != 1 or sx != 1 or y1 <= y0 or x1 <= x0 or key[0] != slice(None) or key[1] != slice(None):
            raise ValueError(f"unsupported slice {key} of ImagePixels")
        # rows and columns past the image replicate its last row / column
        rows = np.minimum(np.arange(y0, y1), self.height - 1)
        cols = np.minimum(np.arange(x0, x1), self.width - 1)
        a, b, c, d = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        rgb = rgb_of(self.img.crop((c, a, d, b)))
        if b - a != y1 - y0 or d - c != x1 - x0:
            rgb = rgb[rows - a][:, cols - c]
        return to_tensor(rgb)

    def full(self) -> Tensor:
        """The whole padded tensor (for images small enough for one pass)."""
        return self[:, :, :, :]


def deflate_alpha(img: Image.Image, rows: int = 256) -> bytes:
    """The alpha plane of an image coded as RGBA, row-major uint8, deflated (zlib level 9) in
    strips of ``rows`` rows: the same bytes as ``zlib.compress(alpha.tobytes(), 9)`` without the
    whole plane in memory."""
    z = zlib.compressobj(9)
    out = []
    w, h = img.size
    for y in range(0, h, rows):
        out.append(z.compress(_as_coded(img.crop((0, y, w, min(h, y + rows)))).getchannel("A").tobytes()))
    out.append(z.flush())
    return b"".join(out)
