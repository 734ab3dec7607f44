"""Token datasets: images -> sharded, memory-mappable token grids with class labels.

A dataset folder holds ``meta.json`` and, per shard ``k``, ``tokens_{k:05d}.npy`` (``(n, h, w)``
int32) and ``labels_{k:05d}.npy`` (``(n,)`` int16). ``.npy`` files load with ``mmap_mode="r"``
and without pickles. Shard ``k`` always holds images ``k S .. (k + 1) S - 1`` of the sorted source,
each shard is written atomically, so a killed run resumes by skipping the shards that exist, and
rank ``r`` of ``W`` writes the shards ``k = r mod W``.

Sources: ``fashion-mnist:train`` / ``fashion-mnist:test``; a folder with one subfolder per class
(ImageNet layout: the sorted subfolder names are the classes); or a flat folder (one class). Images
from folders are resized (short side, bicubic) and centre-cropped to ``resolution``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ..data.fashion_mnist import CLASSES as FASHION_CLASSES
from ..data.fashion_mnist import FashionMNIST, is_fashion_mnist
from ..data.images import IMAGE_EXTENSIONS, list_images
from ..utils.fileio import atomic_write, atomic_write_text

__all__ = ["LabelledImages", "write_token_dataset", "TokenDataset", "token_batches", "META"]

META = "meta.json"
FORMAT = "npq-tokens/1"


class LabelledImages(torch.utils.data.Dataset):
    """``(image (3, res, res) in [-1, 1], label)`` pairs of a source (see the module docstring)."""

    def __init__(self, source: str, resolution: int):
        self.source, self.resolution = str(source), int(resolution)
        if is_fashion_mnist(self.source):
            split = self.source.split(":", 1)[1] if ":" in self.source else "train"
            self._fm = FashionMNIST(split, self.resolution)
            self.classes = list(FASHION_CLASSES)
            self.labels = self._fm.labels.numpy()
            return
        self._fm = None
        root = Path(self.source)
        if not root.is_dir():
            raise FileNotFoundError(f"data not found: {root} (a folder of images, one subfolder per class, or fashion-mnist:train|test)")
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        if subdirs and not files:
            self.classes = [p.name for p in subdirs]
            pairs = [(f, k) for k, d in enumerate(subdirs) for f in (list_images(d) if any(d.rglob("*")) else [])]
        else:
            self.classes = [root.name or "images"]
            pairs = [(f, 0) for f in list_images(root)]
        if not pairs:
            raise FileNotFoundError(f"no images under {root}")
        self.files = [f for f, _ in pairs]
        self.labels = np.array([k for _, k in pairs], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        if self._fm is not None:
            return self._fm[i], int(self.labels[i])
        with Image.open(self.files[i]) as im:
            im = im.convert("RGB")
            r = self.resolution / min(im.size)
            im = im.resize((max(self.resolution, round(im.size[0] * r)), max(self.resolution, round(im.size[1] * r))), Image.BICUBIC)
            left, top = (im.size[0] - self.resolution) // 2, (im.size[1] - self.resolution) // 2
            im = im.crop((left, top, left + self.resolution, top + self.resolution))
            x = torch.from_numpy(np.array(im, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1
        return x, int(self.labels[i])


def _save_npy(path: Path, a: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, a, allow_pickle=False))


def write_token_dataset(
    images: LabelledImages,
    encode: Callable[[Tensor], Tensor],
    out: str | Path,
    meta: dict,
    shard_size: int = 10_000,
    batch_size: int = 256,
    num_workers: int = 0,
    rank: int = 0,
    world: int = 1,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Tokenize ``images`` into ``out`` (see the module docstring); ``encode``: images
    ``(b, 3, H, W)`` -> tokens ``(b, h, w)``. Existing shards are kept (resume); returns the meta
    (written by rank 0 once every shard exists). ``progress(n)`` is told of each finished batch."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n = len(images)
    shards = [(k, k * shard_size, min(n, (k + 1) * shard_size)) for k in range((n + shard_size - 1) // shard_size)]
    grid = None
    for k, lo, hi in shards:
        if k % world != rank:
            continue
        tok_path, lab_path = out / f"tokens_{k:05d}.npy", out / f"labels_{k:05d}.npy"
        if tok_path.is_file() and lab_path.is_file():
            if progress:
                progress(hi - lo)
            continue
        sub = torch.utils.data.Subset(images, range(lo, hi))
        loader = torch.utils.data.DataLoader(sub, batch_size=batch_size, num_workers=num_workers, shuffle=False)
        toks, labs = [], []
        for x, y in loader:
            t = encode(x)
            if t.ndim != 3:
                raise ValueError(f"token datasets need one token grid per image (b, h, w), the tokenizer gives {tuple(t.shape)}")
            toks.append(t.cpu().numpy().astype(np.int32))
            labs.append(y.numpy().astype(np.int16))
            if progress:
                progress(len(x))
        tk = np.concatenate(toks)
        grid = list(tk.shape[1:])
        _save_npy(lab_path, np.concatenate(labs))  # labels first: a shard exists once its tokens do
        _save_npy(tok_path, tk)
    info = dict(meta)
    info.update(format=FORMAT, count=n, shard_size=shard_size, shards=len(shards), classes=images.classes,
                num_classes=len(images.classes), source=images.source, resolution=images.resolution)
    if world > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # every rank's shards exist before rank 0 declares the dataset complete
    if rank == 0:
        if grid is None:
            first = out / "tokens_00000.npy"
            grid = list(np.load(first, mmap_mode="r", allow_pickle=False).shape[1:]) if first.is_file() else None
        info["grid"] = grid
        missing = [k for k, _, _ in shards if not (out / f"tokens_{k:05d}.npy").is_file()]
        if not missing:
            atomic_write_text(out / META, json.dumps(info, indent=1))
    return info


class TokenDataset:
    """A token dataset folder, memory-mapped: ``tokens[i] (h, w)`` int64 and ``labels[i]``.

    Raises a clear error for a folder that is not (or not yet completely) a token dataset."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta = self.root / META
        if not meta.is_file():
            raise FileNotFoundError(f"{self.root} is not a complete token dataset (no {META}; make one with "
                                    "npq tokenize-dataset, re-running it finishes an interrupted one)")
        try:
            self.meta = json.loads(meta.read_text())
        except ValueError as e:
            raise ValueError(f"{meta}: not valid JSON ({e})") from None
        if self.meta.get("format") != FORMAT:
            raise ValueError(f"{meta}: not an npq token dataset (format {self.meta.get('format')!r})")
        self._tokens, self._labels = [], []
        for k in range(int(self.meta["shards"])):
            t = np.load(self.root / f"tokens_{k:05d}.npy", mmap_mode="r", allow_pickle=False)
            lab = np.load(self.root / f"labels_{k:05d}.npy", mmap_mode="r", allow_pickle=False)
            if t.ndim != 3 or lab.shape != (len(t),):
                raise ValueError(f"{self.root}: shard {k} has tokens {t.shape} and labels {lab.shape}")
            self._tokens.append(t)
            self._labels.append(lab)
        self.offsets = np.cumsum([0] + [len(t) for t in self._tokens])
        if int(self.offsets[-1]) != int(self.meta["count"]):
            raise ValueError(f"{self.root}: {int(self.offsets[-1])} token grids, meta.json says {self.meta['count']}")
        self.grid = tuple(self._tokens[0].shape[1:])
        self.classes = list(self.meta["classes"])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def get(self, idx: np.ndarray) -> tuple[Tensor, Tensor]:
        """Token grids ``(n, h, w)`` int64 and labels ``(n,)`` int64 of the indices ``idx``."""
        idx = np.asarray(idx)
        shard = np.searchsorted(self.offsets, idx, side="right") - 1
        toks = np.empty((len(idx),) + self.grid, dtype=np.int64)
        labs = np.empty(len(idx), dtype=np.int64)
        for s in np.unique(shard):
            m = shard == s
            local = idx[m] - self.offsets[s]
            order = np.argsort(local)
            toks[np.flatnonzero(m)[order]] = self._tokens[s][local[order]]
            labs[np.flatnonzero(m)[order]] = self._labels[s][local[order]]
        return torch.from_numpy(toks), torch.from_numpy(labs)


def token_batches(ds: TokenDataset, global_batch: int, rank: int = 0, world: int = 1, seed: int = 0,
                  start_step: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
    """Endless ``(tokens, labels)`` batches: per epoch a seeded permutation, rank ``r`` taking
    positions ``r::world`` of each global batch; starts at ``start_step`` (exact resume)."""
    if global_batch % world:
        raise ValueError(f"global batch {global_batch} must be divisible by the world size {world}")
    n = len(ds)
    per_epoch = max(1, n // global_batch)
    step, perm_epoch, perm = start_step, -1, None
    while True:
        epoch, k = divmod(step, per_epoch)
        if epoch != perm_epoch:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch)).numpy()
            if n < global_batch:
                perm = np.tile(perm, -(-global_batch // n))
            perm_epoch = epoch
        idx = perm[k * global_batch : (k + 1) * global_batch][rank::world]
        yield ds.get(idx)
        step += 1
