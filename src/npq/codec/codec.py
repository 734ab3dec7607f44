"""Compress images to npq bitstreams and back (see :mod:`npq.codec.bitstream` for the format).

Any image size works: the image is padded (edge replication) to the tokenizer's multiple and the
reconstruction is cropped back. Modes: RGB; L (coded as gray RGB, decoded to L); RGBA (colour as
RGB, the alpha plane stored losslessly with zlib). Palette and other 8-bit modes are converted to
RGB/RGBA; 16-bit and float images are refused with a clear message.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.pixels import ImagePixels, deflate_alpha, image_mode, rgb_of
from ..data.transforms import to_uint8
from ..metrics.image import psnr_from_mse
from ..models.tiling import MARGIN, ONE_PASS, TILE, decode_tiled, encode_tiled
from .bitstream import BitstreamError, Header, pack, unpack
from .priors import Prior, UniformPrior, prior_class
from .refine import encode_refined

__all__ = ["model_id", "legacy_model_id", "model_stages", "compress", "decompress", "read_header", "CompressResult", "prepare_image", "decode_image", "decode_rgb_tiles", "psnr_of_tokens", "bits_per_pixel", "MAX_PIXELS", "DEFAULT_QUALITY"]

MAX_PIXELS = 1 << 28  # 268 MP (16384 x 16384): larger declared sizes are refused before any allocation


# The default rate level of a residual model: level 1, the only one where the shipped model beats
# JPEG at the same rate on the public evaluation photos (+0.41 dB at 0.142 bpp; levels 2-4 are
# 2.1-4.8 dB behind JPEG; `npq demo`, docs/default-model.md). Smooth skies band at level 1: use 3-4.
DEFAULT_QUALITY = 1


def bits_per_pixel(n_bytes: int, height: int, width: int) -> float:
    """Rate of a file of ``n_bytes`` for an image of ``height`` x ``width`` pixels."""
    return n_bytes * 8 / (height * width)


def _weights_digest(h, model) -> None:
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        a = v.detach().cpu().contiguous().numpy()
        h.update(a.astype(a.dtype.newbyteorder("<")).tobytes())  # little-endian on any host


def legacy_model_id(model) -> bytes:
    """The model id of files written by npq 0.1 (SHA-256 of ``{}`` and the weights): such files
    still decode; new files carry :func:`model_id`."""
    cached = getattr(model, "_npq_legacy_model_id", None)
    if cached is None:
        h = hashlib.sha256(b"{}")
        _weights_digest(h, model)
        cached = model._npq_legacy_model_id = h.digest()[:16]
    return cached


def model_id(model) -> bytes:
    """16-byte identifier of everything decoding depends on: the quantizers' structure (class,
    dimension, codebook size and index layout of each), the weights in key order, and every
    codebook table a quantizer generates at construction instead of storing it (the
    random-projection VQ's seeded random vectors, Fibonacci points): if a new torch or numpy
    generated another table, the id changes and old files are refused instead of decoding to
    other pixels. Cached on the model."""
    cached = getattr(model, "_npq_model_id", None)
    if cached is not None:
        return cached
    from ..lattices.code import TabulatedCode
    from ..quantize.base import Quantizer

    h = hashlib.sha256(b"npq-model-id/2\0")
    for name, m in model.named_modules():
        if isinstance(m, Quantizer):
            h.update(f"{name}:{type(m).__name__}:{m.dim}:{m.codebook_size}:{tuple(m.index_shape)}\0".encode())
            code = getattr(m, "code", None)
            if isinstance(code, TabulatedCode):
                h.update(code._points.numpy().astype("<f8").tobytes())
    _weights_digest(h, model)
    mid = h.digest()[:16]
    model._npq_model_id = mid
    return mid


def prepare_image(img: Image.Image) -> tuple[np.ndarray, str, np.ndarray | None]:
    """``(rgb, mode, alpha)`` of a whole PIL image: uint8 RGB ``(H, W, 3)``, the coded mode (``L``,
    ``RGB`` or ``RGBA``) and the uint8 alpha plane ``(H, W)`` or None. The codec itself works
    tile by tile (:class:`npq.data.pixels.ImagePixels`)."""
    mode = image_mode(img)
    alpha = np.array(img.convert("RGBA").getchannel("A")) if mode == "RGBA" else None
    return rgb_of(img), mode, alpha


@dataclass
class CompressResult:
    """What :func:`compress` returns: ``data`` (the bitstream bytes), ``tokens`` (int64 ``(grid_h,
    grid_w)``, or ``(grid_h, grid_w, stages)`` for a residual tokenizer) and ``bpp`` (file bits
    per image pixel)."""
    data: bytes
    tokens: np.ndarray  # (grid_h, grid_w), or (grid_h, grid_w, stages) for a residual tokenizer
    bpp: float


def _token_crc(tokens: np.ndarray) -> int:
    return zlib.crc32(tokens.astype("<i4").tobytes())  # little-endian int32 on any host


def _tiling(model, height: int, width: int, tile: int | None) -> tuple[int, int]:
    """(tokens per tile side, margin) of the network passes: one pass (0, 0) when the image fits
    in a tile of ``tile`` pixels (or ``tile`` is 0, or the model cannot be tiled). ``tile=None``:
    the codec's choice for memory, one pass up to ``ONE_PASS`` pixels a side, else ``TILE``."""
    f = model.downsample
    if tile is None:
        tile = 0 if max(height, width) <= ONE_PASS else TILE
    if tile <= 0 or max(height, width) <= tile or type(model.encoder).__name__ == "ViTEncoder":
        return 0, 0
    if tile < MIN_TILE_TOKENS * f:
        raise ValueError(f"tile must be 0 (one pass) or at least {MIN_TILE_TOKENS * f} pixels, got {tile}")
    return tile // f, MARGIN


MIN_TILE_TOKENS = 8  # smaller tiles are refused (a forged header must not ask for millions of passes)


def model_stages(model) -> tuple[int, int]:
    """(quantizer stages K, codes per stage) of a tokenizer: K > 1 for a residual quantizer, whose
    stages must share one codebook size (each stage's index is coded with the same prior)."""
    q = model.quantizer
    stages = getattr(q, "stages", None)
    if stages is None:
        return 1, q.codebook_size
    sizes = {s.codebook_size for s in stages}
    if len(sizes) != 1:
        raise ValueError(f"the codec needs residual stages of one codebook size, got {sorted(sizes)}")
    return len(stages), sizes.pop()


@torch.no_grad()
def compress(img: Image.Image, model, prior: Prior | None = None, tile: int | None = None, stages: int | None = None,
             refine: int = 0, progress: bool = False) -> CompressResult:
    """Encode ``img`` with tokenizer ``model`` and ``prior`` (default: the uniform prior).

    Images with a side over ``ONE_PASS`` (1,024) pixels go through the network in overlapping
    tiles of ``TILE`` (512) pixels (:mod:`npq.models.tiling`), cropped and converted from the PIL
    image one tile at a time (:class:`npq.data.pixels.ImagePixels`): memory is bounded by the
    tile and Pillow's own copy of the photo, never a float copy of it. The tiles are recorded in the
    header so that the decoder uses the same ones. ``tile``: other tiles (pixels; images with a
    side over it are tiled; 0 forces one pass). ``stages``: for a
    residual tokenizer, how many of its K stages to code (1..K, default K: the rate ladder).
    ``refine``: steps of encoder-side latent refinement (:mod:`npq.codec.refine`; 0 = the
    encoder's tokens; the file decodes the same way either way). ``progress``: a bar for it.
    """
    k_all, n = model_stages(model)
    m = k_all if stages is None else stages
    if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= k_all:
        raise ValueError(f"stages must be an integer in 1..{k_all} for this model, got {stages!r}")
    prior = prior if prior is not None else UniformPrior(n)
    if prior.n_codes != n:
        raise ValueError(f"the prior models {prior.n_codes} codes, the tokenizer has {n}")
    mode = image_mode(img)
    w, h = img.size
    side = 65535 * model.downsample  # the header's grid fields are u16
    if max(h, w) > side:
        raise ValueError(f"the image is {w}x{h} px; the format holds sides up to {side:,} px with this model: split it first")
    x = ImagePixels(img, model.downsample)  # (1, 3, H', W') computed tile by tile
    tile_t, margin = _tiling(model, h, w, tile)
    if refine:
        tokens = encode_refined(model, x, refine, m if k_all > 1 else None, (h, w), tile_t * model.downsample, margin,
                                progress=progress, one_pass=0)
    else:
        tokens = encode_tiled(model, x, tile_t * model.downsample, margin, one_pass=0)  # tile_t = 0: one pass
    tokens = tokens[0].cpu().numpy().astype(np.int64)
    if k_all > 1:
        tokens = np.ascontiguousarray(tokens[..., :m])  # (h, w, m)
    header = Header(model_id(model), prior.kind, prior.fingerprint(), h, w, mode, tokens.shape[0], tokens.shape[1], n,
                    _token_crc(tokens), tile_t, margin, m)
    payload = prior.encode_stages(tokens) if k_all > 1 and m > 1 else prior.encode(tokens.reshape(tokens.shape[0], tokens.shape[1]))
    data = pack(header, payload, deflate_alpha(img) if mode == "RGBA" else b"")
    return CompressResult(data, tokens, bits_per_pixel(len(data), h, w))


def read_header(data: bytes) -> Header:
    """The checked header of a bitstream (BitstreamError for a corrupt or foreign file)."""
    return unpack(data)[0]


def _decoder_tiles(h: Header, f: int) -> tuple[int, int, int]:
    """(tile pixels, margin tokens, one-pass pixels) the decoder uses for a file: the recorded
    tiles (the encoder's, so that its summary and the decoder agree) up to ``ONE_PASS`` pixels;
    a one-pass file up to ``ONE_PASS`` pixels a side in one pass; else its own ``TILE`` tiles, so
    memory stays bounded for any declared size and tiling (equal to the recorded tiles when the
    margin covers the decoder's receptive field: :mod:`npq.models.tiling`)."""
    if h.tile and h.tile * f <= ONE_PASS:
        return h.tile * f, h.margin, 0
    if not h.tile and max(h.height, h.width) <= ONE_PASS:
        return 0, 0, 0
    return TILE, MARGIN, 0


@torch.no_grad()
def _decode_tiles(model, tokens: np.ndarray, h: Header, emit) -> None:
    """Decode a file's (checked) ``tokens`` tile by tile: ``emit(rgb, (y0, x0))`` with each tile's
    uint8 RGB ``(th, tw, 3)`` cropped to the image (the padding dropped)."""
    k_all, _ = model_stages(model)
    t = torch.from_numpy(np.asarray(tokens, dtype=np.int64))[None]
    if k_all > 1 and t.ndim == 3:
        t = t[..., None]  # a one-stage file of a residual model
    tile, margin, one = _decoder_tiles(h, model.downsample)
    decode_rgb_tiles(model, t, h.height, h.width, emit, tile, margin, one)


def decode_rgb_tiles(model, tokens: Tensor, height: int, width: int, emit, tile: int = TILE, margin: int = MARGIN,
                     one_pass: int = ONE_PASS) -> None:
    """Decode token grids ``(1, h, w[, m])`` tile by tile (:func:`npq.models.tiling.decode_tiled`):
    ``emit(rgb, (y0, x0))`` with each tile as uint8 RGB ``(th, tw, 3)`` cropped to the image's
    ``height`` x ``width`` pixels (the padding dropped)."""

    def crop(px: Tensor, at: tuple[int, int]) -> None:
        y0, x0 = at
        if y0 < height and x0 < width:
            emit(to_uint8(px[..., : height - y0, : width - x0]), at)

    decode_tiled(model, tokens, tile, margin, one_pass, emit=crop)


def decode_image(model, tokens: np.ndarray, h: Header, alpha: np.ndarray | None = None) -> Image.Image:
    """The PIL image (mode ``h.mode``) a file with header ``h`` decodes its (checked) ``tokens``
    to, assembled tile by tile (the reconstruction is never a whole float array). ``alpha``: the
    RGBA file's alpha plane, uint8 ``(height, width)``. L files: the rounded mean of R, G, B."""
    out = Image.new("RGBA" if h.mode == "RGBA" else h.mode, (h.width, h.height))

    def paste(rgb: np.ndarray, at: tuple[int, int]) -> None:
        tile = Image.fromarray(np.round(rgb.astype(np.float64).mean(-1)).astype(np.uint8), "L") if h.mode == "L" else Image.fromarray(rgb, "RGB")
        out.paste(tile, (at[1], at[0]))

    _decode_tiles(model, tokens, h, paste)
    if h.mode == "RGBA":
        out.putalpha(Image.fromarray(alpha, "L"))
    return out


def psnr_of_tokens(model, tokens: np.ndarray, h: Header, img: Image.Image) -> float:
    """PSNR (dB on [0, 255], RGB) of what a file with header ``h`` and ``tokens`` decodes to against
    the image ``img`` it was made from, tile by tile (neither image is ever a whole array)."""
    sse = [0.0]

    def add(rgb: np.ndarray, at: tuple[int, int]) -> None:
        ref = rgb_of(img.crop((at[1], at[0], at[1] + rgb.shape[1], at[0] + rgb.shape[0])))
        sse[0] += float(np.sum((ref.astype(np.int32) - rgb.astype(np.int32)) ** 2, dtype=np.int64))

    _decode_tiles(model, tokens, h, add)
    return psnr_from_mse(sse[0] / (h.height * h.width * 3))


@torch.no_grad()
def decompress(data: bytes, model, prior: Prior | None = None, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode a bitstream made by :func:`compress` with the same model and prior (default: the
    uniform prior); every check passes before any pixel is produced, and a file declaring more
    than ``max_pixels`` pixels is refused before anything is allocated. Raises
    :class:`BitstreamError` otherwise."""
    h, payload, alpha = unpack(data)
    if h.height * h.width > max_pixels:
        raise BitstreamError(f"the file declares a {h.width}x{h.height} image, over the limit of {max_pixels:,} pixels "
                             "(decompress(..., max_pixels=N) to allow it)")
    mine = model_id(model)
    if h.model_id not in (mine, legacy_model_id(model)):
        raise BitstreamError(f"this file was made by another model (model id {h.model_id.hex()}, this model is {mine.hex()}): "
                             "give the model that wrote it (npq decompress --checkpoint MODEL)")
    k_all, n = model_stages(model)
    f = model.downsample
    if h.n_codes != n or h.grid_h != -(-h.height // f) or h.grid_w != -(-h.width // f) or h.height < 1 or h.width < 1:
        raise BitstreamError("corrupted npq bitstream (inconsistent image size, grid or codebook size)")
    if (h.tile == 0 and h.margin != 0) or (h.tile and (h.tile < MIN_TILE_TOKENS or h.margin != MARGIN
                                                       or max(h.grid_h, h.grid_w) <= h.tile)):
        # the encoder writes (0, 0) for one pass, else (tile, MARGIN) with the image larger than a tile
        raise BitstreamError(f"corrupted npq bitstream (tiles of {h.tile} tokens with margin {h.margin} on a "
                             f"{h.grid_w}x{h.grid_h} grid: values the encoder never writes)")
    if alpha and h.mode != "RGBA":
        raise BitstreamError(f"corrupted npq bitstream (an alpha plane in a {h.mode} file)")
    if h.stages > k_all:
        raise BitstreamError(f"this file codes {h.stages} quantizer stages per token; this model has {k_all}")
    try:
        needed = prior_class(h.prior).name
    except ValueError:
        raise BitstreamError(f"corrupted npq bitstream (unknown prior kind {h.prior})") from None
    prior = prior if prior is not None else UniformPrior(n)
    if h.prior != prior.kind:
        raise BitstreamError(f"this file was coded with the {needed} prior, not the {prior.name} prior: pass it (npq decompress --prior-file FILE)")
    given = prior
    if (prior := prior.variant_for(h.prior_id)) is None:
        raise BitstreamError(f"this file was coded with another {needed} prior (prior id {h.prior_id.hex()}, given {given.fingerprint().hex()})")
    try:
        grid = (h.grid_h, h.grid_w)
        tokens = prior.decode_stages(payload, grid, h.stages) if h.stages > 1 else prior.decode(payload, grid)
    except (ValueError, OverflowError, EOFError) as e:  # what a corrupt payload raises (a bug is not a "corrupt file")
        raise BitstreamError(f"cannot decode the payload with the {prior.name} prior: {e}") from None
    if tokens.min() < 0 or tokens.max() >= n or _token_crc(tokens) != h.token_crc:
        why = (" - learned-prior files are machine-bound: they decode only where the float logits round as where they were written"
               if prior.name == "learned" else "")
        raise BitstreamError(f"decoded tokens fail their checksum (the prior computed different probabilities here, or the file is corrupt){why}")
    a = None
    if h.mode == "RGBA":
        try:  # inflate at most one byte more than the plane: a zlib bomb stops there
            a = np.frombuffer(zlib.decompressobj().decompress(alpha, h.height * h.width + 1), dtype=np.uint8)
        except zlib.error as e:
            raise BitstreamError(f"corrupted alpha plane: {e}") from None
        if a.size != h.height * h.width:
            raise BitstreamError("corrupted alpha plane (wrong size)")
        a = a.reshape(h.height, h.width)
    return decode_image(model, tokens, h, a)
