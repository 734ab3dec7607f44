"""Fashion-MNIST (Xiao et al., 2017): 70,000 labelled 28x28 grey images of 10 clothing classes.

Read offline from the IDX files of the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist``; another folder with the same four files through
``NPQ_FASHION_MNIST`` or ``root=``). The ``train`` split (60,000) is for training, the ``test``
split (10,000) for evaluation only. Images are padded to 32x32 (black, the background) and given
three equal channels, so every npq tokenizer takes them as they are.

IDX format: a big-endian header (two zero bytes, the type code 0x08 = unsigned byte, the number of
dimensions, then each dimension as uint32) followed by the raw bytes; files may be gzipped.
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["CLASSES", "DEFAULT_ROOT", "SOURCE", "is_fashion_mnist", "read_idx", "write_idx", "load_split", "to_images", "FashionMNIST", "class_id"]

DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist"
SOURCE = "fashion-mnist"  # the name of the training split as a data source (``data.train``)
CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot")
_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
_ALIASES = {"t-shirt/top": "t-shirt", "tshirt": "t-shirt", "top": "t-shirt", "ankle boot": "ankle-boot", "boot": "ankle-boot"}


def is_fashion_mnist(source) -> bool:
    """Whether a data source names Fashion-MNIST (``"fashion-mnist"`` or ``"fashion-mnist:train"``)."""
    return isinstance(source, str) and source.split(":")[0] == SOURCE


def class_id(name_or_id: str | int) -> int:
    """A class index from its name (``"sneaker"``, case-insensitive) or its number 0..9."""
    s = str(name_or_id).strip().lower()
    if s.isdigit() and int(s) < len(CLASSES):
        return int(s)
    s = _ALIASES.get(s, s.replace(" ", "-"))
    if s in CLASSES:
        return CLASSES.index(s)
    raise ValueError(f"unknown Fashion-MNIST class {name_or_id!r}: use one of {', '.join(CLASSES)} or 0-9")


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (gzipped or not) of unsigned bytes as a uint8 array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) != 4 or head[:2] != b"\0\0" or head[2] != 0x08 or not 1 <= head[3] <= 4:
                raise ValueError(f"{path} is not an IDX file of unsigned bytes")
            shape = struct.unpack(f">{head[3]}I", f.read(4 * head[3]))
            n = int(np.prod(shape))
            if n > 1 << 31:
                raise ValueError(f"{path} declares {n} values, more than Fashion-MNIST holds")
            data = f.read(n + 1)
    except (OSError, EOFError, struct.error) as e:
        raise ValueError(f"cannot read {path}: {e}") from None
    if len(data) != n:
        raise ValueError(f"{path} holds {len(data)} bytes of data, its header declares {n}")
    return np.frombuffer(data, np.uint8).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz)."""
    a = np.ascontiguousarray(array, dtype=np.uint8)
    payload = b"\0\0\x08" + bytes([a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()
    Path(path).write_bytes(gzip.compress(payload) if str(path).endswith(".gz") else payload)


def _root(root: str | Path | None) -> Path:
    return Path(root or os.environ.get("NPQ_FASHION_MNIST") or DEFAULT_ROOT)


def load_split(split: str = "train", root: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 28, 28) uint8, labels (n,) int64)`` of the ``train`` or ``test`` split."""
    if split not in _FILES:
        raise ValueError(f"Fashion-MNIST split must be 'train' or 'test', got {split!r}")
    r = _root(root)
    paths = []
    for stem in _FILES[split]:
        cands = [r / (stem + ".gz"), r / stem]
        found = next((p for p in cands if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"Fashion-MNIST not found in {r} (no {stem}[.gz]): install it (Debian/Ubuntu: apt-get install -y "
                "dataset-fashion-mnist) or set NPQ_FASHION_MNIST to a folder holding the four IDX files")
        paths.append(found)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f"{paths[0]} / {paths[1]}: expected images (n, h, w) and n labels, got {images.shape} and {labels.shape}")
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise ValueError(f"{paths[1]}: labels must be 0..{len(CLASSES) - 1}, found {int(labels.max())}")
    return images, labels.astype(np.int64)


def to_images(grey: np.ndarray | Tensor, resolution: int = 32) -> Tensor:
    """uint8 ``(n, h, w)`` grey images -> float ``(n, 3, resolution, resolution)`` in [-1, 1],
    centred on black padding."""
    x = torch.from_numpy(np.array(grey, dtype=np.float32)) / 127.5 - 1
    n, h, w = x.shape
    if resolution < max(h, w):
        raise ValueError(f"resolution {resolution} is smaller than the images ({h}x{w})")
    top, left = (resolution - h) // 2, (resolution - w) // 2
    out = torch.full((n, 3, resolution, resolution), -1.0)
    out[:, :, top : top + h, left : left + w] = x[:, None]
    return out


class FashionMNIST(torch.utils.data.Dataset):
    """A split as ``(3, resolution, resolution)`` tensors in [-1, 1] (``labels``: the classes).

    Indexable by ``i`` or ``(i, epoch)`` like :class:`~npq.data.images.ImageDataset`, so the
    trainer's seeded batches work unchanged; ``flip`` mirrors with a probability of 1/2 seeded by
    ``(seed, epoch, i)``. Training code refuses the test split.
    """

    def __init__(self, split: str = "train", resolution: int = 32, flip: bool = False, seed: int = 0, root: str | Path | None = None):
        self.grey, labels = load_split(split, root)
        self.labels = torch.from_numpy(labels)
        self.split, self.resolution, self.flip, self.seed, self.epoch = split, int(resolution), flip, seed, 0
        to_images(self.grey[:1], self.resolution)  # the resolution check, before any training
        self.skipped: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.grey)

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds this epoch's random crops and flips (call before each epoch, as
        with a DistributedSampler)."""
        self.epoch = int(epoch)

    def __getitem__(self, key: int | tuple[int, int]) -> Tensor:
        i, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        x = to_images(self.grey[i : i + 1], self.resolution)[0]
        if self.flip:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + i)
            if float(torch.rand(1, generator=g)) < 0.5:
                x = x.flip(-1)
        return x
