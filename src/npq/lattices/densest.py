"""Nearest-point decoders of the densest known lattices in dimensions 6, 7, 12, 16 and 24, all as
unions of cosets of a simple lattice (Conway & Sloane ch. 4 and 20):

* ``nearest_e6``  (R^6 = E^3): E6 = ∪_{t ∈ {0, 1, -1}} t(1, 1, 1) + θE^3, min norm 3.
* ``nearest_e6_dual``: E6* (scaled) = {x ∈ E^3 : Σx ≡ 0 mod θ} = 9 cosets of θE^3, min norm 2.
* ``nearest_e7``  (R^8, the hyperplane Σx = 0): E7 = A7 ∪ (A7 + [4]), [4] = (½^4, -½^4), min norm 2.
* ``nearest_e7_dual``: E7* = E7 ∪ (E7 + [2]), [2] = (¼^6, -¾^2), min norm 3/2.
* ``nearest_k12`` (R^12 = E^6): K12 = ∪_{h ∈ hexacode} lift(h) + 2E^6 (64 cosets), min norm 4.
* ``nearest_bw16`` (R^16): Λ16 = ∪_{c ∈ RM(1,4)} c + 2D16 (32 cosets), min norm 8.
* ``nearest_leech`` (R^24): Λ24 = 2(∪_{c ∈ G24} c + 2D24) ∪ (the same + (-3, 1^23)), min norm 32
  (the Leech lattice scaled by √8, integer coordinates as in :mod:`npq.lattices.leech`).

E (Eisenstein integers) in real coordinates is the hexagonal lattice Z×√3Z ∪ (Z×√3Z + (½, √3/2));
its nearest point is the closer of the two rectangular roundings. D_n: round, and re-round the
coordinate with the largest error if the sum is odd. For the 4096 Golay cosets of the Leech
lattice the coordinate-wise work is shared: each coordinate has two roundings (bit 0 or 1), the
coset's distance and parity are sums over coordinates (two matrix products with the codewords) and
the parity repair costs the smallest per-coordinate penalty.

The coset candidates are compared exactly (:func:`npq.lattices.exact.closest_candidate`:
float64 distances where they are certainly apart, rationals otherwise); on exact ties the first
coset in the order above wins. E7, E7* and Λ16, whose points are dyadic, are exact for
|x| <= 2^38: their cosets are decoded without the shifts x - g (which round for values far below
the glue's ¼ ... 1): A7 + g from the largest points of Z + g_i below x_i and exactly compared
fractional parts (:func:`npq.lattices.root._an_coset`), c + 2D16 per coordinate from floor(x)
with the parity repair on an exactly compared error (:func:`_binary_coset`). Tested against
E7's Voronoi-relevant vectors and against the textbook Λ16 decoder run in rationals. Beyond
2^38: refused with a clear error. E6, E6* and K12 have irrational coordinates (√3), so their
points are float64 approximations and their answers exact only up to that rounding; Λ24
compares its 4,096 coset costs in float64 (matrix products / block tables) after the shifts
(x - a) / 2, exact up to their rounding on near-ties.

:func:`second_moment` estimates the normalized second moment G by Monte Carlo, sampling the
torus of a simple sublattice of known index (Table 2.3 of Conway & Sloane, the best quantizer
known in each dimension: E6* 0.074244, E7* 0.073116, K12 0.070100, Λ16 0.068299, Λ24 0.065771;
in dimensions 6 and 7 the duals E6*, E7* quantize better than E6, E7).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from . import golay, kernels
from .constructions import SQRT3_2, eisenstein_to_real, hexacode, reed_muller_1_4
from .exact import closest_candidate
from .generic import normalized_second_moment
from .root import an_coset, odd_sum, round_nearest, two_diff

__all__ = ["nearest_eisenstein", "nearest_e6", "nearest_e6_dual", "nearest_e7", "nearest_e7_dual", "nearest_k12", "nearest_bw16", "nearest_leech",
           "second_moment", "PUBLISHED_G", "LATTICE_DECODERS"]

MAX_ABS = 2.0**38  # E7's cosets shift by the glue and stay within A_n's exact range (2^40)
# Conway & Sloane, Table 2.3 (the best known quantizer of each dimension: in 6 and 7 the duals)
PUBLISHED_G = {"E6*": 0.074244, "E7*": 0.073116, "K12": 0.070100, "Λ16": 0.068299, "Λ24": 0.065771}


def _check(x: Tensor, n: int, what: str) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim == 0 or x.shape[-1] != n:
        raise ValueError(f"x must be a floating-point tensor of shape (..., {n}) for {what}, got {getattr(x, 'shape', type(x).__name__)}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains non-finite values (NaN or Inf)")
    if x.numel() and float(x.abs().max()) > MAX_ABS:
        raise ValueError(f"|x| must be <= 2^38 for {what} (float64 cannot resolve the lattice beyond), got {float(x.abs().max()):.3g}")
    return x.detach().to(torch.float64)


def nearest_eisenstein(y: Tensor) -> Tensor:
    """Closest point of E^m (hexagonal lattice per coordinate pair) to ``y`` ``(..., 2m)`` float64."""
    u, v = y[..., 0::2], y[..., 1::2]
    s3 = 2 * SQRT3_2  # √3
    a1, b1 = round_nearest(u), round_nearest(v / s3) * s3
    a2, b2 = round_nearest(u - 0.5) + 0.5, round_nearest(v / s3 - 0.5) * s3 + s3 / 2
    first = (u - a1) ** 2 + (v - b1) ** 2 <= (u - a2) ** 2 + (v - b2) ** 2
    out = torch.empty_like(y)
    out[..., 0::2] = torch.where(first, a1, a2)
    out[..., 1::2] = torch.where(first, b1, b2)
    return out


def _rot90(y: Tensor, sign: int) -> Tensor:
    """Multiply each complex coordinate by ``i`` (sign 1) or ``-i`` (sign -1)."""
    out = torch.empty_like(y)
    out[..., 0::2] = -sign * y[..., 1::2]
    out[..., 1::2] = sign * y[..., 0::2]
    return out


def _best(cands: Tensor, y: Tensor) -> Tensor:
    """The candidate ``(..., k, n)`` closest to ``y`` ``(..., n)`` in exact arithmetic (of the
    float64 values); the first one on exact ties."""
    k = closest_candidate(y, cands).unsqueeze(-1)
    return torch.gather(cands, -2, k[..., None].expand(*k.shape, cands.shape[-1])).squeeze(-2)


def _theta_cosets(y: Tensor, reps: list[tuple[int, int, int]]) -> Tensor:
    """Closest point of ∪_t t + θE^3 (t integer triples) to ``y`` ``(..., 6)`` float64."""
    s3 = 2 * SQRT3_2
    cands = []
    for t in reps:
        tv = torch.tensor([float(t[0]), 0.0, float(t[1]), 0.0, float(t[2]), 0.0], dtype=torch.float64)
        # θE = √3 · i · E: rotate by -i, scale 1/√3, nearest in E, back
        cands.append(tv + _rot90(nearest_eisenstein(_rot90(y - tv, -1) / s3) * s3, 1))
    return _best(torch.stack(cands, -2), y)


_E6_REPS = [(0, 0, 0), (1, 1, 1), (-1, -1, -1)]
# Σ t ≡ 0 mod 3: the 9 classes of E^3 / θE^3 in the overlattice
_E6_DUAL_REPS = _E6_REPS + [(1, -1, 0), (-1, 1, 0), (1, 0, -1), (-1, 0, 1), (0, 1, -1), (0, -1, 1)]


def nearest_e6(x: Tensor) -> Tensor:
    """Closest point of E6 = {x ∈ E^3 : x_1 ≡ x_2 ≡ x_3 mod θ} (min norm 3) to ``x`` ``(..., 6)``."""
    return _theta_cosets(_check(x, 6, "E6"), _E6_REPS).to(x.dtype)


def nearest_e6_dual(x: Tensor) -> Tensor:
    """Closest point of E6* (scaled to contain E6 with index 3: {x ∈ E^3 : Σx ≡ 0 mod θ}, min
    norm 2) to ``x`` ``(..., 6)``; the better quantizer of dimension 6."""
    return _theta_cosets(_check(x, 6, "E6*"), _E6_DUAL_REPS).to(x.dtype)


_GLUE4 = torch.tensor([0.5] * 4 + [-0.5] * 4, dtype=torch.float64)


def nearest_e7(x: Tensor) -> Tensor:
    """Closest point of E7 = A7 ∪ (A7 + [4]) (in R^8, min norm 2) to ``x`` ``(..., 8)``, the same as
    to its projection onto the hyperplane Σx = 0 that holds E7 (which is not computed: the mean
    would round; distances from x rank the lattice points as distances from the projection do)."""
    y = _check(x, 8, "E7")
    cands = torch.stack([an_coset(y), an_coset(y, _GLUE4)], -2)
    return _best(cands, y).to(x.dtype)


_GLUE2 = torch.tensor([0.25] * 6 + [-0.75] * 2, dtype=torch.float64)


def nearest_e7_dual(x: Tensor) -> Tensor:
    """Closest point of E7* = E7 ∪ (E7 + [2]), [2] = (¼^6, -¾^2) (in R^8, Σx = 0) to ``x``
    ``(..., 8)``; the better quantizer of dimension 7."""
    y = _check(x, 8, "E7*")  # A7 + [0], [4], [2], [6]: E7, then E7 + [2] (the earlier order on ties)
    cands = torch.stack([an_coset(y), an_coset(y, _GLUE4), an_coset(y, _GLUE2), an_coset(y, _GLUE2 + _GLUE4)], -2)
    return _best(cands, y).to(x.dtype)


@lru_cache(maxsize=None)
def _hexacode_lifts() -> Tensor:
    """Real coordinates (64, 12) of the hexacode words lifted to E^6 (symbol s -> (s & 1) + (s >> 1) ω)."""
    h = hexacode()
    ab = np.stack([h & 1, h >> 1], -1).reshape(64, 12)
    return torch.from_numpy(eisenstein_to_real(ab))


def nearest_k12(x: Tensor) -> Tensor:
    """Closest point of the Coxeter-Todd lattice K12 (Eisenstein form, min norm 4) to ``x`` ``(..., 12)``."""
    y = _check(x, 12, "K12")
    lifts = _hexacode_lifts()
    cands = lifts + 2 * nearest_eisenstein((y.unsqueeze(-2) - lifts) / 2)  # (..., 64, 12)
    return _best(cands, y).to(x.dtype)


def nearest_bw16(x: Tensor) -> Tensor:
    """Closest point of the Barnes-Wall lattice Λ16 = {x ∈ Z^16 : x mod 2 ∈ RM(1,4), Σx ≡ 0 mod 4}
    (min norm 8) to ``x`` ``(..., 16)``."""
    y = _check(x, 16, "Λ16")
    c = torch.from_numpy(reed_muller_1_4().astype(np.float64))
    return _best(_binary_coset(y.unsqueeze(-2), c), y).to(x.dtype)


def _binary_coset(y: Tensor, c: Tensor) -> Tensor:
    """Closest points of the cosets c + 2D_n (``c`` (k, n) 0/1 rows) to ``y`` (..., 1, n),
    float64, exactly (construction B, without the shift (y - c) / 2, which rounds for values far
    below 1): per coordinate the nearest integer z of c's parity (from m = floor(y): m or m + 1,
    halves up), and if sum (z - c) / 2 is odd, the coordinate farthest from its z moves by 2
    towards y (the first one on ties). |y - z| is a = |y - round(y)| (exact) where round(y) has
    c's parity, else 1 - a, compared exactly as a TwoSum pair (1 - a rounds for tiny a)."""
    m = torch.floor(y)
    z = m + (torch.remainder(m, 2) != c).to(y.dtype)  # (..., k, n)
    r = round_nearest(y)
    a = (y - r).abs()
    same = torch.remainder(r, 2) == c
    hi, lo = two_diff(torch.ones_like(a), a)
    hi, lo = torch.where(same, a, hi), torch.where(same, 0.0, lo)
    top = hi == hi.amax(-1, keepdim=True)  # lexicographic maximum of (hi, lo), the first index
    lo = torch.where(top, lo, -math.inf)
    k = (top & (lo == lo.amax(-1, keepdim=True))).to(torch.int8).argmax(-1, keepdim=True)
    step = torch.where(torch.gather(y.expand_as(z), -1, k) >= torch.gather(z, -1, k), 2.0, -2.0).to(y.dtype)
    odd = odd_sum((z - c) / 2)
    return torch.where(odd[..., None], z.scatter_add(-1, k, step), z)


