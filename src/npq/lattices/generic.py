"""A lattice from a generator matrix: points, shells, brute-force closest vector, second moment.

Convention (as in the seed): the generator ``G`` is ``(n, r)`` with the r basis vectors in its
columns; lattice points are ``G @ b`` for integer ``b``. Meant for small dimensions and for tests
and references, not speed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["Lattice", "normalized_second_moment", "generators"]


class Lattice:
    """Lattice ``{G b : b in Z^r}`` for a full-column-rank generator ``G`` (n, r)."""

    def __init__(self, generator: np.ndarray | Tensor | list):
        g = np.asarray(generator, dtype=np.float64)
        if g.ndim != 2 or g.shape[1] == 0 or g.shape[0] < g.shape[1]:
            raise ValueError(f"generator must be a 2-D (n, r) matrix with n >= r >= 1, got shape {g.shape}")
        if not np.isfinite(g).all():
            raise ValueError("generator contains non-finite values")
        gram = g.T @ g
        if np.linalg.matrix_rank(g) < g.shape[1]:
            raise ValueError("generator columns are linearly dependent")
        self.generator = g
        self.gram = gram
        self.dim, self.rank = g.shape

    @property
    def volume(self) -> float:
        """Volume of a fundamental cell: sqrt(det(G^T G))."""
        return float(math.sqrt(np.linalg.det(self.gram)))

    def points(self, coeff_bound: int) -> np.ndarray:
        """All points ``G b`` with ``|b_i| <= coeff_bound``, shape ((2B+1)^r, n)."""
        rng = range(-coeff_bound, coeff_bound + 1)
        b = np.array(list(itertools.product(rng, repeat=self.rank)), dtype=np.float64)
        return b @ self.generator.T

    def shells(self, max_norm2: float, tol: float = 1e-9) -> dict[float, np.ndarray]:
        """All non-zero points with squared norm <= ``max_norm2``, grouped by squared norm.

        Complete enumeration (Fincke-Pohst): with ``G = Q R``, ``||G b||^2 = sum_i (R b)_i^2`` and
        the coefficients are chosen from the last to the first within the remaining radius.
        """
        r = np.linalg.qr(self.generator, mode="r")
        n = self.rank
        found: list[np.ndarray] = []
        b = np.zeros(n)

        def recurse(i: int, remaining: float) -> None:
            # centre and half-width of the admissible interval for b_i
            partial = float(r[i, i + 1 :] @ b[i + 1 :])
            rii = r[i, i]
            centre = -partial / rii
            half = math.sqrt(max(remaining, 0.0)) / abs(rii)
            for v in range(math.ceil(centre - half - tol), math.floor(centre + half + tol) + 1):
                b[i] = v
                used = (rii * v + partial) ** 2
                if used <= remaining + tol:
                    if i == 0:
                        found.append(b.copy())
                    else:
                        recurse(i - 1, remaining - used)
            b[i] = 0

        recurse(n - 1, max_norm2)
        pts = np.array(found) @ self.generator.T if found else np.zeros((0, self.dim))
        n2 = (pts**2).sum(1)
        keep = (n2 > tol) & (n2 <= max_norm2 + tol)
        pts, n2 = pts[keep], n2[keep]
        out: dict[float, np.ndarray] = {}
        for v in np.unique(np.round(n2, 9)):
            out[float(v)] = pts[np.abs(n2 - v) < 1e-6]
        return out

    def closest_bruteforce(self, x: np.ndarray | Tensor, coeff_bound: int) -> np.ndarray:
        """Closest point among ``points(coeff_bound)`` to each row of ``x`` (exhaustive)."""
        xs = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        pts = self.points(coeff_bound)
        d2 = (xs**2).sum(1)[:, None] - 2 * xs @ pts.T + (pts**2).sum(1)[None]
        return pts[d2.argmin(1)].reshape(np.shape(x))


def normalized_second_moment(
    nearest: Callable[[Tensor], Tensor],
    generator: np.ndarray,
    samples: int = 200_000,
    seed: int = 0,
    index: int = 1,
) -> tuple[float, float]:
    """Monte-Carlo normalized second moment G = E||x - Q(x)||^2 / (r V^(2/r)) and its std. error.

    ``x`` is uniform over the fundamental parallelepiped ``G [0,1)^r``, which gives the error
    distribution of a point uniform over a Voronoi cell. ``generator`` may instead span a
    sublattice of index ``index`` (its cell covers the lattice's torus ``index`` times, uniformly):
    then V = V(sublattice) / index.
    """
    lat = Lattice(generator)
    gen = torch.Generator().manual_seed(seed)
    u = torch.rand(samples, lat.rank, generator=gen, dtype=torch.float64)
    x = u @ torch.from_numpy(lat.generator.T)
    volume = lat.volume / index
    err2 = ((x - nearest(x)) ** 2).sum(-1) / (lat.rank * volume ** (2 / lat.rank))
    return float(err2.mean()), float(err2.std() / math.sqrt(samples))


def generators() -> dict[str, np.ndarray]:
    """Generator matrices (basis in columns) of Z^1, A2 (in R^3), D4 and E8 (Conway & Sloane ch. 4)."""
    a2 = np.array([[1, -1, 0], [0, 1, -1]], dtype=np.float64).T  # (3, 2)
    d4 = np.array([[-1, -1, 0, 0], [1, -1, 0, 0], [0, 1, -1, 0], [0, 0, 1, -1]], dtype=np.float64).T
    e8 = np.array(
        [
            [2, 0, 0, 0, 0, 0, 0, 0],
            [-1, 1, 0, 0, 0, 0, 0, 0],
            [0, -1, 1, 0, 0, 0, 0, 0],
            [0, 0, -1, 1, 0, 0, 0, 0],
            [0, 0, 0, -1, 1, 0, 0, 0],
            [0, 0, 0, 0, -1, 1, 0, 0],
            [0, 0, 0, 0, 0, -1, 1, 0],
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        ],
        dtype=np.float64,
    ).T
    return {"Z1": np.eye(1), "A2": a2, "D4": d4, "E8": e8}
