"""Fused CPU kernels (numba) for the exact nearest-codeword searches.

The pure-torch decoders (``leech._structured_search``, ``root._IntegerShell._nearest``,
``shells.CertifiedTableCode._nearest``) are the reference and the fallback; these kernels do the
same certified search in one pass per row (no intermediate tensors), compiled by numba
(LLVM, IEEE float64, no fast-math), and hand the rows they cannot certify to the same exact
resolvers as the torch path. Both paths therefore return the same indices, bit for bit (tested).

Used for CPU tensors when numba imports; ``NPQ_KERNELS=torch`` forces the torch path (e.g. to
compare). Rows are split over ``torch.get_num_threads()`` Python threads (the kernels release
the GIL), so no numba threading layer is involved. Why numba: docs/performance.md.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

try:  # numba is a dependency, but the torch path must keep working without it
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    HAVE_NUMBA = False

__all__ = ["HAVE_NUMBA", "enabled", "shell_search", "integer_shell_search", "leech_search"]

_U64 = 2.0**-53
_MIN_ROWS_PER_THREAD = 512


def enabled(x: Tensor) -> bool:
    """Whether the fused kernels serve ``x``: CPU tensor, numba present, not ``NPQ_KERNELS=torch``."""
    return HAVE_NUMBA and x.device.type == "cpu" and os.environ.get("NPQ_KERNELS", "").lower() != "torch"


def _jit(fn):
    return njit(nogil=True, cache=True, fastmath=False, error_model="numpy")(fn) if HAVE_NUMBA else fn


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1), thread_name_prefix="npq-kernel")


def _run_split(kernel, x: np.ndarray, *args) -> tuple[np.ndarray, np.ndarray]:
    """Run ``kernel(x_part, *args, idx_part, hard_part)`` over row blocks in parallel threads."""
    n = x.shape[0]
    idx = np.empty(n, dtype=np.int64)
    hard = np.empty(n, dtype=np.bool_)
    parts = max(1, min(torch.get_num_threads(), n // _MIN_ROWS_PER_THREAD))
    if parts == 1:
        kernel(x, *args, idx, hard)
        return idx, hard
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    futures = [
        _pool().submit(kernel, x[a:b], *args, idx[a:b], hard[a:b]) for a, b in zip(bounds[:-1], bounds[1:])
    ]
    for f in futures:
        f.result()
    return idx, hard


@_jit
def _scale_row(src, dst) -> float:
    """dst = src * 2^-e with max |dst| in [0.5, 1) (exact; zero rows stay zero); returns sum |dst|."""
    m = 0.0
    for j in range(src.shape[0]):
        m = max(m, abs(src[j]))
    e = 0
    if m > 0.0:
        e = math.frexp(m)[1]
    s = 0.0
    for j in range(src.shape[0]):
        dst[j] = math.ldexp(src[j], -e)
        s += abs(dst[j])
    return s


@_jit
def _on_grid(xs, grid) -> bool:
    """Whether every value of ``xs`` is a multiple of 1 / grid (then small sums of small-integer
    multiples of them are exact in float64)."""
    for j in range(xs.shape[0]):
        v = xs[j] * grid
        if v != math.floor(v):
            return False
    return True


@_jit
def _shell_kernel(x, cbt, vmax, grid, tie_factor, out_idx, out_hard):
    """Certified brute force over a small codebook ``cbt`` (d, K) (float64, transposed).

    Per row: power-of-two scaling, float64 scores, best (first maximum) and runner-up. A row is
    hard when best - runner-up <= tie_factor * err (err: float64 error bound of any score),
    unless ``grid > 0`` and the scaled row lies on the grid 1/grid (then its float64 scores are
    exact and the first maximum is the exact answer with the lowest-index tie rule).
    """
    n, d = x.shape
    k = cbt.shape[1]
    xs = np.empty(d)
    s = np.empty(k)
    for r in range(n):
        asum = _scale_row(x[r], xs)
        for c in range(k):
            s[c] = 0.0
        for j in range(d):
            xj = xs[j]
            for c in range(k):
                s[c] += xj * cbt[j, c]
        best = s[0]
        bi = 0
        second = -np.inf
        for c in range(1, k):
            v = s[c]
            if v > best:
                second = best
                best = v
                bi = c
            elif v > second:
                second = v
        out_idx[r] = bi
        err = 2.0 * (d + 2) * 2.0**-53 * vmax * asum + 2.0**-1000
        hard = best - second <= tie_factor * err
        if hard and grid > 0.0:
            hard = not _on_grid(xs, grid)
        out_hard[r] = hard


def shell_search(x: Tensor, codebook: Tensor, integer: bool) -> tuple[Tensor, Tensor]:
    """(indices, hard mask) of the certified search of rows ``x`` (n, d) over ``codebook`` (K, d).

    ``integer``: the codebook has integer coordinates (the exact rule: lowest index among exactly
    equal scores; rows on a fine dyadic grid are decided exactly in float64). Otherwise (irrational
    unit codewords) a row is certified only if its best score leads by 6 error bounds, so that the
    float64 reference (:func:`npq.lattices.shells.float64_argmax`) agrees with it.
    """
    cb = codebook.detach().to("cpu", torch.float64)
    vmax = float(cb.abs().max()) if cb.numel() else 1.0
    d = cb.shape[1]
    grid = 2.0 ** (53 - math.ceil(math.log2(max(d * vmax, 1.0)))) if integer else 0.0
    xn = np.ascontiguousarray(x.detach().to("cpu", torch.float64).numpy())
    idx, hard = _run_split(_shell_kernel, xn, _transposed(cb), vmax, grid, 2.0 if integer else 6.0)
    return torch.from_numpy(idx), torch.from_numpy(hard)


def _transposed(cb: Tensor) -> np.ndarray:
    return np.ascontiguousarray(cb.T.numpy())


# ----------------------------------------------------------------------------- shape classes
@_jit
def _pair_class(xs, ax, m, pair_index):
    """Class (±m, ±m, 0...): (best score, runner-up score, index 4 pair + 2 neg_i + neg_j).

    The pair is the first maximum of |x| and the first maximum of the rest, so on exact ties the
    index is the lowest (pairs (i < j) in lexicographic order; minus only where x < 0)."""
    d = xs.shape[0]
    p1 = 0
    for j in range(1, d):
        if ax[j] > ax[p1]:
            p1 = j
    p2 = 0 if p1 != 0 else 1
    for j in range(d):
        if j != p1 and ax[j] > ax[p2]:
            p2 = j
    p3 = -1
    for j in range(d):
        if j != p1 and j != p2 and (p3 < 0 or ax[j] > ax[p3]):
            p3 = j
    i, j2 = min(p1, p2), max(p1, p2)
    loc = 4 * pair_index[i, j2] + 2 * (1 if xs[i] < 0 else 0) + (1 if xs[j2] < 0 else 0)
    return m * (ax[p1] + ax[p2]), m * (ax[p1] + ax[p3]), loc


@_jit
def _block_class(xs, ax, h, blocks):
    """Class (±h)^8 on one of ``blocks`` (B, 8) (octads), even number of minus signs: (best score,
    runner-up score, best block (the first maximum), sign index k: bit t = minus on blocks[o, t],
    t < 7). Per block: h (sum |x| - 2 [odd minus count] min |x|)."""
    b_top = -np.inf
    b_sec = -np.inf
    b_o = 0
    for o in range(blocks.shape[0]):
        sm = 0.0
        mn = np.inf
        neg = 0
        for t in range(8):
            p = blocks[o, t]
            sm += ax[p]
            mn = min(mn, ax[p])
            if xs[p] < 0:
                neg += 1
        v = h * sm - 2.0 * h * mn if neg % 2 == 1 else h * sm
        if v > b_top:
            b_sec = b_top
            b_top = v
            b_o = o
        elif v > b_sec:
            b_sec = v
    # inside the best block: the sign pattern and the runner-up pattern
    sm = 0.0
    m1 = np.inf
    m2 = np.inf
    q1 = 0
    neg = 0
    for t in range(8):
        p = blocks[b_o, t]
        a = ax[p]
        sm += a
        if a < m1:
            m2 = m1
            m1 = a
            q1 = t
        elif a < m2:
            m2 = a
        if xs[p] < 0:
            neg += 1
    odd = neg % 2 == 1
    within = h * sm - 2.0 * h * m2 if odd else h * sm - 2.0 * h * (m1 + m2)
    k7 = 0
    for t in range(7):
        bit = 1 if xs[blocks[b_o, t]] < 0 else 0
        if odd and t == q1:
            bit ^= 1
        k7 |= bit << t
    return b_top, max(b_sec, within), b_o, k7


@_jit
def _integer_shell_kernel(x, m, h, blocks, n_pair, pair_index, grid, out_idx, out_hard):
    """Shells of a pair class (±m, ±m, 0...) and an optional block class (±h)^8 on ``blocks``
    (A3, D4, D5: no blocks; E8: one block, all 8 coordinates; Λ16: the 30 octads of RM(1, 4)).
    Index: pairs first, then ``n_pair + 128 block + k``. Certified float64, exact on grid rows."""
    n, d = x.shape
    xs = np.empty(d)
    ax = np.empty(d)
    vmax = max(m, h)
    for r in range(n):
        asum = _scale_row(x[r], xs)
        for j in range(d):
            ax[j] = abs(xs[j])
        g_top, g_second, g_idx = _pair_class(xs, ax, m, pair_index)
        in_blocks = False
        if blocks.shape[0] > 0:
            b_top, run, o, k7 = _block_class(xs, ax, h, blocks)
            if b_top > g_top:
                g_second = max(g_top, max(g_second, run))
                g_top, g_idx, in_blocks = b_top, n_pair + 128 * o + k7, True
            else:
                g_second = max(g_second, max(b_top, run))
        err = 2.0 * (d + 2) * 2.0**-53 * vmax * asum + 2.0**-1000
        hard = g_top - g_second <= 2.0 * err
        if hard and _on_grid(xs, grid):
            hard = False  # exact scores: first maxima = the lowest index, but the signs in a block
            if in_blocks:
                o = (g_idx - n_pair) // 128
                g_idx = n_pair + 128 * o + _best_octad_signs(xs, blocks[o])
        out_idx[r] = g_idx
        out_hard[r] = hard


def integer_shell_search(x: Tensor, m: float, h: float, blocks: np.ndarray, n_pair: int, pair_index: np.ndarray) -> tuple[Tensor, Tensor]:
    """(indices, hard mask) for rows ``x`` (n, d) of a pair (+ block) class shell (see
    :func:`_integer_shell_kernel`); hard rows need the exact reference."""
    d = x.shape[-1]
    grid = 2.0 ** (53 - math.ceil(math.log2(max(d * max(m, h), 1.0))))
    xn = np.ascontiguousarray(x.detach().to("cpu", torch.float64).numpy())
    blocks = np.ascontiguousarray(blocks, dtype=np.int64).reshape(-1, 8)
    return tuple(torch.from_numpy(a) for a in _run_split(
        _integer_shell_kernel, xn, float(m), float(h), blocks, int(n_pair), np.ascontiguousarray(pair_index, dtype=np.int64), grid))


# ----------------------------------------------------------------------------- Leech
@_jit
def _leech_kernel(x, use_a, use_b, use_c, off_a, off_b, off_c, pair_index, oct_pos, par_lo, par_hi, out_idx, out_hard):
    """The structured Λ24 search of ``leech._structured_search`` fused per row (float64).

    Classes A (±4,±4,0^22), B (±2^8 on an octad), C (∓3,±1^23): best score, runner-up score and
    best index per class, then the certified choice between classes (error bound as the torch
    path's, at float64's unit roundoff)."""
    n = x.shape[0]
    xs = np.empty(24)
    ax = np.empty(24)
    dt = np.empty((4, 64))
    mt = np.empty((4, 64))
    for r in range(n):
        asum = _scale_row(x[r], xs)
        for j in range(24):
            ax[j] = abs(xs[j])
        g_top = -np.inf  # best over classes
        g_idx = 0
        g_second = -np.inf
        if use_a:
            top, run, loc = _pair_class(xs, ax, 4.0, pair_index)
            g_top, g_idx, g_second = top, off_a + loc, run
        if use_b:
            b_top, run, o, k7 = _block_class(xs, ax, 2.0, oct_pos)
            idx = off_b + 128 * o + k7
            if b_top > g_top:
                g_second = max(g_top, max(g_second, run))
                g_top, g_idx = b_top, idx
            else:
                g_second = max(g_second, max(b_top, run))
        if use_c:
            # 64-entry tables per 6-coordinate block: signed sums and signed maxima
            for b in range(4):
                for q in range(64):
                    sd = 0.0
                    mx = -np.inf
                    for t in range(6):
                        v = xs[6 * b + t]
                        if (q >> t) & 1:
                            sd -= v
                            mx = max(mx, v)
                        else:
                            sd += v
                            mx = max(mx, -v)
                    dt[b, q] = sd
                    mt[b, q] = 4.0 * mx
            c_top = -np.inf
            c_sec = -np.inf
            c_best = 0
            for hi in range(64):
                dh = dt[1, hi]
                mh = mt[1, hi]
                for lo in range(64):
                    c = hi * 64 + lo
                    pl = par_lo[c]
                    ph = par_hi[c]
                    v = dt[0, lo] + dh + dt[2, pl] + dt[3, ph] + max(max(mt[0, lo], mh), max(mt[2, pl], mt[3, ph]))
                    if v > c_top:
                        c_sec = c_top
                        c_top = v
                        c_best = c
                    elif v > c_sec:
                        c_sec = v
            # the position of the 3: the two largest -s_j x_j for the best codeword
            pat = c_best | (par_lo[c_best] << 12) | (par_hi[c_best] << 18)
            sdot = 0.0
            t1 = -np.inf
            t2 = -np.inf
            i1 = 0
            for j in range(24):
                tj = xs[j] if (pat >> j) & 1 else -xs[j]
                sdot -= tj
                if tj > t1:
                    t2 = t1
                    t1 = tj
                    i1 = j
                elif tj > t2:
                    t2 = tj
            within = sdot + 4.0 * t2
            run = max(c_sec, within)
            idx = off_c + 24 * c_best + i1
            if c_top > g_top:
                g_second = max(g_top, max(g_second, run))
                g_top, g_idx = c_top, idx
            else:
                g_second = max(g_second, max(c_top, run))
        err = 64.0 * 2.0**-53 * 4.0 * asum + 2.0**-100
        if g_top - g_second > 2.0 * err:
            out_idx[r] = g_idx
            out_hard[r] = False
        elif _on_grid(xs, 2.0**46):
            # every score above is exact (|4 x_j| sums < 2^7 on a 2^-46 grid): the first maximum in
            # class order A, B, C, lowest codeword / octad / position within the class, is the
            # exact answer with the lowest-index rule, except the sign pattern inside an octad
            if use_b and g_idx >= off_b and (not use_c or g_idx < off_c):
                o = (g_idx - off_b) // 128
                g_idx = off_b + 128 * o + _best_octad_signs(xs, oct_pos[o])
            out_idx[r] = g_idx
            out_hard[r] = False
        else:
            out_idx[r] = g_idx
            out_hard[r] = True


@_jit
def _best_octad_signs(xs, pos) -> int:
    """Lowest k in [0, 128) whose sign pattern (bit t: minus on pos[t], t < 7; pos[7] restores
    even parity) has the largest exact score sum_t sign_t x_{pos[t]} (xs on the exact grid)."""
    best = -np.inf
    arg = 0
    for k in range(128):
        par = 0
        v = 0.0
        for t in range(7):
            b = (k >> t) & 1
            par ^= b
            v += -xs[pos[t]] if b else xs[pos[t]]
        v += -xs[pos[7]] if par else xs[pos[7]]
        if v > best:
            best = v
            arg = k
    return arg


def leech_search(x: Tensor, classes: tuple[str, ...], offsets: dict[str, int], tables: dict[str, np.ndarray]) -> tuple[Tensor, Tensor]:
    """(global indices, hard mask) for rows ``x`` (n, 24) over the Leech classes ``classes``.

    ``tables``: ``pair_index`` (24, 24), ``oct_pos`` (759, 8) and ``par_idx`` (4,096,) from
    :func:`npq.lattices.leech._np_tables`.
    """
    xn = np.ascontiguousarray(x.detach().to("cpu", torch.float64).numpy())
    par = tables["par_idx"].astype(np.int64)
    idx, hard = _run_split(
        _leech_kernel, xn, "A" in classes, "B" in classes, "C" in classes,
        offsets.get("A", 0), offsets.get("B", 0), offsets.get("C", 0),
        np.ascontiguousarray(tables["pair_index"], dtype=np.int64), np.ascontiguousarray(tables["oct_pos"], dtype=np.int64),
        np.ascontiguousarray(par & 63), np.ascontiguousarray(par >> 6),
    )
    return torch.from_numpy(idx), torch.from_numpy(hard)