@lru_cache(maxsize=None)
def _golay_f64() -> Tensor:
    return torch.from_numpy(golay.codewords().astype(np.float64))


_LEECH_A = torch.tensor([-3.0] + [1.0] * 23, dtype=torch.float64)


def _construction_b_golay(t: Tensor, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """Closest point of ∪_{c ∈ G24} c + 2D24 (rows ``t`` (n, 24)) and its squared distance."""
    cw = _golay_f64()  # (4096, 24)
    out = torch.empty_like(t)
    dist = torch.empty(t.shape[0], dtype=torch.float64)
    for r0 in range(0, t.shape[0], chunk):
        tt = t[r0 : r0 + chunk]
        u = torch.stack([tt / 2, (tt - 1) / 2], 0)  # bit 0 / bit 1: (2, m, 24)
        f = round_nearest(u)
        e = u - f
        d = 4 * e**2
        pen = 4 * (1 - 2 * e.abs())  # cost of re-rounding a coordinate the other way
        cost = d[0].sum(-1, keepdim=True) + (d[1] - d[0]) @ cw.T  # (m, 4096)
        par = torch.remainder(f[0].sum(-1, keepdim=True) + (f[1] - f[0]) @ cw.T, 2) != 0
        # an odd coset pays its smallest repair penalty (>= 0): only those no dearer than the best
        # even coset can win, so the (coset, coordinate) minimum is taken for them alone
        total = torch.where(par, torch.inf, cost)
        cand = par & (cost <= total.min(1, keepdim=True).values)
        r, k = torch.nonzero(cand, as_tuple=True)
        mp, mi = torch.where(cw.bool()[k], pen[1][r], pen[0][r]).min(-1)
        total[r, k] = cost[r, k] + mp
        repair = torch.zeros(cost.shape, dtype=torch.int64)
        repair[r, k] = mi
        best = total.argmin(-1)
        rows = torch.arange(tt.shape[0])
        c = cw[best]  # (m, 24)
        fb = torch.where(c.bool(), f[1], f[0])
        eb = torch.where(c.bool(), e[1], e[0])
        k = repair[rows, best]
        flip = par[rows, best]
        step = torch.where(eb[rows, k] >= 0, 1.0, -1.0).to(t.dtype)
        fb[rows[flip], k[flip]] += step[flip]
        out[r0 : r0 + chunk] = c + 2 * fb
        dist[r0 : r0 + chunk] = total[rows, best]
    return out, dist


def nearest_leech(x: Tensor) -> Tensor:
    """Closest point of the Leech lattice (integer coordinates, min norm 32: 2·B(G24) and its coset
    by (-3, 1^23)) to ``x`` ``(..., 24)``."""
    y = _check(x, 24, "Λ24")
    flat = y.reshape(-1, 24)
    if kernels.enabled(flat):  # the same search, per row with 64-entry block tables (numba)
        return kernels.leech_lattice_nearest(flat).reshape(y.shape).to(x.dtype)
    p0, d0 = _construction_b_golay(flat / 2)
    p1, d1 = _construction_b_golay((flat - _LEECH_A) / 2)
    out = torch.where((d0 <= d1)[:, None], 2 * p0, 2 * p1 + _LEECH_A)
    return out.reshape(y.shape).to(x.dtype)


def _hex_generator(scale: float) -> np.ndarray:
    return scale * np.array([[1.0, -0.5], [0.0, SQRT3_2]])


def _sublattices() -> dict[str, tuple[np.ndarray, int]]:
    """(generator of a sublattice (columns), its index) per lattice, for Monte-Carlo sampling."""
    theta = np.array([[0.0, -1.5], [2 * SQRT3_2, -SQRT3_2]])  # θ·1 and θ·ω in real coordinates
    a7 = np.zeros((8, 7))
    for i in range(7):
        a7[i, i], a7[i + 1, i] = 1.0, -1.0
    return {
        "E6": (np.kron(np.eye(3), theta), 3),
        "E6*": (np.kron(np.eye(3), theta), 9),
        "E7": (a7, 2),
        "E7*": (a7, 4),
        "K12": (np.kron(np.eye(6), _hex_generator(2.0)), 64),
        "Λ16": (4 * np.eye(16), 2**20),
        "Λ24": (8 * np.eye(24), 2**36),
    }


LATTICE_DECODERS = {"E6": nearest_e6, "E6*": nearest_e6_dual, "E7": nearest_e7, "E7*": nearest_e7_dual, "K12": nearest_k12, "Λ16": nearest_bw16, "Λ24": nearest_leech}


def second_moment(name: str, samples: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """Monte-Carlo normalized second moment G of ``name`` (a key of ``LATTICE_DECODERS``) and its
    standard error."""
    if name not in LATTICE_DECODERS:
        raise ValueError(f"unknown lattice {name!r}; choose from {sorted(LATTICE_DECODERS)}")
    gen, index = _sublattices()[name]
    return normalized_second_moment(LATTICE_DECODERS[name], gen, samples=samples, seed=seed, index=index)
