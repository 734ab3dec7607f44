"""Exact maximum-inner-product search over an explicit integer codebook.

Shared by every brute-force reference and by the structured decoders' fallback for the rare rows
whose best and second-best scores are closer than the floating-point error bound. Rule: the
codeword with the largest exact inner product wins; among exactly equal scores, the lowest index.

Scores are first computed in float64 on rows scaled by a power of two (:func:`pow2_scale`: no
overflow, no subnormals, whatever the finite input); only codewords within a rounding-error margin
of the maximum are re-scored with exact integer arithmetic on the original values (a float is a
dyadic rational, so ``x * 2^k`` is an integer for a common ``k``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
import threading
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

__all__ = ["exact_argmax", "float64_error_bound", "certified_choice", "pow2_scale", "resolve_exact", "full_precision_matmul",
           "closest_candidate", "float64_argmax"]

# |fl(sum_j v_j x_j) - sum_j v_j x_j| <= n u sum_j |v_j x_j| (+ lower-order terms); n <= 64 here.
U64 = 2.0**-53


def float64_error_bound(x: Tensor, vmax: float) -> Tensor:
    """Upper bound ``(...,)`` on the float64 rounding error of any score ``<v, x>`` for ``x`` ``(...,
    n)`` and any ``v`` with ``|v_j| <= vmax``."""
    n = x.shape[-1]
    return 2.0 * (n + 2) * U64 * vmax * x.abs().sum(-1)


_PRECISION_LOCK = threading.Lock()
_PRECISION_USERS = 0
_PRECISION_SAVED: str | None = None


@contextmanager
def full_precision_matmul() -> Iterator[None]:
    """Force IEEE float32 matmuls (no TF32 on CUDA, no bf16 passes on CPU) inside the block: the
    structured decoders' error bounds assume full float32 precision.

    The setting is process-global in torch, so this is thread-safe by reference counting: with
    the default precision ("highest") nothing is written at all; otherwise the first block to
    enter saves the user's setting and the last to leave restores it (other threads' matmuls
    meanwhile run at full precision: slower, never less exact)."""
    global _PRECISION_USERS, _PRECISION_SAVED
    with _PRECISION_LOCK:
        if _PRECISION_USERS == 0 and torch.get_float32_matmul_precision() != "highest":
            _PRECISION_SAVED = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision("highest")
        _PRECISION_USERS += 1
    try:
        yield
    finally:
        with _PRECISION_LOCK:
            _PRECISION_USERS -= 1
            if _PRECISION_USERS == 0 and _PRECISION_SAVED is not None:
                torch.set_float32_matmul_precision(_PRECISION_SAVED)
                _PRECISION_SAVED = None


def certified_choice(tops: list[Tensor], runs: list[Tensor], idxs: list[Tensor], err: Tensor) -> tuple[Tensor, Tensor]:
    """Decide between the classes of a structured decoder, with a certificate.

    ``tops[c]``, ``runs[c]`` and ``idxs[c]`` (each ``(n,)``) are, for shape class ``c``, the
    floating-point score of its best codeword, of its runner-up, and the best codeword's index;
    ``err`` ``(n,)`` bounds the rounding error of any score. Returns the index of the best class's
    codeword and a mask of the rows whose best and second-best scores (over all classes) are
    within ``2 err``: only those can differ from the exact answer and must be re-decided exactly.
    """
    tops_t = torch.stack(tops, 1)
    rows = torch.arange(tops_t.shape[0], device=tops_t.device)
    best_cls = tops_t.argmax(1)
    best = tops_t[rows, best_cls]
    second = torch.topk(torch.cat([tops_t, torch.stack(runs, 1)], 1), 2, dim=1).values[:, 1]
    return torch.stack(idxs, 1)[rows, best_cls], (best - second) <= 2 * err


def _pow2(e: Tensor) -> Tensor:
    """2.0 ** e (float64) built from the exponent bits, exactly, for integer e in [-1022, 1023]."""
    return ((e + 1023) << 52).view(torch.float64)


def pow2_scale(x: Tensor) -> Tensor:
    """Rows of ``x`` ``(n, d)`` in float64, each multiplied by a power of two so that its largest
    |value| lies in [0.5, 1) (zero rows stay zero).

    Exact for every finite input, subnormals and float64 extremes included, except that values
    below 2^-1074 times the row's largest would underflow (an absolute error under 2^-1000 that
    the callers' error bounds include). Nearest-codeword decisions are invariant to positive
    scaling, so they can be made on the scaled rows: no overflow, no subnormal rounding.
    """
    x64 = x.detach().to(torch.float64)
    _, e = torch.frexp(x64.abs().amax(-1))  # max = f 2^e, f in [0.5, 1); e = 0 for zero rows
    e = -e.to(torch.int64)
    h = torch.div(e, 2, rounding_mode="floor")  # two factors, each a normal float64
    return x64 * _pow2(h)[:, None] * _pow2(e - h)[:, None]


def _exact_integers(row: np.ndarray) -> list[int]:
    """Integers N_j with x_j = N_j / 2^k for a common k (exact, Python ints)."""
    ratios = [float(v).as_integer_ratio() for v in row]
    den = max(d for _, d in ratios)
    return [n * (den // d) for n, d in ratios]


def resolve_exact(row: np.ndarray, cand: np.ndarray, vectors: np.ndarray) -> int:
    """Among candidate indices ``cand`` (ascending) with integer codewords ``vectors``, the one
    with the largest exact inner product with ``row`` (float values, exact as dyadic rationals);
    the lowest index among equal scores."""
    scores = vectors.astype(object).dot(np.array(_exact_integers(row), dtype=object))
    best = max(scores)
    return int(next(k for k, s in zip(cand, scores) if s == best))


@torch.no_grad()
def exact_argmax(
    x: Tensor,
    codebook_int: Tensor,
    codebook_f64: Tensor | None = None,
    row_chunk: int = 256,
    code_chunk: int = 2048,
) -> Tensor:
    """Exact argmax_k <x, c_k> for rows of ``x`` (n, d) over an integer codebook (K, d), for every
    finite input.

    Float64 matmul in chunks (memory ``row_chunk * code_chunk``) on rows scaled by powers of two
    (:func:`pow2_scale`), then exact re-scoring of the codewords within the float64 error bound of
    the maximum, with the original values. Returns int64 indices ``(n,)`` on ``x``'s device.
    ``codebook_f64`` (the same codebook as float64 on CPU) may be passed to avoid converting it on
    every call.
    """
    device = x.device
    xo = x.detach().to("cpu", torch.float64)  # exact: every float dtype converts exactly
    xc = pow2_scale(xo)
    cb = codebook_int.to("cpu")
    cb64 = codebook_f64 if codebook_f64 is not None else cb.to(torch.float64)
    cb_np = cb.numpy()
    vmax = float(cb.abs().max()) if cb.numel() else 1.0
    exact_grid = 2.0 ** (53 - math.ceil(math.log2(max(xc.shape[1] * vmax, 1.0))))  # |row| < 1 after pow2_scale
    out = torch.empty(xc.shape[0], dtype=torch.int64)
    n_chunks = (cb64.shape[0] + code_chunk - 1) // code_chunk
    for r0 in range(0, xc.shape[0], row_chunk):
        rows = xc[r0 : r0 + row_chunk]
        tol = float64_error_bound(rows, vmax) + 2.0**-1000
        # rows whose float64 scores are exact (values on a grid of 2^-p, every partial sum below
        # 2^53 units): the first maximum (torch's max/argmax rule) already is the exact answer
        exact = ((rows * exact_grid).frac() == 0).all(1)
        count = not bool(exact.all())
        # per code chunk: max, argmax, and (for the other rows) how many scores lie within tol of it
        cmax = torch.empty(rows.shape[0], n_chunks, dtype=torch.float64)
        carg = torch.empty(rows.shape[0], n_chunks, dtype=torch.int64)
        ccount = torch.ones(rows.shape[0], n_chunks, dtype=torch.int64)
        for c in range(n_chunks):
            k0 = c * code_chunk
            sc = rows @ cb64[k0 : k0 + code_chunk].T
            m, a = sc.max(1)
            cmax[:, c], carg[:, c] = m, a + k0
            if count:
                ccount[:, c] = (sc >= (m - tol)[:, None]).sum(1)
        top, best_chunk = cmax.max(1)
        contenders = cmax >= (top - tol)[:, None]
        simple = exact | ((contenders.sum(1) == 1) & (ccount.gather(1, best_chunk[:, None])[:, 0] == 1))
        out[r0 : r0 + rows.shape[0]] = carg.gather(1, best_chunk[:, None])[:, 0]
        orig = xo[r0 : r0 + row_chunk].numpy()
        for i in torch.nonzero(~simple).flatten().tolist():
            cand = torch.nonzero(rows[i] @ cb64.T >= top[i] - tol[i]).flatten().numpy()
            out[r0 + i] = resolve_exact(orig[i], cand, cb_np[cand])
    return out.to(device)


def closest_candidate(y: Tensor, cands: Tensor) -> Tensor:
    """Index ``(...)`` of the candidate in ``cands`` ``(..., k, n)`` nearest to ``y`` ``(..., n)``
    in exact arithmetic, the first one on exact ties (all values finite, |values| <= 2^40).

    float64 squared distances decide every row whose best leads its runner-up by more than the
    sum of their rounding bounds (each ``d`` is within (n + 3) u d of the exact value: one
    rounding per difference, square and addition); the other rows (ties and near-ties) compare
    the distances exactly, as rationals of the float values (``fractions.Fraction``: exact)."""
    from fractions import Fraction

    k, n = cands.shape[-2:]
    y64, c64 = y.detach().to(torch.float64), cands.detach().to(torch.float64)
    d = ((c64 - y64.unsqueeze(-2)) ** 2).sum(-1).reshape(-1, k)
    best = d.argmin(-1)
    if k == 1 or d.shape[0] == 0:
        return best.reshape(y.shape[:-1])
    two = torch.topk(d, 2, dim=-1, largest=False).values
    bound = (n + 3) * 1.01 * U64 * (two[:, 0] + two[:, 1]) + n * 2.0**-1070  # + underflow of tiny squares
    unsure = torch.nonzero(two[:, 1] - two[:, 0] <= bound).flatten().tolist()
    if unsure:
        yf, cf = y64.reshape(-1, n).cpu().numpy(), c64.reshape(-1, k, n).cpu().numpy()
        for r in unsure:
            yr = [Fraction(float(v)) for v in yf[r]]
            exact = [sum((Fraction(float(c)) - v) ** 2 for c, v in zip(cf[r, j], yr)) for j in range(k)]
            best[r] = exact.index(min(exact))
    return best.reshape(y.shape[:-1])


def float64_argmax(x: Tensor, codebook: Tensor, chunk: int = 1 << 20) -> Tensor:
    """The reference search of codes with irrational coordinates: float64 scores of the rows
    ``x`` (scaled by :func:`pow2_scale` first) against unit codewords; scores within the float64
    error bound of the maximum count as tied and the lowest index wins. (A plain argmax would let
    rounding decide exact ties such as those of midpoints between codewords.)

    Every number is computed in a fixed order of IEEE operations - score = ((x_0 c_0 + x_1 c_1) +
    ...) + x_{d-1} c_{d-1}, sum|x| left to right, separate multiplies and adds - not by a matmul
    whose summation order depends on the kernel and the batch, so the answer is the same on
    every machine and batch size, and the fused kernel (:func:`npq.lattices.kernels.shell_search`)
    computes the same numbers."""
    xs = pow2_scale(x)
    cb = codebook.to(device=xs.device, dtype=torch.float64)
    d = xs.shape[1]
    asum = xs[:, 0].abs()
    for j in range(1, d):
        asum = asum + xs[:, j].abs()
    tol = 2.0 * (d + 2) * U64 * 1.0 * asum
    out = torch.empty(xs.shape[0], dtype=torch.int64, device=x.device)
    rows = max(1, chunk // max(codebook.shape[0], 1))
    for r0 in range(0, xs.shape[0], rows):
        xr = xs[r0 : r0 + rows]
        sc = xr[:, :1] * cb[:, 0]
        for j in range(1, d):
            sc = sc + xr[:, j : j + 1] * cb[:, j]
        near = sc >= (sc.max(1).values - tol[r0 : r0 + rows])[:, None]
        out[r0 : r0 + rows] = near.to(torch.int8).argmax(1)  # the first index among the ties
    return out
