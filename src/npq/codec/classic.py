"""Classic codecs through Pillow, swept over their quality settings: JPEG, WebP, JPEG 2000."""

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
        im.save(buf, format="JPEG2000", quality_mode="rates", quality_layers=[float(quality)], irreversible=True)
    else:
        raise ValueError(f"unknown classic codec {codec!r}; choose from {sorted(CLASSIC_CODECS)}")
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as dec:
        out = np.array(dec.convert("RGB"))
    return data, out
