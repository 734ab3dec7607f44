"""Training throughput (images/s) of the tiny CPU config and of ViT-S/8 at 128 px, in one run.

    python benchmarks/bench_train.py [--steps 5]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from npq.train import Trainer, load_config

SKIMAGE = Path(__import__("skimage").__file__).parent / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--vit-batch", type=int, default=8)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    photos = tmp / "photos"
    photos.mkdir()
    for n in ("brick.png", "grass.png", "gravel.png", "camera.png"):
        shutil.copy(SKIMAGE / n, photos / n)
    runs = {
        "tiny_cpu_leech (conv, 64 px, batch 16, L1 + random-AlexNet perceptual)": ("configs/tiny_cpu_leech.yaml", []),
        f"ViT-S/8 @128 px, Λ24-SQ, batch {args.vit_batch}, L1 + random-VGG perceptual + GAN": (
            "configs/imagenet128_vits8_leech.yaml",
            [f"data.batch_size={args.vit_batch}", "loss.perceptual_net=random-vgg", "data.num_workers=0", "data.preload=true"],
        ),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {'cuda' if torch.cuda.is_available() else 'cpu'}")
    print("| config | images/s | s/step |\n|---|---|---|")
    for name, (path, extra) in runs.items():
        cfg = load_config(path, [f"data.train={photos}", f"train.out_dir={tmp / 'run'}", "train.tensorboard=false",
                                 "train.ckpt_every=100000", "train.image_every=100000", "optim.warmup=1", *extra])
        t = Trainer(cfg, progress=False)
        t.run(steps=1)  # warm-up
        t0 = time.perf_counter()
        t.run(steps=1 + args.steps)
        dt = (time.perf_counter() - t0) / args.steps
        print(f"| {name} | {cfg.data.batch_size / dt:.2f} | {dt:.2f} |", flush=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
