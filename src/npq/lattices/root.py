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
from .exact import certified_choice, exact_argmax, pow2_scale

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


def _round(y: Tensor) -> Tensor:
    # round half away from zero is not needed; ties are measure-zero. floor(y + 1/2) is simple
    # and deterministic.
    return torch.floor(y + 0.5)


def nearest_zn(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * Z^n``."""
    _check(x, scale)
    return _round(x / scale) * scale


def _dn(y: Tensor) -> Tensor:
    f = _round(y)
    odd = torch.remainder(f.sum(-1), 2) != 0
    err = y - f
    k = err.abs().argmax(-1, keepdim=True)
    step = torch.where(torch.gather(err, -1, k) >= 0, 1.0, -1.0).to(y.dtype)
    g = f.scatter_add(-1, k, step)
    return torch.where(odd[..., None], g, f)


def nearest_dn(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * D_n`` (integer vectors with even coordinate sum)."""
    _check(x, scale)
    return _dn(x / scale) * scale


def _closer(y: Tensor, p: Tensor, q: Tensor) -> Tensor:
    dp = ((y - p) ** 2).sum(-1, keepdim=True)
    dq = ((y - q) ** 2).sum(-1, keepdim=True)
    return torch.where(dp <= dq, p, q)


def nearest_dn_dual(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * D_n*`` = Z^n ∪ (Z^n + 1/2) (the half-integer coset scaled too)."""
    _check(x, scale)
    y = x / scale
    return _closer(y, _round(y), _round(y - 0.5) + 0.5) * scale


def nearest_e8(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * E8`` = D8 ∪ (D8 + 1/2); input ``(..., 8)``."""
    _check(x, scale)
    if x.shape[-1] != 8:
        raise ValueError(f"x must have shape (..., 8) for E8, got {tuple(x.shape)}")
    y = x / scale
    return _closer(y, _dn(y), _dn(y - 0.5) + 0.5) * scale


def nearest_an(x: Tensor, scale: float = 1.0) -> Tensor:
    """Closest point of ``scale * A_n`` (integer vectors in R^{n+1} with zero sum).

    The input is first projected onto the hyperplane ``sum = 0`` (the closest lattice point to
    ``x`` and to its projection coincide).
    """
    _check(x, scale)
    if x.shape[-1] < 2:
        raise ValueError(f"x must have shape (..., n + 1) with n >= 1 for A_n, got {tuple(x.shape)}")
    y = x / scale
    y = y - y.mean(-1, keepdim=True)
    f = _round(y)
    delta = f.sum(-1).long()  # deficiency
    err = y - f
    order = torch.argsort(err, dim=-1)  # ascending rounding error
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(y.shape[-1], device=y.device).expand_as(order))
    m = y.shape[-1]
    d = delta[..., None]
    # delta > 0: subtract 1 where the error is among the delta smallest (rounded up the most)
    dec = (d > 0) & (ranks < d)
    # delta < 0: add 1 where the error is among the |delta| largest
    inc = (d < 0) & (ranks >= m + d)
    f = f - dec.to(f.dtype) + inc.to(f.dtype)
    return f * scale


# ----------------------------------------------------------------------------- spherical codes
def _pair_list(n: int) -> np.ndarray:
    return np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)


class _IntegerShell(SphericalCode):
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


class D4Code(_IntegerShell):
    """The 24 minimal vectors of D4, (±1, ±1, 0, 0) / sqrt 2; index 4 * pair + 2 neg_i + neg_j."""

    dim, name = 4, "D4 shell"
    pair_value, sign_value, norm2 = 1, None, 2


class E8Code(_IntegerShell):
    """The 240 minimal vectors of E8 (integer scaling x2: (±2, ±2, 0^6) and (±1)^8 even minus).

    Indices 0..111: ``4 * pair + 2 neg_i + neg_j``; 112..239: ``112 + k`` with bit t of k the
    minus sign of coordinate t < 7 (coordinate 7 restores even parity).
    """

    dim, name = 8, "E8 shell"
    pair_value, sign_value, norm2 = 2, 1, 8
