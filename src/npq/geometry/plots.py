"""Figures of the seed, computed live: Voronoi partitions with STE arrows, δ_min(N) curves, and
entropy regularization as equalization of Voronoi volumes. PNG and SVG via matplotlib."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from ..lattices.fibonacci import fibonacci_sphere
from ..quantize import BSQ, FSQ, LFQ, SphericalLatticeQuantizer
from ..utils.figures import pyplot as _plt
from ..utils.figures import save_figure
from ..utils.fileio import atomic_write_text
from .dmin import min_angle_bruteforce, min_angle_large
from .sphere import area_bound_dmin_deg, uniform_sphere

__all__ = ["plot_voronoi", "plot_delta_min", "plot_entropy", "delta_min_curves", "entropy_relocation"]



def _voronoi_panel(ax, quantize, codes: np.ndarray, title: str, lim: float = 2.6) -> None:
    grid = np.linspace(-lim, lim, 401)
    xx, yy = np.meshgrid(grid, grid)
    pts = torch.tensor(np.stack([xx.ravel(), yy.ravel()], 1), dtype=torch.float32)
    idx, _ = quantize(pts)
    ax.imshow(idx.reshape(xx.shape).numpy() % 10, extent=(-lim, lim, -lim, lim), origin="lower", cmap="tab10", alpha=0.35, interpolation="nearest")
    coarse = np.linspace(-lim + 0.3, lim - 0.3, 13)
    cx, cy = np.meshgrid(coarse, coarse)
    cp = torch.tensor(np.stack([cx.ravel(), cy.ravel()], 1), dtype=torch.float32)
    _, zq = quantize(cp)
    d = (zq - cp).numpy()
    ax.quiver(cp[:, 0], cp[:, 1], d[:, 0], d[:, 1], angles="xy", scale_units="xy", scale=1, width=0.004, color="k", alpha=0.7)
    ax.scatter(codes[:, 0], codes[:, 1], c="crimson", s=40, zorder=3)
    if "hexagonal" in title or "BSQ" in title:
        t = np.linspace(0, 2 * np.pi, 200)
        ax.plot(np.cos(t), np.sin(t), "k:", lw=0.8)
    ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)


def plot_voronoi(out: str | Path) -> list[Path]:
    """The four 2-D partitions of the seed, with STE error arrows ẑ - z on a grid of inputs."""
    plt = _plt()
    lfq, bsq, fsq, hexq = LFQ(2), BSQ(2), FSQ([5, 5]), SphericalLatticeQuantizer("a2")

    def run(q, scale=1.0):
        def f(x):
            with torch.no_grad():
                o = q(x)
            return o.indices, o.z_q * scale

        return f

    panels = [
        (run(lfq), lfq.decode(torch.arange(4)).numpy(), "LFQ: (±1, ±1)"),
        (run(bsq), bsq.decode(torch.arange(4)).numpy(), "BSQ: (±1/√2, ±1/√2)"),
        (run(fsq, 2.0), (fsq.decode(torch.arange(25)) * 2).numpy(), "FSQ: {-2..2}² (tanh-bounded input)"),
        (run(hexq), hexq.decode(torch.arange(6)).numpy(), "hexagonal spherical code (A2 shell, 6)"),
    ]
    fig, axes = plt.subplots(2, 2, figsize=(9, 9))
    for ax, (f, codes, title) in zip(axes.ravel(), panels):
        _voronoi_panel(ax, f, codes, title)
    fig.suptitle("Voronoi partitions and STE errors ẑ − z (arrows)")
    return save_figure(fig, out)


# larger codes per dimension: the d = 24 panel reaches Λ24's own size (196,560)
EXTRA_N = {24: [16384, 65536, 196560]}


def delta_min_curves(dims: list[int], ns: list[int] | None = None, seed: int = 0, extra: dict | None = None) -> dict:
    """δ_min(N) in degrees for Fibonacci and random codes, lattice shells, and the cap-area bound
    (``extra``: more N per dimension, default :data:`EXTRA_N`; large N use :func:`min_angle_large`)."""
    ns = ns or [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
    extra = EXTRA_N if extra is None else extra
    shells = {2: [("A2 shell", 6, 60.0)], 3: [("A3 shell (cuboctahedron)", 12, 60.0)], 4: [("D4 shell", 24, 60.0)],
              5: [("D5 shell", 40, 60.0)], 6: [("E6 shell", 72, 60.0)], 7: [("E7 shell", 126, 60.0)],
              8: [("E8 shell", 240, 60.0)], 12: [("K12 shell", 756, 60.0)], 16: [("Λ16 shell", 4320, 60.0)],
              24: [("Λ24 shell", 196560, 60.0)]}
    res = {}
    for d in dims:
        nd = sorted(set(ns) | set(extra.get(d, [])))

        def angle(pts):
            return min_angle_large(pts) if pts.shape[0] > 8192 else min_angle_bruteforce(pts)

        fib = [angle(fibonacci_sphere(n, d)) for n in nd]
        rnd = [angle(uniform_sphere(n, d, seed=seed + n)) for n in nd]
        big = sorted(set(nd + [s[1] for s in shells.get(d, [])]))
        bound = [area_bound_dmin_deg(n, d) for n in big]
        res[d] = {"N": nd, "fibonacci": fib, "random": rnd, "bound_N": big, "bound": bound, "shells": shells.get(d, [])}
    return res


def plot_delta_min(out: str | Path, dims: list[int] = (3, 8, 24), ns: list[int] | None = None) -> list[Path]:
    """δ_min(N) against N (log scale) per dimension."""
    plt = _plt()
    curves = delta_min_curves(list(dims), ns)
    fig, axes = plt.subplots(1, len(dims), figsize=(5 * len(dims), 4), squeeze=False)
    for ax, d in zip(axes[0], dims):
        c = curves[d]
        ax.plot(c["N"], c["fibonacci"], "o-", label="Fibonacci F_d(N)")
        ax.plot(c["N"], c["random"], "s-", label="random (i.i.d. uniform)")
        ax.plot(c["bound_N"], c["bound"], "k--", label="cap-area upper bound")
        for name, n, deg in c["shells"]:
            ax.plot([n], [deg], "r*", ms=14, label=name)
        ax.set_xscale("log")
        ax.set(xlabel="N (codebook size)", ylabel="δ_min (degrees)", title=f"d = {d}")
        ax.legend(fontsize=8)
    fig.suptitle("Minimum angular distance δ_min(N) of spherical codes")
    paths = save_figure(fig, out)
    atomic_write_text(Path(out).with_suffix(".json"), json.dumps({str(d): c for d, c in curves.items()}, indent=1) + "\n")
    return paths


def _circle_voronoi_entropy(angles: np.ndarray) -> float:
    a = np.sort(np.mod(angles, 2 * np.pi))
    gaps = np.diff(np.concatenate([a, [a[0] + 2 * np.pi]]))
    cells = (gaps + np.roll(gaps, 1)) / 2  # arc of each point's Voronoi cell
    p = cells / (2 * np.pi)
    return float(-(p * np.log2(p)).sum())


def _diversity_term(angles: np.ndarray, tau: float, n_inputs: int = 4096) -> float:
    t = np.linspace(0, 2 * np.pi, n_inputs, endpoint=False)
    z = np.stack([np.cos(t), np.sin(t)], 1)
    c = np.stack([np.cos(angles), np.sin(angles)], 1)
    d2 = ((z[:, None, :] - c[None]) ** 2).sum(-1)
    logits = -tau * d2
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    p = q.mean(0)
    return float(-(p * np.log2(p)).sum())


def entropy_relocation(n: int = 6, configs: int = 300, tau: float = 8.0, seed: int = 0) -> dict:
    """For random n-point codes on the circle: Voronoi-volume entropy vs the diversity term H(E[q]).

    Also a path from a random code to the regular n-gon (the hexagon for n = 6).
    """
    rng = np.random.default_rng(seed)
    vor, div = [], []
    for _ in range(configs):
        a = rng.uniform(0, 2 * np.pi, n)
        vor.append(_circle_voronoi_entropy(a))
        div.append(_diversity_term(a, tau))
    start = np.sort(rng.uniform(0, 2 * np.pi, n))
    target = start[0] + 2 * np.pi * np.arange(n) / n
    ts = np.linspace(0, 1, 21)
    path_v = [_circle_voronoi_entropy((1 - t) * start + t * target) for t in ts]
    path_d = [_diversity_term((1 - t) * start + t * target, tau) for t in ts]
    return {"voronoi": vor, "diversity": div, "t": ts.tolist(), "path_voronoi": path_v, "path_diversity": path_d, "log2N": math.log2(n)}


def plot_entropy(out: str | Path, n: int = 6, tau: float = 8.0) -> list[Path]:
    """The lattice-relocation argument on a small code (n points on the circle)."""
    plt = _plt()
    r = entropy_relocation(n=n, tau=tau)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    axes[0].scatter(r["voronoi"], r["diversity"], s=10, alpha=0.6)
    axes[0].axvline(r["log2N"], color="k", ls=":", label="log2 N (equal cells)")
    axes[0].set(xlabel="entropy of Voronoi-cell volumes (bits)", ylabel="diversity term H(E[q(z)]) (bits)",
                title=f"{n} random points on the circle, τ = {tau}")
    axes[0].legend()
    axes[1].plot(r["t"], r["path_voronoi"], "o-", label="H(Voronoi volumes)")
    axes[1].plot(r["t"], r["path_diversity"], "s-", label="diversity term H(E[q])")
    axes[1].axhline(r["log2N"], color="k", ls=":")
    axes[1].set(xlabel="relocation t (0: random code, 1: regular hexagon)", ylabel="bits", title="relocating the code")
    axes[1].legend()
    fig.suptitle("Entropy regularization ≈ equalizing Voronoi volumes (lattice relocation)")
    return save_figure(fig, out)
