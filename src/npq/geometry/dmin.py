"""Minimum angular distance of spherical codes."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..lattices import LeechCode, SphericalCode

__all__ = [
    "has_collinear_codes", "min_angle_bruteforce", "min_angle_large", "min_angle_leech", "chord_from_deg", "min_angle"]


def chord_from_deg(deg: float) -> float:
    """Chord length on the unit sphere for an angle in degrees: 2 sin(theta / 2)."""
    return 2 * math.sin(math.radians(deg) / 2)


@torch.no_grad()
def min_angle_bruteforce(points: Tensor, chunk: int = 2048) -> float:
    """Minimum angle (degrees) between distinct directions of ``points`` (N, d), exhaustive.

    Points are normalized first; identical directions give 0 (as for collinear FSQ codes).
    """
    p = points.double()
    norms = p.norm(dim=1)
    if (norms == 0).any():
        p = p[norms > 0]
    p = p / p.norm(dim=1, keepdim=True)
    best = -1.0
    n = p.shape[0]
    for r0 in range(0, n, chunk):
        g = p[r0 : r0 + chunk] @ p.T
        rows = torch.arange(r0, min(r0 + chunk, n))
        g[rows - r0, rows] = -2.0  # exclude self
        best = max(best, float(g.max()))
    return math.degrees(math.acos(max(-1.0, min(1.0, best))))


@torch.no_grad()
def min_angle_large(points: Tensor, chunk: int = 4096, slack: float = 1e-5) -> float:
    """:func:`min_angle_bruteforce` for codes of 10^5 points and more: every row's largest inner
    product in float32 (error < 1e-6 for unit vectors in <= 64 dimensions), then the rows within
    ``slack`` of the overall maximum recomputed in float64. Same answer, ~4x less time."""
    p = points.double()
    p = p[p.norm(dim=1) > 0]
    p = p / p.norm(dim=1, keepdim=True)
    p32 = p.float()
    n = p.shape[0]
    row_max = torch.empty(n)
    for r0 in range(0, n, chunk):
        g = p32[r0 : r0 + chunk] @ p32.T
        rows = torch.arange(r0, min(r0 + chunk, n))
        g[rows - r0, rows] = -2.0
        row_max[r0 : r0 + chunk] = g.max(1).values
    cand = torch.nonzero(row_max >= row_max.max() - slack).flatten()
    g = p[cand] @ p.T
    g[torch.arange(len(cand)), cand] = -2.0
    best = float(g.max())
    return math.degrees(math.acos(max(-1.0, min(1.0, best))))


@torch.no_grad()
def has_collinear_codes(v: Tensor) -> bool:
    """Whether two distinct non-zero integer vectors ``v`` ``(n, d)`` point the same way (so the
    code they scale has minimum angle 0), exactly: each becomes its primitive direction (divided
    by the gcd of its entries) and duplicates are looked for."""
    v = v[(v != 0).any(1)].long()
    g = v.abs()[:, 0]
    for j in range(1, v.shape[1]):
        g = torch.gcd(g, v[:, j].abs())
    return torch.unique(v // g[:, None], dim=0).shape[0] < v.shape[0]


def min_angle_leech(code: LeechCode) -> float:
    """Exact minimum angle (degrees) of Λ24 minimal vectors or a union of its shape classes.

    Each shape class is one orbit of the monomial automorphism group 2^12:M24 (M24 is transitive
    on pairs, octads and positions; Golay sign changes on all admissible sign patterns), which
    preserves every class; so the largest inner product from one representative of each class
    to the whole subset is the subset's largest inner product.
    """
    icb = code.integer_codebook().double()
    best = -math.inf
    for c in code.classes:
        rep = code.offsets[c]  # first codeword of the class
        g = icb @ icb[rep]
        g[rep] = -math.inf
        best = max(best, float(g.max()))
    return math.degrees(math.acos(best / 32.0))


def min_angle(code: SphericalCode) -> tuple[float, bool]:
    """(minimum angle in degrees, exact?) for a spherical code; exhaustive below 2^15 points."""
    if isinstance(code, LeechCode):
        return min_angle_leech(code), True
    if code.size <= 1 << 15:
        return min_angle_bruteforce(code.codebook(torch.float64)), True
    raise ValueError(f"{code.name}: {code.size} points is too many for the exhaustive minimum angle")
