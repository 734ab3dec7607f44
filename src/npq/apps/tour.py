"""A tour of the quantizers on real photos (the main job until the tokenizer ships).

Each photo is cut into 8x8 RGB patches; a PCA fitted on the patches maps them to d-dimensional
latents, whitened (each component divided by its standard deviation) so that no single
component dominates the direction. Every quantizer then codes the *direction* of its latent
(shape-gain coding: the norm is kept in float), and the patch is rebuilt from the quantized
direction. The table compares the
codes at their own bit rates: angular error, patch PSNR, codebook usage and perplexity.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.photos import load_rgb, public_eval_photos
from ..quantize import entries, make
from ..utils.histogram import entropy_bits
from ..utils.progress import progress_bar

__all__ = ["default_lineup", "extract_patches", "run_tour", "format_table"]


def default_lineup() -> list[tuple[str, str, dict]]:
    """(label, registry name, kwargs) of every registered quantizer in the tour, at its example."""
    return [(e.label(), e.name, e.example) for e in entries() if e.tour]


def extract_patches(images: Sequence[np.ndarray], patch: int = 8, max_patches: int = 20000, seed: int = 0) -> np.ndarray:
    """Random non-overlapping ``patch x patch`` RGB patches of uint8 images ``(H, W, 3)``, at most
    ``max_patches`` of them, flattened to float64 ``(n, 3 patch^2)`` with values in [0, 255]."""
    rng = np.random.default_rng(seed)
    out = []
    for img in images:
        h, w = (img.shape[0] // patch) * patch, (img.shape[1] // patch) * patch
        p = img[:h, :w].reshape(h // patch, patch, w // patch, patch, 3).transpose(0, 2, 1, 3, 4)
        out.append(p.reshape(-1, 3 * patch * patch))
    allp = np.concatenate(out).astype(np.float64)
    if len(allp) > max_patches:
        allp = allp[rng.choice(len(allp), max_patches, replace=False)]
    return allp


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
    mse = float(np.mean((np.clip(y, 0, 255) - x) ** 2))
    return 10 * math.log10(255**2 / max(mse, 1e-12))


def run_tour(
    paths: Sequence[str | Path] | None = None,
    lineup: Sequence[tuple[str, str, dict]] | None = None,
    max_patches: int = 20000,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Quantize PCA latents of real photo patches with each quantizer; one result dict per row."""
    paths = list(paths) if paths else public_eval_photos()
    if not paths:
        raise FileNotFoundError("no photos: pass image paths or install scikit-image / matplotlib")
    patches = extract_patches([load_rgb(p) for p in paths], max_patches=max_patches, seed=seed)
    mean = patches.mean(0)
    _, sv, vt = np.linalg.svd(patches - mean, full_matrices=False)
    std = np.maximum(sv / math.sqrt(len(patches)), 1e-8)
    coeffs = (patches - mean) @ vt.T / std  # whitened PCA latents
    rows = []
    for label, name, kw in progress_bar(lineup or default_lineup(), "tour", progress):
        q = make(name, **kw).eval()
        d = q.dim
        z = torch.from_numpy(coeffs[:, :d]).float()
        norm = z.norm(dim=-1, keepdim=True)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = q(z)
        dt = time.perf_counter() - t0
        zq = out.z_q.double()
        direction = zq / zq.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        u = (z / norm.clamp_min(1e-12)).double()
        ang = torch.rad2deg(torch.arccos((u * direction).sum(-1).clamp(-1, 1))).mean().item()
        recon = mean + ((norm.double() * direction).numpy() * std[:d]) @ vt[:d]
        oracle = mean + (coeffs[:, :d] * std[:d]) @ vt[:d]
        counts = torch.bincount(out.indices.reshape(-1), minlength=q.codebook_size)
        rows.append(
            {
                "quantizer": label,
                "dim": d,
                "codebook_size": q.codebook_size,
                "bits": q.bits_per_token,
                "angle_deg": ang,
                "psnr": _psnr(patches, recon),
                "psnr_unquantized": _psnr(patches, oracle),
                "codes_used": int((counts > 0).sum()),
                "perplexity_bits": entropy_bits(counts),
                "ktokens_per_s": len(z) / dt / 1e3,
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table of ``run_tour`` rows."""
    head = "| quantizer | d | codes | bits | mean angle (deg) | patch PSNR (dB) | PCA-d PSNR (dB) | codes used | perplexity (bits) | ktok/s |"
    sep = "|" + "---|" * 10
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['quantizer']} | {r['dim']} | {r['codebook_size']:,} | {r['bits']:.2f} | {r['angle_deg']:.1f} | "
            f"{r['psnr']:.2f} | {r['psnr_unquantized']:.2f} | {r['codes_used']:,} | {r['perplexity_bits']:.2f} | "
            f"{r['ktokens_per_s']:.0f} |"
        )
    return "\n".join(lines)
