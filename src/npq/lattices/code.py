"""Spherical codes: finite sets of unit vectors with an exact nearest-codeword search.

* :class:`SphericalCode` - the interface every code implements (index <-> vector bijection,
  ``nearest``); lattice shells (``root``, ``leech``) decode by their structure.
* :class:`TabulatedCode` - a code given by an explicit point table (Fibonacci, random codes),
  searched by chunked inner products.
* :class:`RandomCode` - i.i.d. uniform unit vectors from a seeded generator.
* :func:`chunked_argmax` - argmax of ``<x, c_k> + bias_k`` over an explicit codebook with
  bounded memory and the library's tie rule (lowest index among equal scores).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from . import kernels
from .exact import float64_argmax, full_precision_matmul, pow2_scale

__all__ = ["SphericalCode", "TabulatedCode", "RandomCode", "chunked_argmax", "check_positive_int"]

_U32 = 2.0**-24  # float32 unit roundoff


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` as int, or raise ``ValueError`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def chunked_argmax(x: Tensor, codebook: Tensor, bias: Tensor | None = None, chunk: int = 1 << 24) -> Tensor:
    """``argmax_k <x_i, c_k> + bias_k`` for rows of ``x`` ``(n, d)`` over ``codebook`` ``(K, d)``.

    Lowest index among equal scores (within a block ``torch.max`` returns the first maximum;
    across blocks a later block must be strictly better). Works on blocks of at most ``chunk``
    scores, so memory is bounded whatever K is. ``bias = -|c|^2 / 2`` turns it into the nearest
    codeword in Euclidean distance.
    """
    n, k = x.shape[0], codebook.shape[0]
    cb = codebook.to(x.dtype)
    out = torch.empty(n, dtype=torch.int64, device=x.device)
    code_chunk = max(1, min(k, chunk // max(1, min(n, 4096))))
    row_chunk = max(1, chunk // code_chunk)
    for r0 in range(0, n, row_chunk):
        rows = x[r0 : r0 + row_chunk]
        best = torch.full((rows.shape[0],), -math.inf, device=x.device, dtype=x.dtype)
        arg = torch.zeros(rows.shape[0], dtype=torch.int64, device=x.device)
        for k0 in range(0, k, code_chunk):
            s = rows @ cb[k0 : k0 + code_chunk].T
            if bias is not None:
                s = s + bias[k0 : k0 + code_chunk].to(x.dtype)
            v, i = s.max(1)
            better = v > best
            best = torch.where(better, v, best)
            arg = torch.where(better, i + k0, arg)
        out[r0 : r0 + row_chunk] = arg
    return out


class SphericalCode:
    """A finite set of unit vectors with an exact nearest-codeword (largest inner product) search.

    Subclasses set ``dim``, ``size``, ``name`` and implement ``index_to_vector`` and the hook
    ``_nearest(x (n, dim)) -> indices (n,)``; ``vector_to_index`` and ``codebook`` have generic
    defaults. Callers use :meth:`nearest`, which validates once for every code.
    """

    dim: int
    size: int
    name: str

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
        """All codewords ``(size, dim)`` as unit vectors; row i is the codeword of index i."""
        return self.index_to_vector(torch.arange(self.size, device=device), dtype=dtype)

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Codeword of each index: unit vectors ``(*idx.shape, dim)`` of ``dtype`` for integer indices
        ``idx`` (any shape, values in [0, size)); ValueError for indices outside it."""
        raise NotImplementedError

    def vector_to_index(self, v: Tensor) -> Tensor:
        """Index of each codeword in ``v`` (..., dim); ValueError for a vector not in the code."""
        v = torch.as_tensor(v, dtype=torch.float64)
        flat = v.reshape(-1, self.dim)
        idx = chunked_argmax(flat, self.codebook(torch.float64, flat.device))
        ok = (self.index_to_vector(idx, torch.float64) - flat).abs().amax(-1) < 1e-6
        if not bool(ok.all()):
            bad = int(torch.nonzero(~ok)[0, 0])
            raise ValueError(f"v[{bad}] = {flat[bad].tolist()} is not a codeword of {self.name}")
        return idx.reshape(v.shape[:-1])

    def nearest(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(indices, unit codes)`` of the nearest codewords to ``x`` ``(..., dim)`` (need not be
        normalized); codes in ``x``'s dtype."""
        flat = self._flat_input(x)
        idx = self._nearest(flat)
        return idx.reshape(x.shape[:-1]), self._codes(idx, x.dtype).reshape(x.shape)

    _TABLE_MAX = 1 << 16  # codes of codebooks up to this size come from a cached table (a gather)

    def _codes(self, idx: Tensor, dtype: torch.dtype) -> Tensor:
        """``index_to_vector(idx, dtype)`` for in-range indices; small codebooks gather from a
        cached table (the same values: the table is ``index_to_vector`` of every index)."""
        if self.size > self._TABLE_MAX:
            return self.index_to_vector(idx, dtype)
        tables = self.__dict__.setdefault("_code_tables", {})
        key = (dtype, idx.device)
        if key not in tables:
            tables[key] = self.index_to_vector(torch.arange(self.size, device=idx.device), dtype)
        if idx.device.type == "cpu" and dtype in (torch.float32, torch.float64):  # numpy: ~10 us less a call
            return torch.from_numpy(np.take(tables[key].numpy(), idx.reshape(-1).numpy(), axis=0)).reshape(*idx.shape, self.dim)
        return torch.index_select(tables[key], 0, idx.reshape(-1)).reshape(*idx.shape, self.dim)

    def _flat_input(self, x: Tensor) -> Tensor:
        """``x`` as rows ``(n, dim)``; ValueError for a wrong type, shape or non-finite values."""
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(f"x must be a floating-point tensor of shape (..., {self.dim}), got {getattr(x, 'shape', type(x).__name__)}")
        flat = x.detach().reshape(-1, self.dim)
        if not _all_finite(flat):
            raise ValueError("x contains non-finite values (NaN or Inf)")
        return flat

    def _nearest(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, dim={self.dim})"


def _all_finite(flat: Tensor) -> bool:
    """Whether every value is finite. A finite sum proves it (NaN and Inf propagate); only a
    non-finite sum (also finite values that overflow it) needs the element-wise check. CPU
    float32/float64 by numpy: a torch reduction would leave torch's OpenMP threads spinning on the
    cores the fused search kernels are about to use (~9 ms lost per 4,096-row call, measured)."""
    if flat.device.type == "cpu" and flat.dtype in (torch.float32, torch.float64):
        a = flat.numpy()
        with np.errstate(over="ignore", invalid="ignore"):
            return math.isfinite(float(a.sum())) or bool(np.isfinite(a).all())
    return math.isfinite(float(flat.sum())) or bool(torch.isfinite(flat).all())


class TabulatedCode(SphericalCode):
    """A code given by an explicit float64 table of unit vectors ``points`` ``(size, dim)``.

    Nearest codeword by a certified float32 search with the float64 reference for near-ties
    (:meth:`_nearest`), the same answer as :func:`~npq.lattices.exact.float64_argmax` for every
    finite input; the float32 table is cached per device.
    """

    def __init__(self, points: Tensor, name: str):
        self._points = points.to(torch.float64)
        self.size, self.dim = points.shape
        self.name = name
        self._cache: dict[tuple[str, torch.dtype], Tensor] = {}

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        idx = torch.as_tensor(idx)
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise ValueError(f"idx must be an integer tensor, got dtype {idx.dtype}")
        if idx.numel():  # a negative index would silently wrap around
            lo, hi = kernels.min_max(idx.detach())
            if lo < 0 or hi >= self.size:
                raise ValueError(f"idx must lie in [0, {self.size - 1}] for {self.name}, got values in [{lo}, {hi}]")
        return self._points.to(idx.device)[idx.long()].to(dtype)

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
        return self._points.to(device=device, dtype=dtype)

    _BLOCK = 1 << 22  # scores per block of rows (16 MB of float32)

    def _nearest(self, x: Tensor) -> Tensor:
        """Certified search, exact for every finite input: rows scaled by a power of two
        (:func:`~npq.lattices.exact.pow2_scale`: no overflow, no subnormals), float32 scores in
        blocks of rows at full float32 precision, and the rows whose best two scores are closer
        than twice the rounding bound (input and table rounding, the d-term sum: (2d + 8) u32
        sum|x|) re-decided by :func:`~npq.lattices.exact.float64_argmax`, the reference (float64
        scores in a fixed order; scores within its tolerance are ties, the lowest index wins)."""
        xs = pow2_scale(x)  # float64, row max in [0.5, 1)
        key = (str(x.device), torch.float32)
        if key not in self._cache:
            self._cache[key] = self._points.to(device=x.device, dtype=torch.float32)
        table = self._cache[key]
        out = torch.empty(xs.shape[0], dtype=torch.int64, device=x.device)
        rows = max(1, self._BLOCK // max(1, self.size))
        with full_precision_matmul():
            for r0 in range(0, xs.shape[0], rows):
                xb = xs[r0 : r0 + rows]
                s = xb.to(torch.float32) @ table.T
                best, idx = s.max(1)  # the first maximum
                s.scatter_(1, idx[:, None], -math.inf)  # two max passes: faster than topk(2) here
                second = s.amax(1)
                err = (2 * self.dim + 8) * _U32 * xb.abs().sum(1).to(torch.float32) + 2.0**-100
                hard = (best - second) <= 2 * err
                if bool(hard.any()):
                    idx[hard] = float64_argmax(xb[hard], self._points.to(x.device))
                out[r0 : r0 + rows] = idx
        return out


class RandomCode(TabulatedCode):
    """``n`` i.i.d. uniform unit vectors in R^dim from a seeded generator (deterministic on CPU)."""

    def __init__(self, n: int, dim: int, seed: int = 0):
        check_positive_int("n", n)
        check_positive_int("dim", dim)
        gen = torch.Generator().manual_seed(int(seed))
        points = F.normalize(torch.randn(n, dim, generator=gen, dtype=torch.float64), dim=-1, eps=1e-12)
        super().__init__(points, f"random code ({n} points, seed {seed})")
        self.seed = seed
