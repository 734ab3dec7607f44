"""Image datasets for tokenizer training: folders (recursive), tar shards, the offline corpora.

Every sample's augmentation is seeded by ``(seed, epoch, index)``, so a batch is the same whatever
the number of workers or ranks, and training resumes exactly.
"""

from __future__ import annotations

import io
import math
import re
import tarfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_images",
    "DEBIAN_PHOTO_DIRS",
    "debian_training_photos",
    "DEBIAN_WALLPAPER_PACKAGES",
    "debian_wallpapers",
    "ImageDataset",
    "batches",
    "resolve_source",
]

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".gif"}

# photos for training shipped by Debian packages (never the public evaluation set)
DEBIAN_PHOTO_DIRS = {
    "mate-backgrounds": "/usr/share/backgrounds/mate/nature",
    "opencv-doc": "/usr/share/doc/opencv-doc/examples/data",
    "libjxl-testdata": "/usr/share/libjxl-testdata",
}


def list_images(root: str | Path) -> list[Path]:
    """All image files under ``root`` (recursive, sorted). Clear errors for a missing or empty folder."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"data folder not found: {root}")
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_EXTENSIONS))}) under {root}")
    return files


def debian_training_photos(min_side: int = 128) -> list[Path]:
    """Colour photos from the Debian packages in ``DEBIAN_PHOTO_DIRS`` with both sides >= min_side."""
    out = []
    for d in DEBIAN_PHOTO_DIRS.values():
        if Path(d).is_dir():
            for p in list_images(d) if any(Path(d).rglob("*")) else []:
                try:
                    with Image.open(p) as im:
                        if min(im.size) >= min_side and im.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr", "L"):
                            out.append(p)
                except Exception:  # unreadable or exotic files in test-data packages
                    continue
    if not out:
        raise FileNotFoundError(
            f"no training photos found for photos:debian. Point data.train (or --data) at a folder of your own photos "
            f"instead: png/jpg/webp/... files, searched recursively, short side >= {min_side} px, a few dozen or more, "
            "never the images you evaluate on; or install the offline corpus (Debian/Ubuntu): "
            "apt-get update && apt-get install -y " + " ".join(DEBIAN_PHOTO_DIRS)
        )
    return out


# wallpaper packages (photos, paintings and smooth gradients: skies), also training-only; several
# ship one picture at many resolutions, so only the largest file of each picture is used
DEBIAN_WALLPAPER_PACKAGES = ("plasma-workspace-wallpapers", "gnome-backgrounds", "ukui-wallpapers", "sway-backgrounds")
_RESOLUTION = re.compile(r"\d{3,5}x\d{3,5}(_portrait)?", re.IGNORECASE)


def debian_wallpapers(min_side: int = 128, info_dir: str | Path = "/var/lib/dpkg/info") -> list[Path]:
    """The images of :data:`DEBIAN_WALLPAPER_PACKAGES` (from each package's own file list), one per
    picture: files whose names differ only by a resolution ("1920x1080", "..._Portrait") are one
    picture and the largest file stands for it. Sorted; clear error when none is installed."""
    files: list[Path] = []
    for pkg in DEBIAN_WALLPAPER_PACKAGES:
        for lst in sorted(Path(info_dir).glob(f"{pkg}.list")) + sorted(Path(info_dir).glob(f"{pkg}:*.list")):
            for line in lst.read_text().splitlines():
                q = Path(line.strip())
                if q.suffix.lower() in IMAGE_EXTENSIONS and q.stem.lower() != "screenshot" and q.is_file():  # not thumbnails
                    files.append(q)
    best: dict[tuple[str, str], Path] = {}
    for q in files:
        key = (str(q.parent), _RESOLUTION.sub("", q.stem).lower())
        if key not in best or q.stat().st_size > best[key].stat().st_size:
            best[key] = q
    out = []
    for q in sorted(best.values()):
        try:
            with Image.open(q) as im:
                if min(im.size) >= min_side:
                    out.append(q)
        except Exception:  # unreadable files are not training photos
            continue
    if not out:
        raise FileNotFoundError(
            "no wallpaper photos found; install them with: apt-get update && apt-get install -y " + " ".join(DEBIAN_WALLPAPER_PACKAGES)
        )
    return out


class _TarIndex:
    """Random access to image members of tar shards (offsets read once)."""

    def __init__(self, shards: Sequence[Path]):
        self.items: list[tuple[Path, int, int, str]] = []
        for s in shards:
            with tarfile.open(s) as tf:
                for m in tf.getmembers():
                    if m.isfile() and Path(m.name).suffix.lower() in IMAGE_EXTENSIONS:
                        self.items.append((s, m.offset_data, m.size, m.name))
        if not self.items:
            raise FileNotFoundError(f"no images in tar shards {[str(s) for s in shards]}")

    def read(self, i: int) -> bytes:
        path, off, size, _ = self.items[i]
        with open(path, "rb") as f:
            f.seek(off)
            return f.read(size)


def resolve_source(source: str | Sequence[str]) -> list[Path] | _TarIndex:
    """A data source: a folder (recursive), an image file, ``*.tar`` shard(s) / a glob of them,
    ``photos:debian`` (the offline training corpus), ``photos:wallpapers`` (the Debian wallpaper
    packages, :func:`debian_wallpapers`), or a list of such."""
    if isinstance(source, (list, tuple)):
        out: list[Path] = []
        for s in source:
            r = resolve_source(s)
            if isinstance(r, _TarIndex):
                raise ValueError("mixing tar shards with other sources is not supported")
            out += r
        return out
    s = str(source)
    if s == "photos:debian":
        return debian_training_photos()
    if s == "photos:wallpapers":
        return debian_wallpapers()
    if s.endswith(".tar") or "*.tar" in s:
        shards = sorted(Path().glob(s)) if any(ch in s for ch in "*?[") else [Path(s)]
        shards = [Path(p) for p in shards]
        missing = [p for p in shards if not p.is_file()]
        if not shards or missing:
            raise FileNotFoundError(f"tar shard(s) not found: {s}")
        return _TarIndex(shards)
    return list_images(s)


class ImageDataset(torch.utils.data.Dataset):
    """Images as ``(3, res, res)`` float tensors in [-1, 1] with seeded augmentation.

    Args:
        source: see :func:`resolve_source`.
        resolution: output side in pixels.
        crop: ``"random-resized"`` (area fraction in ``scale``, aspect in [3/4, 4/3], resized to
            ``resolution``), ``"resize-random"`` (short side resized to ``resolution``, bilinear,
            long side truncated as torchvision's ``Resize``, then a random square: the authors'
            training crop), ``"random"`` (a random square window, side between ``scale[0]`` of the
            short side and the short side) or ``"center"`` (the central square).
        flip: random horizontal flip.
        preload: decode every image once, keeping it in memory with the short side at most
            ``max_side`` (fast for small corpora).
    """

    def __init__(
        self,
        source: str | Path | list,
        resolution: int,
        crop: str = "random-resized",
        scale: tuple[float, float] = (0.35, 1.0),
        flip: bool = True,
        seed: int = 0,
        preload: bool = False,
        max_side: int = 768,
    ):
        if crop not in ("random-resized", "resize-random", "random", "center"):
            raise ValueError(f"crop must be 'random-resized', 'resize-random', 'random' or 'center', got {crop!r}")
        if not (0 < scale[0] <= scale[1] <= 1):
            raise ValueError(f"scale must satisfy 0 < min <= max <= 1, got {scale!r}")
        self.src = resolve_source(source)
        self.resolution, self.crop, self.scale, self.flip, self.seed = int(resolution), crop, tuple(scale), flip, seed
        self.epoch = 0
        self.max_side = max_side
        self.skipped: dict[str, str] = {}  # unreadable image -> reason (skipped, reported once)
        n = len(self.src.items) if isinstance(self.src, _TarIndex) else len(self.src)
        self._index = list(range(n))
        self._cache = None
        if preload:
            loaded = {i: self._try_load(i) for i in range(n)}
            self._index = [i for i in range(n) if loaded[i] is not None]
            self._cache = {i: loaded[i] for i in self._index}
            if not self._index:
                raise ValueError(f"none of the {n} training images could be read: " + "; ".join(f"{k}: {v}" for k, v in list(self.skipped.items())[:5]))

    def __len__(self) -> int:
        return len(self._index)

    def _name(self, i: int) -> str:
        return f"{self.src.items[i][0]}:{self.src.items[i][3]}" if isinstance(self.src, _TarIndex) else str(self.src[i])

    def _try_load(self, i: int) -> Image.Image | None:
        """The image, or None (recorded in ``skipped`` with a warning) when it cannot be decoded."""
        try:
            return self._load(i)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            name = self._name(i)
            if name not in self.skipped:
                self.skipped[name] = str(e) or type(e).__name__
                warnings.warn(f"skipping unreadable training image {name}: {self.skipped[name]} "
                              f"({len(self.skipped)} skipped so far)", stacklevel=2)
            return None

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that seeds this epoch's random crops and flips (call before each epoch, as
        with a DistributedSampler)."""
        self.epoch = int(epoch)

    def _load(self, i: int) -> Image.Image:
        if isinstance(self.src, _TarIndex):
            im = Image.open(io.BytesIO(self.src.read(i)))
        else:
            im = Image.open(self.src[i])
        im = im.convert("RGB")
        if self.max_side and min(im.size) > self.max_side:
            r = self.max_side / min(im.size)
            im = im.resize((max(1, round(im.size[0] * r)), max(1, round(im.size[1] * r))), Image.BICUBIC)
        return im

    def __getitem__(self, key: int | tuple[int, int]) -> Tensor:
        """Sample ``i`` (augmented for the current epoch) or ``(i, epoch)``."""
        k, epoch = key if isinstance(key, tuple) else (key, self.epoch)
        i = self._index[k]
        if self._cache is not None:
            im = self._cache[i]
        else:  # an unreadable file is replaced by the next readable one (and reported once)
            for step in range(len(self._index)):
                i = self._index[(k + step) % len(self._index)]
                im = self._try_load(i)
                if im is not None:
                    break
            else:
                raise ValueError(f"none of the {len(self._index)} training images could be read")
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) * 10_000_019 + i)
        w, h = im.size
        res = self.resolution
        if self.crop == "resize-random":
            nw, nh = (res, int(res * h / w)) if w <= h else (int(res * w / h), res)
            big = im.resize((nw, nh), Image.BILINEAR)
            x0 = int(torch.randint(0, big.size[0] - res + 1, (1,), generator=g))
            y0 = int(torch.randint(0, big.size[1] - res + 1, (1,), generator=g))
            x = torch.from_numpy(np.array(big.crop((x0, y0, x0 + res, y0 + res)), dtype=np.uint8)).permute(2, 0, 1).float() / 127.5 - 1
            if self.flip and float(torch.rand(1, generator=g)) < 0.5:
                x = x.flip(-1)
            return x
        if self.crop == "center":
            s = min(w, h)
            box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        elif self.crop == "random":
            s = min(w, h, max(res, int(min(w, h) * self.scale[0])))
            x0 = int(torch.randint(0, w - s + 1, (1,), generator=g))
            y0 = int(torch.randint(0, h - s + 1, (1,), generator=g))
            box = (x0, y0, x0 + s, y0 + s)
        else:
            box = None
            for _ in range(10):
                area = w * h * float(torch.empty(1).uniform_(self.scale[0], self.scale[1], generator=g))
                logr = float(torch.empty(1).uniform_(math.log(3 / 4), math.log(4 / 3), generator=g))
                cw, ch = int(round(math.sqrt(area * math.exp(logr)))), int(round(math.sqrt(area / math.exp(logr))))
                if 0 < cw <= w and 0 < ch <= h:
                    x0 = int(torch.randint(0, w - cw + 1, (1,), generator=g))
                    y0 = int(torch.randint(0, h - ch + 1, (1,), generator=g))
                    box = (x0, y0, x0 + cw, y0 + ch)
                    break
            if box is None:
                s = min(w, h)
                box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
        out = im.resize((res, res), Image.BICUBIC, box=box, reducing_gap=3.0)
        x = torch.from_numpy(np.array(out, dtype=np.uint8)).permute(2, 0, 1).float() / 127.5 - 1
        if self.flip and float(torch.rand(1, generator=g)) < 0.5:
            x = x.flip(-1)
        return x


