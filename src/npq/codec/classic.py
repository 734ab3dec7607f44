"""Classic codecs through Pillow at their best documented settings, swept over their quality:
JPEG (optimize, 4:2:0), WebP (method 6), JPEG 2000 (irreversible 9/7 wavelet, colour transform mct=1)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["CLASSIC_CODECS", "classic_roundtrip", "classic_at_rate"]

# quality sweeps (low to high rate); JPEG 2000 uses compression ratios (rate = 24 / ratio bpp)
CLASSIC_CODECS = {
    "jpeg": [1, 3, 5, 10, 15, 20, 30, 40, 50, 60, 75, 90],
    "webp": [0, 5, 10, 20, 30, 40, 50, 60, 75, 90],
    "jpeg2000": [400, 300, 200, 150, 100, 80, 60, 48, 36, 24, 16, 8],
}


def classic_roundtrip(rgb: np.ndarray, codec: str, quality) -> tuple[bytes, np.ndarray]:
    """(file bytes, decoded RGB uint8) of one image at one quality setting."""
    im = Image.fromarray(rgb, "RGB")
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, format="JPEG", quality=int(quality), subsampling=2, optimize=True)
    elif codec == "webp":
        im.save(buf, format="WEBP", quality=int(quality), method=6)
    elif codec == "jpeg2000":
        # mct=1: the colour transform (YCbCr), as every JPEG 2000 encoder for photos uses; Pillow's default
        # (mct=0) codes R, G, B separately and costs JPEG 2000 0.5-2.6 dB on photos
        im.save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[float(quality)], irreversible=True, mct=1)
    else:
        raise ValueError(f"unknown classic codec {codec!r}; choose from {sorted(CLASSIC_CODECS)}")
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as dec:
        out = np.array(dec.convert("RGB"))
    return data, out


# the whole range of each codec's setting (low to high rate), searched by classic_at_rate
_RANGE = {"jpeg": (1, 95), "webp": (0, 100)}


def classic_at_rate(rgb: np.ndarray, codec: str, bpp: float) -> tuple[float, bytes, np.ndarray]:
    """The codec at the setting whose rate is nearest ``bpp`` (bits per pixel) over its whole range:
    ``(setting, file bytes, decoded RGB uint8)``. JPEG and WebP: bisection over the integer quality,
    then the nearer neighbour; JPEG 2000: its rate mode asked for ``bpp`` directly, corrected once.
    Where the codec cannot reach ``bpp`` this is the end of its range nearest to it."""
    if bpp <= 0 or not np.isfinite(bpp):
        raise ValueError(f"target rate must be a positive number of bits per pixel, got {bpp}")
    pixels = rgb.shape[0] * rgb.shape[1]
    rate = lambda data: len(data) * 8 / pixels  # noqa: E731
    if codec == "jpeg2000":
        ratio = min(max(24.0 / bpp, 2.0), 5000.0)
        data, rec = classic_roundtrip(rgb, codec, ratio)
        ratio2 = min(max(ratio * rate(data) / bpp, 2.0), 5000.0)  # the header's bytes: correct once
        data2, rec2 = classic_roundtrip(rgb, codec, ratio2)
        if abs(rate(data2) - bpp) < abs(rate(data) - bpp):
            ratio, data, rec = ratio2, data2, rec2
        return ratio, data, rec
    if codec not in _RANGE:
        raise ValueError(f"unknown classic codec {codec!r}; choose from {sorted(CLASSIC_CODECS)}")
    lo, hi = _RANGE[codec]
    cache: dict[int, tuple[bytes, np.ndarray]] = {}

    def at(q: int) -> tuple[bytes, np.ndarray]:
        if q not in cache:
            cache[q] = classic_roundtrip(rgb, codec, q)
        return cache[q]

    while hi - lo > 1:  # the rate grows with the quality (the nearer neighbour is checked below)
        mid = (lo + hi) // 2
        if rate(at(mid)[0]) < bpp:
            lo = mid
        else:
            hi = mid
    q = min((lo, hi), key=lambda q: abs(rate(at(q)[0]) - bpp))
    return float(q), *at(q)
