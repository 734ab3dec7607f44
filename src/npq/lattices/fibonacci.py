"""Fibonacci (spiral) point sets of any size N on the sphere S^{d-1}.

d = 3: the golden spiral, point i at height z_i = 1 - (2i + 1)/N and azimuth 2 pi i / phi
(phi the golden ratio).

d > 3 (documented generalization, the same recipe one dimension up): the d - 1 hyperspherical
angles of point i come from a low-discrepancy point t_i in [0, 1)^{d-1}:

* t_i,1 = (i + 1/2) / N (the "height" coordinate, evenly spaced as in the spiral);
* t_i,k = frac(i * alpha_k), k = 2..d-1, with alpha_k = phi_m^{-(k-1)}, m = d - 2, where phi_m
  is the unique positive root of x^{m+1} = x + 1 (Roberts' generalized golden ratio; phi_1 is
  the golden ratio, which gives back the spiral for d = 3).

Each t is mapped to the sphere by inverting the CDFs of the uniform measure's angles: theta_k in
[0, pi] has density proportional to sin^{d-1-k}(theta_k) (k = 1..d-2) and the last angle is
uniform on [0, 2 pi). So the points are uniformly spread in measure; how well they spread in
minimum distance is what the geometry tools measure (near-optimal for d = 3, close to random
codes for large d, as the seed reports).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from .code import TabulatedCode

__all__ = ["fibonacci_sphere", "generalized_golden_ratio", "FibonacciCode"]


def generalized_golden_ratio(m: int) -> float:
    """Unique positive root of x^(m+1) = x + 1 (m = 1: the golden ratio)."""
    lo, hi = 1.0, 2.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if mid ** (m + 1) - mid - 1 > 0:
            hi = mid
        else:
            lo = mid
    return (lo + hi) / 2


@lru_cache(maxsize=32)
def _sin_power_icdf_table(power: int, grid: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0.0, math.pi, grid + 1)
    dens = np.sin(theta) ** power
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) / 2)])
    return cdf / cdf[-1], theta


def _sin_power_icdf(u: np.ndarray, power: int) -> np.ndarray:
    if power == 1:
        return np.arccos(1 - 2 * u)
    cdf, theta = _sin_power_icdf_table(power)
    return np.interp(u, cdf, theta)


def fibonacci_sphere(n_points: int, dim: int = 3, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(n_points, dim)`` unit vectors of the (generalized) Fibonacci lattice on S^{dim-1}."""
    if isinstance(n_points, bool) or not isinstance(n_points, int) or n_points < 1:
        raise ValueError(f"n_points must be a positive integer, got {n_points!r}")
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an integer >= 2, got {dim!r}")
    i = np.arange(n_points, dtype=np.float64)
    if dim == 2:
        ang = 2 * math.pi * (i + 0.5) / n_points
        pts = np.stack([np.cos(ang), np.sin(ang)], 1)
        return torch.from_numpy(pts).to(dtype)
    m = dim - 2
    phi = generalized_golden_ratio(m)
    t = [(i + 0.5) / n_points] + [np.mod(i * phi ** -(k + 1), 1.0) for k in range(m)]
    # angles theta_1..theta_{d-2} in [0, pi], last in [0, 2 pi)
    angles = [_sin_power_icdf(t[k], dim - 2 - k) for k in range(dim - 2)]
    angles.append(2 * math.pi * t[dim - 2])
    pts = np.empty((n_points, dim))
    s = np.ones(n_points)
    for k in range(dim - 1):
        pts[:, k] = s * np.cos(angles[k])
        s = s * np.sin(angles[k])
    pts[:, dim - 1] = s
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    return torch.from_numpy(pts).to(dtype)


class FibonacciCode(TabulatedCode):
    """Fibonacci sphere code of ``n`` points in dimension ``dim``; nearest by the certified search of
    :class:`~npq.lattices.code.TabulatedCode` (exact for every finite input)."""

    def __init__(self, n: int, dim: int = 3):
        super().__init__(fibonacci_sphere(n, dim, torch.float64), f"Fibonacci code F_{dim}({n})")
