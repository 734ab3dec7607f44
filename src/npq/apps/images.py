"""Tokenize and reconstruct image files with a tokenizer (any size: padded to the tokenizer's
multiple by edge replication, cropped back). Large images go through the network tile by tile
(:mod:`npq.models.tiling`) and never exist as a whole float tensor: pixels are converted per
tile (:class:`npq.data.pixels.ImagePixels`) and decoded tiles are written straight into the
uint8 result."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.photos import load_rgb
from ..data.pixels import ImagePixels
from ..codec.codec import decode_rgb_tiles
from ..metrics.image import psnr_uint8
from ..models.tiling import encode_tiled
from ..utils.fileio import PNG_MAGIC, atomic_write_bytes, check_output

__all__ = ["detokenize_array", "SIZE_SUFFIX", "tokenize_array", "reconstruct_array", "tokenize_files", "reconstruct_files", "unique_names"]


def unique_names(paths: Sequence[str | Path], suffix: str = "") -> list[str]:
    """Output names (file name stem + ``suffix``, or the full name without a suffix) of
    ``paths``; ValueError when two inputs would share one (outputs would overwrite each other)."""
    names = [(Path(p).stem + suffix) if suffix else Path(p).name for p in paths]
    seen: dict[str, str] = {}
    for p, n in zip(paths, names):
        if n in seen:
            raise ValueError(f"{seen[n]} and {p} would both be written as {n!r}; rename one or run them separately")
        seen[n] = str(p)
    return names


def _pixels(model, rgb: np.ndarray) -> ImagePixels:
    """``pad_to_multiple(to_tensor(rgb), f)``, computed tile by tile."""
    return ImagePixels(Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)), model.downsample)


def _decode_into(model, tokens: torch.Tensor, height: int, width: int) -> np.ndarray:
    """RGB uint8 ``(height, width, 3)`` of token grids ``(1, h, w[, m])``, tile by tile into one
    array (the padding beyond height x width dropped)."""
    out = np.empty((height, width, 3), dtype=np.uint8)

    def put(rgb: np.ndarray, at: tuple[int, int]) -> None:
        out[at[0] : at[0] + rgb.shape[0], at[1] : at[1] + rgb.shape[1]] = rgb

    decode_rgb_tiles(model, tokens, height, width, put)
    return out


@torch.no_grad()
def tokenize_array(model, rgb: np.ndarray) -> np.ndarray:
    """Token grid ``(ceil(H / f), ceil(W / f))`` int64 of an RGB uint8 image ``(H, W, 3)``."""
    return encode_tiled(model, _pixels(model, rgb))[0].cpu().numpy().astype(np.int64)  # one pass up to ONE_PASS px a side


@torch.no_grad()
def reconstruct_array(model, rgb: np.ndarray) -> np.ndarray:
    """Reconstruction (RGB uint8, same size) of an image through tokens and back."""
    return _decode_into(model, encode_tiled(model, _pixels(model, rgb)), rgb.shape[0], rgb.shape[1])


SIZE_SUFFIX = "::size"  # npz entries "<name>::size" = [height, width] of the image before padding


def tokenize_files(model, paths: Sequence[str | Path]) -> dict[str, np.ndarray]:
    """``{file name: token grid int64 (H/f, W/f) or (H/f, W/f, stages), file name + '::size': [H, W]}``
    of image files (file names must be unique), each image tokenized at its native size; the
    sizes let :func:`detokenize_arrays` crop back to the original pixels."""
    out = {}
    for name, p in zip(unique_names(paths), paths):
        rgb = load_rgb(p)
        out[name] = tokenize_array(model, rgb)
        out[name + SIZE_SUFFIX] = np.array(rgb.shape[:2], dtype=np.int64)
    return out


@torch.no_grad()
def detokenize_array(model, tokens: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """RGB uint8 image of a token grid ``(h, w)`` (``(h, w, m)``: the first m residual stages),
    cropped to ``size`` (H, W) when given; the inverse of :func:`tokenize_array`."""
    t = torch.as_tensor(np.asarray(tokens, dtype=np.int64))[None]
    f = model.downsample
    h, w = t.shape[1] * f, t.shape[2] * f
    if size is not None:
        h, w = min(h, int(size[0])), min(w, int(size[1]))
    return _decode_into(model, t, h, w)


def reconstruct_files(model, paths: Sequence[str | Path], out_dir: str | Path, force: bool = False) -> list[tuple[str, Path, float]]:
    """Write ``out_dir/<stem>.png`` for each image file; returns (input, output, PSNR dB) rows.
    Stems must be unique (``a.png`` and ``a.jpg`` would write the same file); no output may be
    an input, and an existing file is never replaced unless ``force`` (it may be the original)."""
    names = unique_names(paths, ".png")
    for name in names:
        check_output(Path(out_dir) / name, paths, PNG_MAGIC, "a PNG image", force, replace_same_kind=False)
    rows = []
    for name, p in zip(names, paths):
        img = load_rgb(p)
        rec = reconstruct_array(model, img)
        buf = io.BytesIO()
        Image.fromarray(rec).save(buf, format="PNG")
        target = atomic_write_bytes(Path(out_dir) / name, buf.getvalue())
        rows.append((str(p), target, psnr_uint8(img, rec)))  # in row blocks: no float copy of the photo
    return rows
