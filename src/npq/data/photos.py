"""Real photographs available offline.

The **public evaluation set** is a handful of colour photos shipped inside pip packages
(scikit-image, scikit-learn, matplotlib). Never train on it. Missing packages are skipped.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

__all__ = ["public_eval_photos", "open_image", "load_rgb", "sky_gradient"]

# (package, relative path) of the public evaluation photos (colour, natural scenes)
_PUBLIC = [
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/hubble_deep_field.jpg"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
]


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def public_eval_photos() -> list[Path]:
    """Paths of the public evaluation photos that are installed (possibly an empty list)."""
    out = []
    for pkg, rel in _PUBLIC:
        base = _package_dir(pkg)
        if base is not None and (base / rel).is_file():
            out.append(base / rel)
    return out


def open_image(path: str | Path):
    """A loaded PIL image with its EXIF orientation applied (as viewers show it).

    Clear errors instead of tracebacks: a missing file (FileNotFoundError), an unreadable or
    truncated one, an image over Pillow's decompression-bomb limit (ValueError saying how to allow
    it: ``NPQ_MAX_IMAGE_PIXELS=N`` or ``PIL.Image.MAX_IMAGE_PIXELS``). An animated image is read as
    its first frame, with a warning.
    """
    import warnings

    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    if os.environ.get("NPQ_MAX_IMAGE_PIXELS"):
        Image.MAX_IMAGE_PIXELS = int(os.environ["NPQ_MAX_IMAGE_PIXELS"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(p)
            frames = getattr(im, "n_frames", 1)
            im.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ValueError(f"{p}: {e} Set NPQ_MAX_IMAGE_PIXELS=<pixels> (or PIL.Image.MAX_IMAGE_PIXELS) to allow it.") from None
    except UnidentifiedImageError as e:
        raise ValueError(f"cannot read {p} as an image: {e}") from None
    except (OSError, SyntaxError) as e:  # truncated or corrupt data
        raise ValueError(f"cannot read {p} as an image ({e}); the file may be truncated or corrupt") from None
    if frames > 1:
        warnings.warn(f"{p} has {frames} frames; npq codes its first frame only", stacklevel=2)
    if im.format == "PNG":  # Pillow reads 48/64-bit colour PNGs as 8-bit RGB(A): refuse them as 16-bit grey is
        with open(p, "rb") as f:
            ihdr = f.read(26)
        if len(ihdr) == 26 and ihdr[24] == 16 and ihdr[25] in (2, 4, 6):
            raise ValueError(f"{p}: 16 bits per channel (a {16 * (3 if ihdr[25] == 2 else 4 if ihdr[25] == 6 else 2)}-bit PNG) "
                             "is not supported: npq models 8-bit images; convert it to 8 bits per channel first")
    return ImageOps.exif_transpose(im)


def load_rgb(path: str | Path) -> np.ndarray:
    """An image file as uint8 RGB ``(h, w, 3)`` (EXIF orientation applied, alpha dropped); 16-bit
    and float images are refused rather than clipped."""
    im = open_image(path)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        raise ValueError(f"{path}: {im.mode} images (16-bit or float) are not supported; convert to 8-bit first")
    return np.array(im.convert("RGBA").convert("RGB") if im.mode in ("PA", "RGBa", "LA") else im.convert("RGB"))


def sky_gradient(width: int = 768, height: int = 512) -> np.ndarray:
    """A synthetic clear sky (RGB uint8 (height, width, 3)): a smooth vertical gradient from deep
    blue at the top to pale blue at the horizon, slightly brighter towards the right (a sun off
    frame), as dithered 8-bit values. Smooth regions like this show a tokenizer's colour banding
    and blotches, which photos with texture hide."""
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    x = np.linspace(0.0, 1.0, width)[None, :, None]
    top, bottom = np.array([40.0, 95.0, 180.0]), np.array([190.0, 215.0, 240.0])
    img = top + (bottom - top) * y**0.8 + 12.0 * x * (1 - y)
    dither = np.random.default_rng(0).uniform(-0.5, 0.5, img.shape)
    return np.clip(np.round(img + dither), 0, 255).astype(np.uint8)
