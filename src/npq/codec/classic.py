"""Classic codecs through Pillow at their best documented settings, swept over their quality:
JPEG (optimize, 4:2:0), WebP (method 6), JPEG 2000 (irreversible 9/7 wavelet, colour transform mct=1)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

__all__ = ["CLASSIC_CODECS", "classic_roundtrip"]

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
