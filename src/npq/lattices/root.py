"""Root lattices: nearest-point algorithms (Conway & Sloane 1982) and first-shell spherical codes.

Full lattices, all scaled by ``scale`` (the lattice is ``scale * L``), inputs ``(..., n)``:

* ``nearest_zn``: Z^n, coordinate-wise rounding.
* ``nearest_dn``: D_n = {x in Z^n : sum x even}: round, and if the sum is odd re-round the
  coordinate with the largest rounding error the other way.
* ``nearest_dn_dual``: D_n* = Z^n ∪ (Z^n + 1/2).
* ``nearest_an``: A_n = {x in Z^{n+1} : sum x = 0}, inputs in R^{n+1} (projected onto the
  hyperplane sum = 0): round, then fix the deficiency on the coordinates with the extreme
  rounding errors.
* ``nearest_e8``: E8 = D8 ∪ (D8 + 1/2).

First shells as spherical codes (unit vectors, exact decoders, lowest index among exact ties):

* ``D4Code``: 24 vectors (±1, ±1, 0, 0) / sqrt 2;
* ``E8Code``: 240 vectors: 112 of shape (±1, ±1, 0^6) and 128 of shape (±1/2)^8 with an even
  number of minus signs, divided by sqrt 2.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from . import kernels
from .code import SphericalCode
from .exact import certified_choice, closest_candidate, exact_argmax, pow2_scale

__all__ = [
    "nearest_zn",
    "nearest_dn",
    "nearest_dn_dual",
    "nearest_an",
    "nearest_e8",
    "D4Code",
    "E8Code",
]


def _check(x: Tensor, scale: float) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim == 0:
        raise ValueError(f"x must be a floating-point tensor of shape (..., n), got {getattr(x, 'shape', type(x))}")
    if not torch.isfinite(x).all():
        raise ValueError("x contains non-finite values (NaN or Inf)")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")


def round_nearest(y: Tensor) -> Tensor:
    """The nearest integer to every value of ``y``, halves rounded up, exactly for every finite
    value: ``f = floor(y)``, plus 1 where ``y - f >= 1/2``. (``floor(y + 1/2)`` is wrong twice:
    0.49999999999999994 + 0.5 rounds to 1, and for an odd integer y >= 2^52, y + 0.5 rounds to
    even.) ``y - f`` is exact for |y| >= 1 (Sterbenz) and for y in [0, 1); for y in (-1, 0) it
    is 1 - |y|, exact when below 1/2, so the comparison is always decided exactly."""
    f = torch.floor(y)
    return f + (y - f >= 0.5).to(y.dtype)


def _exact_integer_limit(dtype: torch.dtype) -> float:
    """2^p for a float type of p significand bits: from there on every value is an even integer
    (so a coordinate never needs a parity repair), and below it f ± 1 is representable."""
    return 2.0 / torch.finfo(dtype).eps


def nearest_zn(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * Z^n`` to each row of ``x`` ``(..., n)`` (same shape; ties rounded to
    even)."""
    _check(x, scale)
    return round_nearest(x / scale) * scale


def odd_sum(f: Tensor) -> Tensor:
    """Whether the integer-valued rows of ``f`` (..., n) have an odd sum, exactly: parities summed
    per coordinate (a float sum rounds once |f| >= 2^53)."""
    return torch.remainder(torch.remainder(f, 2).sum(-1), 2) != 0


def _dn(y: Tensor) -> Tensor:
    """Closest point of D_n to ``y``: round every coordinate; if the sum is odd, re-round the
    coordinate with the largest rounding error the other way (the first one on ties). Exact for
    every finite input: the parity is exact (:func:`odd_sum`), the errors ``y - f`` are exact,
    and coordinates at or beyond 2^53 (float64), always even integers whose neighbours are not
    representable, are never the one re-rounded."""
    f = round_nearest(y)
    odd = odd_sum(f)
    err = y - f
    small = f.abs() < _exact_integer_limit(y.dtype)
    k = torch.where(small, err.abs(), -1.0).argmax(-1, keepdim=True)
    step = torch.where(torch.gather(err, -1, k) >= 0, 1.0, -1.0).to(y.dtype)
    g = f.scatter_add(-1, k, step)
    return torch.where(odd[..., None], g, f)