class _StepBatches(torch.utils.data.Sampler):
    """Endless batch sampler: for each global step, this rank's ``(index, epoch)`` keys."""

    def __init__(self, n: int, global_batch: int, rank: int, world: int, seed: int, start_step: int):
        self.n, self.gb, self.rank, self.world, self.seed, self.start = n, global_batch, rank, world, seed, start_step

    def __iter__(self):
        per_epoch = max(1, self.n // self.gb) if self.n >= self.gb else 1
        step = self.start
        cache: tuple[int, list[int]] | None = None
        while True:
            epoch, k = divmod(step, per_epoch)
            if cache is None or cache[0] != epoch:
                perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 7919 + epoch))
                if self.n < self.gb:  # tiny corpora: repeat the permutation to fill a batch
                    perm = perm.repeat(math.ceil(self.gb / self.n))
                cache = (epoch, perm.tolist())
            idx = cache[1][k * self.gb : (k + 1) * self.gb][self.rank :: self.world]
            yield [(i, epoch) for i in idx]
            step += 1


def batches(
    dataset: ImageDataset,
    global_batch: int,
    rank: int = 0,
    world: int = 1,
    seed: int = 0,
    start_step: int = 0,
    num_workers: int = 0,
) -> Iterator[tuple[int, Tensor]]:
    """Endless ``(epoch, batch)`` iterator: per epoch a seeded permutation, global batches of
    consecutive indices, rank r taking positions r::world of each global batch. Starts at global
    step ``start_step`` without touching the skipped samples (exact resume). With workers, one
    persistent DataLoader serves all steps."""
    if global_batch % world:
        raise ValueError(f"global batch {global_batch} must be divisible by the world size {world}")
    sampler = _StepBatches(len(dataset), global_batch, rank, world, seed, start_step)
    if num_workers > 0:
        loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, persistent_workers=True)
        for keys, batch in zip(sampler, loader):
            yield keys[0][1], batch
    else:
        for keys in sampler:
            yield keys[0][1], torch.stack([dataset[k] for k in keys])
