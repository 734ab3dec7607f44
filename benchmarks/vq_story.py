"""The seed's VQ story on a toy problem: code usage and reconstruction error over training for
plain VQ, each remedy, each gradient estimator, and fixed lattice codes (E8, Λ24).

A small MLP autoencoder (16 -> 64 -> d -> quantizer -> 64 -> 16) learns continuous 16-d data that
lie on a 4-d manifold (x = tanh(W s), s uniform). Every variant sees the same data and seeds.

    python benchmarks/vq_story.py [--steps 1500] [--out docs]   # writes docs/figures/vq_story.png and a table
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn

from npq.quantize import SphericalLatticeQuantizer, VectorQuantizer
from npq.utils.figures import pyplot, save_figure
from npq.utils.fileio import atomic_write_text

VARIANTS = {
    "VQ (plain, STE)": lambda: VectorQuantizer(8, 256),
    "VQ + EMA": lambda: VectorQuantizer(8, 256, update="ema"),
    "VQ + k-means init": lambda: VectorQuantizer(8, 256, init="kmeans"),
    "VQ + dead-code revival": lambda: VectorQuantizer(8, 256, dead_code_steps=20),
    "VQ + CVQ anchors": lambda: VectorQuantizer(8, 256, cvq=True),
    "VQ + affine (running)": lambda: VectorQuantizer(8, 256, affine="running"),
    "VQ + affine (learned)": lambda: VectorQuantizer(8, 256, affine="learned"),
    "VQ + rotation trick": lambda: VectorQuantizer(8, 256, estimator="rotation"),
    "VQ + index backprop": lambda: VectorQuantizer(8, 256, estimator="index_backprop"),
    "VQ + Gumbel softmax": lambda: VectorQuantizer(8, 256, estimator="gumbel", gumbel_kl_weight=0.01),
    "E8-SQ (fixed, 240)": lambda: SphericalLatticeQuantizer("e8"),
    "Λ24-SQ (fixed, 196,560)": lambda: SphericalLatticeQuantizer("leech"),
}


def make_data(n: int, gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(123))
    s = torch.rand(n, 4, generator=gen) * 2 - 1
    return torch.tanh(s @ w.T)


class AE(nn.Module):
    def __init__(self, quantizer):
        super().__init__()
        d = quantizer.dim
        self.enc = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, d))
        self.q = quantizer
        self.dec = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, 16))

    def forward(self, x):
        out = self.q(self.enc(x))
        return self.dec(out.z_q), out


def run(name: str, steps: int, every: int) -> dict:
    torch.manual_seed(0)
    model = AE(VARIANTS[name]())
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    gen = torch.Generator().manual_seed(1)
    x_eval = make_data(4096, torch.Generator().manual_seed(2))
    hist = {"step": [], "usage": [], "mse": []}
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        model.train()
        x = make_data(256, gen)
        rec, out = model(x)
        loss = (rec - x).pow(2).mean() + out.loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % every == 0 or step == 1:
            model.eval()
            with torch.no_grad():
                rec, out = model(x_eval)
            used = torch.unique(out.indices).numel()
            hist["step"].append(step)
            hist["usage"].append(used / min(model.q.codebook_size, len(x_eval)))
            hist["mse"].append((rec - x_eval).pow(2).mean().item())
    hist["seconds"] = time.perf_counter() - t0
    hist["codebook_size"] = model.q.codebook_size
    hist["codes_used"] = used
    return hist


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()
    results = {}
    for name in VARIANTS:
        results[name] = run(name, args.steps, args.every)
        r = results[name]
        print(f"{name:28s} used {r['codes_used']:6d}/{r['codebook_size']:<7d} mse {r['mse'][-1]:.4f} ({r['seconds']:.0f}s)", flush=True)

    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.5))
    for name, r in results.items():
        style = "--" if "SQ" in name else "-"
        axes[0].plot(r["step"], r["usage"], style, label=name)
        axes[1].plot(r["step"], r["mse"], style, label=name)
    axes[0].set(xlabel="step", ylabel="codes used / min(K, 4096)", title="code usage (eval set)")
    axes[1].set(xlabel="step", ylabel="reconstruction MSE", title="reconstruction error (eval set)", yscale="log")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out = Path(args.out)
    save_figure(fig, out / "figures" / "vq_story", formats=("png",))
    rows = ["| variant | K | codes used (of 4,096 eval points) | final MSE | time (s) |", "|---|---|---|---|---|"]
    for name, r in results.items():
        rows.append(f"| {name} | {r['codebook_size']:,} | {r['codes_used']:,} | {r['mse'][-1]:.4f} | {r['seconds']:.0f} |")
    table = "\n".join(rows)
    atomic_write_text(out / "figures" / "vq_story.json", json.dumps(results, indent=1))
    print(table)


if __name__ == "__main__":
    main()
