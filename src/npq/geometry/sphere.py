"""Closed forms and helpers on the unit sphere S^{d-1}."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "uniform_sphere",
    "mean_abs_coordinate",
    "cap_fraction",
    "cap_angle_for_fraction",
    "cap_mse_lower_bound",
    "area_bound_dmin_deg",
]


def uniform_sphere(n: int, d: int, seed: int = 0, dtype: torch.dtype = torch.float64) -> Tensor:
    """``n`` points uniform on S^{d-1} (normalized Gaussians), deterministic for a seed."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return (x / x.norm(dim=1, keepdim=True)).to(dtype)


def mean_abs_coordinate(d: int) -> float:
    """E|u_1| for u uniform on S^{d-1}: Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2))."""
    return math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)


def _sin_power_integral(theta: np.ndarray, power: int, grid: int = 200_001) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, math.pi, grid)
    f = np.sin(t) ** power
    cum = np.concatenate([[0.0], np.cumsum((f[1:] + f[:-1]) / 2 * (t[1] - t[0]))])
    return t, cum


def cap_fraction(theta: float, d: int) -> float:
    """Fraction of the area of S^{d-1} within angle ``theta`` (radians) of a point."""
    t, cum = _sin_power_integral(np.array(theta), d - 2)
    return float(np.interp(theta, t, cum) / cum[-1])


def cap_angle_for_fraction(frac: float, d: int) -> float:
    """Angular radius (radians) of the cap covering ``frac`` of S^{d-1}."""
    t, cum = _sin_power_integral(np.array(0.0), d - 2)
    return float(np.interp(frac, cum / cum[-1], t))


def cap_mse_lower_bound(n_codes: int, d: int) -> float:
    """Lower bound on E||u - Q(u)||^2 for ANY n-point code on S^{d-1}, u uniform on the sphere.

    Replace each Voronoi cell by a cap of area 1/n centred on its codeword (a cap minimizes the
    second moment among regions of given area): E[2 - 2 cos(theta)] over the cap.
    """
    theta0 = cap_angle_for_fraction(1.0 / n_codes, d)
    t = np.linspace(0.0, theta0, 200_001)
    w = np.sin(t) ** (d - 2)
    return float(np.trapezoid((2 - 2 * np.cos(t)) * w, t) / np.trapezoid(w, t))


def area_bound_dmin_deg(n_codes: int, d: int) -> float:
    """Upper bound on the minimum angle (degrees) of n points on S^{d-1}: the n caps of angular
    radius dmin/2 around the points are disjoint, so n * cap_fraction(dmin/2) <= 1."""
    return math.degrees(2 * cap_angle_for_fraction(1.0 / n_codes, d))
