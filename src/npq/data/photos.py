"""Real photographs available offline.

The **public evaluation set** is a handful of colour photos shipped inside pip packages
(scikit-image, scikit-learn, matplotlib). Never train on it. Missing packages are skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["public_eval_photos", "load_rgb"]

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


def load_rgb(path: str | Path) -> np.ndarray:
    """Load an image file as uint8 RGB ``(h, w, 3)``; a clear error if it is missing or unreadable."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image file not found: {p}")
    try:
        with Image.open(p) as im:
            return np.array(im.convert("RGB"))
    except UnidentifiedImageError as e:
        raise ValueError(f"cannot read {p} as an image: {e}") from None