def nearest_dn(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * D_n`` (integer vectors with even coordinate sum)."""
    _check(x, scale)
    return _dn(x / scale) * scale


def _closer(y: Tensor, p: Tensor, q: Tensor) -> Tensor:
    """``p`` or ``q`` (..., n), whichever is nearer to ``y`` in exact arithmetic (``p`` on ties)."""
    i = closest_candidate(y, torch.stack([p, q], -2))
    return torch.where((i == 0)[..., None], p, q)


def _half_dn(y: Tensor) -> Tensor:
    """Closest point of D_n + 1/2 to ``y`` (float64, |y| <= 2^40), exactly: h = floor(y) + 1/2
    (the nearest half-integers, halves up), and if floor(y) has an odd sum, the coordinate nearest
    to an integer (|y - round(y)| exact, where ``y - h`` is not) moves to its other side (the
    first one on ties)."""
    f = torch.floor(y)
    h = f + 0.5
    odd = odd_sum(f)
    k = (y - round_nearest(y)).abs().argmin(-1, keepdim=True)
    step = torch.where(torch.gather(y, -1, k) >= torch.gather(h, -1, k), 1.0, -1.0).to(y.dtype)
    return torch.where(odd[..., None], h.scatter_add(-1, k, step), h)


def _bounded(x: Tensor, scale: float, what: str) -> Tensor:
    """``x / scale`` in float64 for the lattices decoded exactly up to a bound: 2^40 (float64
    holds half-integers exactly to 2^52; the margin keeps sums of floors and squared distances
    exact or far from overflow), and for narrower inputs a quarter of the range where their
    dtype holds every integer (2^22 for float32), so that the answer is representable in it;
    a clear error beyond."""
    y = x.detach().to(torch.float64) / scale
    limit = min(2.0**40, 0.5 / torch.finfo(x.dtype).eps)
    if y.numel() and float(y.abs().max()) > limit:
        dt = str(x.dtype).removeprefix("torch.")
        raise ValueError(f"|x / scale| must be <= 2^{round(math.log2(limit))} for {what} in {dt} (its points are not all "
                         f"representable beyond), got {float(y.abs().max()):.3g}: pass a larger scale")
    return y


def nearest_dn_dual(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * D_n*`` = Z^n ∪ (Z^n + 1/2) (the half-integer coset scaled too);
    exact for |x / scale| <= 2^40 (the integer point on exact ties)."""
    _check(x, scale)
    y = _bounded(x, scale, "D_n*")
    return (_closer(y, round_nearest(y), torch.floor(y) + 0.5) * scale).to(x.dtype)


def nearest_e8(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * E8`` = D8 ∪ (D8 + 1/2); input ``(..., 8)``; exact for
    |x / scale| <= 2^40 (the D8 point on exact ties between the cosets)."""
    _check(x, scale)
    if x.shape[-1] != 8:
        raise ValueError(f"x must have shape (..., 8) for E8, got {tuple(x.shape)}")
    y = _bounded(x, scale, "E8")
    return (_closer(y, _dn(y), _half_dn(y)) * scale).to(x.dtype)


def two_diff(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``a - b`` exactly, as its rounded value and the rounding error (Knuth's TwoSum): comparing
    such pairs lexicographically compares the exact differences."""
    hi = a - b
    bb = hi - a
    return hi, (a - (hi - bb)) + (-b - bb)


def an_coset(y: Tensor, g: Tensor | None = None) -> Tensor:
    """Closest point of A_n + g to ``y`` ``(..., n + 1)`` (float64, |y| <= 2^40), exactly; ``g``
    ``(n + 1,)`` a glue vector of sum 0 with dyadic coordinates (None: A_n itself).

    No projection onto the hyperplane (the mean would round) and no shift y - g (it rounds for
    values far smaller than g): every point has z_i in Z + g_i and sum 0, and the cost
    sum (y_i - z_i)^2 is convex per coordinate, so the best one starts from b_i, the largest
    element of Z + g_i not above y_i, and hands the missing units m = -sum b out as
    q = m // (n + 1) to every coordinate and one more to the r = m mod (n + 1) coordinates of
    largest y_i - b_i (the lowest index first on equal ones). The units are summed as integers
    (b - g is integral); y_i - b_i is compared exactly (a TwoSum pair)."""
    m1 = y.shape[-1]
    f = torch.floor(y)
    if g is None:
        b, shift = f, f.new_zeros(())
    else:
        g = g.to(y)
        phi = g - torch.floor(g)  # g mod 1, in [0, 1)
        hi, lo = two_diff(y, f)  # frac(y), exactly
        b = torch.where((hi > phi) | ((hi == phi) & (lo >= 0)), f, f - 1) + phi
        shift = g
    need = -(b - shift).to(torch.int64).sum(-1)
    q, r = torch.div(need, m1, rounding_mode="floor"), torch.remainder(need, m1)
    hi, lo = two_diff(y, b)
    order = torch.argsort(-lo, dim=-1, stable=True)  # by -hi, then -lo, then index
    order = torch.gather(order, -1, torch.argsort(-torch.gather(hi, -1, order), dim=-1, stable=True))
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(m1, device=y.device).expand_as(order))
    return b + q[..., None].to(b.dtype) + (ranks < r[..., None]).to(b.dtype)


def nearest_an(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * A_n`` (integer vectors in R^{n+1} with zero sum) to ``x``
    ``(..., n + 1)``, exactly for |x / scale| <= 2^40 (:func:`an_coset`: no projection)."""
    _check(x, scale)
    if x.shape[-1] < 2:
        raise ValueError(f"x must have shape (..., n + 1) with n >= 1 for A_n, got {tuple(x.shape)}")
    return (an_coset(_bounded(x, scale, "A_n")) * scale).to(x.dtype)


# ----------------------------------------------------------------------------- spherical codes
def _pair_list(n: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)


class IntegerShell(SphericalCode):
    """Shells made of a 'pairs' class (±m, ±m, 0...) and optionally a 'signs' class (±h)^n with an
    even number of minus signs; integer scaling ``norm2``. Decoded class by class with the same
    top-two certification as the Leech decoder and an exact fallback."""

    pair_value: int
    sign_value: int | None
    norm2: int

    def __init__(self) -> None:
        self._pairs = torch.from_numpy(_pair_list(self.dim))
        self.n_pair = 4 * len(self._pairs)
        self.size = self.n_pair + (1 << (self.dim - 1) if self.sign_value else 0)
        pidx = torch.full((self.dim, self.dim), -1, dtype=torch.int64)
        pidx[self._pairs[:, 0], self._pairs[:, 1]] = torch.arange(len(self._pairs))
        self._pair_index = pidx

    @lru_cache(maxsize=None)  # noqa: B019 - a handful of instances
    def _integer_codebook(self) -> Tensor:
        return self.index_to_vector(torch.arange(self.size), integer=True)

    def _blocks(self) -> np.ndarray:
        """Coordinates (B, 8) of the sign class's blocks: all 8 coordinates for E8, none without it."""
        return np.arange(8)[None] if self.sign_value else np.zeros((0, 8), dtype=np.int64)

    def _flat_indices(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """(idx as a tensor, its values flattened to int64 on CPU); ValueError unless integers in range."""
        idx = torch.as_tensor(idx)
        if idx.is_floating_point():
            raise ValueError(f"idx must be an integer tensor, got {idx.dtype}")
        flat = idx.reshape(-1).long().cpu()
        if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= self.size):
            raise ValueError(f"idx must lie in [0, {self.size - 1}] for {self.name}")
        return idx, flat

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32, integer: bool = False) -> Tensor:
        idx, flat = self._flat_indices(idx)
        out = torch.zeros(flat.shape[0], self.dim, dtype=torch.int64)
        rows = torch.arange(flat.shape[0])
        p = flat < self.n_pair
        if p.any():
            pair, sg = flat[p] // 4, flat[p] % 4
            r = rows[p]
            out[r, self._pairs[pair, 0]] = self.pair_value * (1 - 2 * (sg >> 1))
            out[r, self._pairs[pair, 1]] = self.pair_value * (1 - 2 * (sg & 1))
        if self.sign_value and (~p).any():
            k = flat[~p] - self.n_pair
            negs = (k[:, None] >> torch.arange(self.dim - 1)) & 1
            negs = torch.cat([negs, negs.sum(1, keepdim=True) % 2], 1)
            out[~p] = self.sign_value * (1 - 2 * negs)
        out = out.reshape(*idx.shape, self.dim).to(idx.device)
        return out if integer else out.to(dtype) / math.sqrt(self.norm2)

    def _nearest(self, x: Tensor) -> Tensor:
        if kernels.enabled(x):  # the same structured search fused per row (numba); same answers
            if "_kernel_tables" not in self.__dict__:  # built once: per-call set-up is what small shells pay most for
                self._kernel_tables = (np.ascontiguousarray(self._blocks(), dtype=np.int64).reshape(-1, 8),
                                       np.ascontiguousarray(self._pair_index.numpy(), dtype=np.int64))
            out, hard = kernels.integer_shell_search(x, self.pair_value, self.sign_value or 1, *self._kernel_tables, self.n_pair)
            if hard.any():
                hard_t = torch.from_numpy(hard)
                out[hard_t] = exact_argmax(x[hard_t], self._integer_codebook())
            return out
        cd = torch.float64 if x.dtype == torch.float64 else torch.float32
        xc = pow2_scale(x).to(cd)  # invariant to positive scaling; no overflow or subnormals
        a, neg = xc.abs(), xc < 0
        n = xc.shape[0]
        rows = torch.arange(n, device=x.device)
        vals, pos = torch.topk(a, 3, dim=-1)
        m = self.pair_value
        top_p = m * (vals[:, 0] + vals[:, 1])
        run_p = m * (vals[:, 0] + vals[:, 2])
        i = torch.minimum(pos[:, 0], pos[:, 1])
        j = torch.maximum(pos[:, 0], pos[:, 1])
        pair_index = self._pair_index.to(x.device)
        idx_p = 4 * pair_index[i, j] + 2 * neg[rows, i].long() + neg[rows, j].long()
        tops, runs, idxs = [top_p], [run_p], [idx_p]
        if self.sign_value:
            h = self.sign_value
            srt, order = torch.sort(a, 1)
            m1, m2 = srt[:, 0], srt[:, 1]
            negs = neg.long()
            odd = negs.sum(1) % 2 == 1
            total = h * a.sum(1)
            top_s = torch.where(odd, total - 2 * h * m1, total)
            run_s = torch.where(odd, total - 2 * h * m2, total - 2 * h * (m1 + m2))
            flip = torch.zeros_like(negs)
            flip[rows, order[:, 0]] = odd.long()
            negs = negs ^ flip
            k = (negs[:, : self.dim - 1] << torch.arange(self.dim - 1, device=x.device)).sum(1)
            tops.append(top_s)
            runs.append(run_s)
            idxs.append(self.n_pair + k)
        u = 2.0**-53 if cd == torch.float64 else 2.0**-24
        out, hard = certified_choice(tops, runs, idxs, 64 * u * max(m, self.sign_value or 0) * a.sum(-1) + 2.0**-100)
        if hard.any():
            out[hard] = exact_argmax(x[hard], self._integer_codebook()).to(x.device)
        return out


class D4Code(IntegerShell):
    """The 24 minimal vectors of D4, (±1, ±1, 0, 0) / sqrt 2; index 4 * pair + 2 neg_i + neg_j."""

    dim, name = 4, "D4 shell"
    pair_value, sign_value, norm2 = 1, None, 2


class E8Code(IntegerShell):
    """The 240 minimal vectors of E8 (integer scaling x2: (±2, ±2, 0^6) and (±1)^8 even minus).

    Indices 0..111: ``4 * pair + 2 neg_i + neg_j``; 112..239: ``112 + k`` with bit t of k the
    minus sign of coordinate t < 7 (coordinate 7 restores even parity).
    """

    dim, name = 8, "E8 shell"
    pair_value, sign_value, norm2 = 2, 1, 8
