"""Tiny training setups shared by the training tests (importable like :mod:`repo_paths`)."""

import shutil
from pathlib import Path

SKIMAGE = Path(__import__("skimage").__file__).parent / "data"
# real photos for training tests: scikit-image textures and scenes that are NOT in the public
# evaluation set (see npq.data.photos)
TRAIN_PHOTOS = ["brick.png", "grass.png", "gravel.png", "camera.png", "coins.png", "moon.png"]


def make_photo_dir(d: Path) -> Path:
    for name in TRAIN_PHOTOS:
        shutil.copy(SKIMAGE / name, d / name)
    return d


def tiny_overrides(photo_dir, out_dir, **extra) -> list[str]:
    """``key=value`` overrides of configs/tiny_cpu_leech.yaml for a 32-px conv tokenizer that
    trains a step in well under a second."""
    o = {
        "data.train": str(photo_dir), "data.resolution": 32, "data.batch_size": 4, "data.preload": True,
        "model.arch": "conv", "model.conv": "{channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}",
        "loss.perceptual_net": "random-alex", "loss.perceptual": 0.1, "loss.gan": 0.1, "loss.discriminator": "patchgan",
        "loss.disc_channels": 8, "loss.gan_start": 2, "loss.r1": 1.0, "loss.r1_every": 2,
        "optim.lr": 1e-3, "optim.warmup": 2, "optim.steps": 6, "train.out_dir": str(out_dir), "train.log_every": 1,
        "train.ckpt_every": 3, "train.image_every": 3, "train.tensorboard": False,
    }
    o.update(extra)
    return [f"{k}={v}" for k, v in o.items()]


def make_fashion_dir(d: Path, n_train: int = 48, n_test: int = 24, seed: int = 0) -> Path:
    """Fashion-MNIST-format IDX files (gzipped, as Debian ships them) of synthetic 28x28 images:
    class k is a bright horizontal bar at row 2 + 2k on noise, so a classifier can tell them."""
    import numpy as np

    from npq.data.fashion_mnist import write_idx

    g = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = g.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            images[i, 2 + 2 * k : 4 + 2 * k, 4:24] = 230
        write_idx(d / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(d / f"{split}-labels-idx1-ubyte.gz", labels)
    return d
