"""Train the Fashion-MNIST classifier behind the generation metrics (npq.metrics.classifier).

Training split only (60,000 images, padded to 32x32, random shifts of up to 2 px and flips);
reports and records its test accuracy. Writes src/npq/assets/fmnist_classifier.safetensors.

    python scripts/train_fmnist_classifier.py --epochs 4 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from npq.data.fashion_mnist import load_split, to_images
from npq.metrics.classifier import CLASSIFIER_FILE, FashionClassifier, save_classifier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(CLASSIFIER_FILE))
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs, ys = load_split("train")
    x, y = to_images(xs), torch.from_numpy(ys)
    xt, yt = to_images(load_split("test")[0]), torch.from_numpy(load_split("test")[1])
    model = FashionClassifier()
    steps = a.epochs * (len(x) // a.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, a.lr, total_steps=steps)
    t0, step = time.time(), 0
    for ep in range(a.epochs):
        perm = torch.randperm(len(x))
        model.train()
        for i in range(0, len(x) - a.batch_size + 1, a.batch_size):
            idx = perm[i : i + a.batch_size]
            xb = x[idx]
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            xb = torch.roll(xb, (dy, dx), (2, 3))
            if torch.rand(()) < 0.5:
                xb = xb.flip(-1)
            loss = F.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0:
                print(f"epoch {ep} step {step}/{steps} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    with torch.no_grad():
        acc = float(torch.cat([model(xt[i : i + 1000]).argmax(1) for i in range(0, len(xt), 1000)]).eq(yt).float().mean())
    save_classifier(model, a.out, acc)
    print(f"test accuracy {acc:.4f}; wrote {a.out} ({time.time() - t0:.0f} s, {a.epochs} epochs)")


if __name__ == "__main__":
    main()
