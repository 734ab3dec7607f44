"""Structured fused kernels (numba) for the first shells with irrational coordinates: A2, E6, E7, K12.

A brute force scores every codeword (72, 126, 756 inner products per row); these decoders use
the codes' constructions (Conway & Sloane ch. 4, as built in :mod:`npq.lattices.shells`), so a
row costs a few dozen operations:

* **A2** (6, the hexagon ±u_0, ±u_1, ±u_2 with u_1 = (0, 1)): three float64 scores a = <x, u_0>,
  x_1, c = <x, u_2> and their negations are the reference's six scores bit for bit (IEEE
  rounding is symmetric under negation), so the kernel *is* the reference, without a loop over
  a table: the first score within its tolerance of the largest, picked by selects.
* **E7** (126 = 56 + 70) in R^8 coordinates y = B x (B: :func:`~npq.lattices.shells.e7_basis`):
  the best root e_i - e_j takes i = argmax y, j = argmin y (score y_max - y_min); the best
  (±½)^8 word with four minus signs puts + on the four largest y (score half the top four minus
  the bottom four). Runners-up: y_1 - y_7 or y_2 - y_8; swapping the 4th and 5th largest.
* **E6** (72 = 18 + 54), Eisenstein coordinates z_1..z_3: the words θu e_i (best: the largest of
  18 two-term dot products) and (u_1, u_2, u_3) with all u_i in one class mod θ ({1, ω, ω²} or
  {-1, -ω, -ω²}): the score separates over coordinates, so each class takes each coordinate's
  best unit; the runner-up changes the coordinate that loses least.
* **K12** (756 = 36 + 720), six Eisenstein coordinates: the words 2u e_i (36 dot products) and the
  unit lifts of the 45 weight-4 hexacode words: with a_p = <lift(symbol), z_p> per position, a
  word scores sum |a_p| (the best signs), its runner-up flips the smallest |a_p|.

Every score is computed in float64 from exactly scaled rows; a row whose best score leads the
runner-up by more than ``err = 512 u64 sum|x|`` (which bounds twice the rounding of any score
plus what the float64 reference's own rounding and tie tolerance can move) has the reference's
answer; the other rows get :func:`npq.lattices.kernels.reference_row`, the reference itself.
So the indices are those of :func:`npq.lattices.shells.float64_argmax`, bit for bit (tested).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .kernels import U64, as_numpy, jit, reference_row, scale_rows, run_rows

__all__ = ["a2_search", "e6_search", "e7_search", "k12_search"]

_ERR = 512.0 * U64


@jit
def _a2_kernel(x, cbt64, out_idx):
    """A2: ``cbt64`` (2, 6) the hexagon (index k at angle (1 + 2k) π/6; k + 3 is -k). The answer
    of :func:`npq.lattices.kernels.reference_row` for every row, operation for operation."""
    n = x.shape[0]
    xa = np.empty((n, 2))
    asums = np.empty(n)
    scale_rows(x, xa, asums)
    for r in range(n):
        x0, x1 = xa[r, 0], xa[r, 1]
        a = x0 * cbt64[0, 0] + x1 * cbt64[1, 0]  # the reference's order: x0 c0, then + x1 c1
        c = x0 * cbt64[0, 2] + x1 * cbt64[1, 2]
        b = x0 * cbt64[0, 1] + x1 * cbt64[1, 1]  # 0 x0 + x1 (codeword (0, 1))
        top = max(max(abs(a), abs(b)), abs(c))
        lim = top - 2.0 * (2 + 2) * U64 * 1.0 * asums[r]
        bi = 5  # the first index whose score reaches lim, by selects (random rows mispredict branches)
        bi = 4 if -b >= lim else bi
        bi = 3 if -a >= lim else bi
        bi = 2 if c >= lim else bi
        bi = 1 if b >= lim else bi
        bi = 0 if a >= lim else bi
        out_idx[r] = bi


@jit
def _e7_kernel(x, b, pair_idx, half_idx, cbt64, out_idx):
    """E7: ``b`` (8, 7) the basis, ``pair_idx[i, j]`` the index of e_i - e_j, ``half_idx[m]`` of
    the (±½)^8 word whose minus positions form the bit mask m."""
    n = x.shape[0]
    xa = np.empty((n, 7))
    asums = np.empty(n)
    scale_rows(x, xa, asums)
    y = np.empty(8)
    o = np.empty(8, dtype=np.int64)
    s64 = np.empty(cbt64.shape[1])
    for r in range(n):
        for i in range(8):
            acc = 0.0
            for j in range(7):
                acc += b[i, j] * xa[r, j]
            y[i] = acc
        for i in range(8):  # o: positions by decreasing y, earlier first on ties (ranks by counting:
            rank = 0  # branch-free, where a sort of random values mispredicts most of its branches)
            yi = y[i]
            for j in range(8):
                rank += (y[j] > yi) | ((y[j] == yi) & (j < i))
            o[rank] = i
        pair = y[o[0]] - y[o[7]]
        pair2 = max(y[o[0]] - y[o[6]], y[o[1]] - y[o[7]])
        half = 0.5 * ((y[o[0]] + y[o[1]] + y[o[2]] + y[o[3]]) - (y[o[4]] + y[o[5]] + y[o[6]] + y[o[7]]))
        half2 = half - (y[o[3]] - y[o[4]])
        if pair >= half:
            best, gap = pair_idx[o[0], o[7]], pair - max(pair2, half)
        else:
            best, gap = half_idx[(1 << o[4]) | (1 << o[5]) | (1 << o[6]) | (1 << o[7])], half - max(half2, pair)
        out_idx[r] = best if gap > _ERR * asums[r] + 2.0**-100 else reference_row(xa[r], asums[r], cbt64, s64)


@jit
def _e6_kernel(x, th, un, tri_idx, cbt64, out_idx):
    """E6: ``th`` (6, 2) the words θu (real coordinates of one Eisenstein coordinate, unit order
    1, -1, ω, -ω, ω², -ω²), ``un`` (6, 2) the units; index of θu_k e_i: 6 i + k; of (u_a, u_b,
    u_c): ``tri_idx[a, b, c]``. Units 0, 2, 4 form one class mod θ, 1, 3, 5 the other."""
    n = x.shape[0]
    xa = np.empty((n, 6))
    asums = np.empty(n)
    scale_rows(x, xa, asums)
    s64 = np.empty(cbt64.shape[1])
    pick = np.empty((2, 3), dtype=np.int64)
    c_top = np.empty(2)
    c_run = np.empty(2)
    for r in range(n):
        # words θu e_i: best and runner-up of 18
        t1 = -np.inf
        t2 = -np.inf
        i1 = 0
        for i in range(3):
            z0 = xa[r, 2 * i]
            z1 = xa[r, 2 * i + 1]
            for k in range(6):  # top two, branch-free (selects: random scores mispredict branches)
                v = th[k, 0] * z0 + th[k, 1] * z1
                i1 = 6 * i + k if v > t1 else i1
                t2 = max(t2, min(t1, v))
                t1 = max(t1, v)
        # words (u_1, u_2, u_3), one class: each coordinate's best unit of the class
        for cl in range(2):
            tot = 0.0
            loss = np.inf  # the least a coordinate loses by taking its second unit
            for i in range(3):
                z0 = xa[r, 2 * i]
                z1 = xa[r, 2 * i + 1]
                b1 = -np.inf
                b2 = -np.inf
                kb = 0
                for k in range(cl, 6, 2):
                    v = un[k, 0] * z0 + un[k, 1] * z1
                    kb = k if v > b1 else kb
                    b2 = max(b2, min(b1, v))
                    b1 = max(b1, v)
                pick[cl, i] = kb
                tot += b1
                loss = min(loss, b1 - b2)
            c_top[cl] = tot
            c_run[cl] = tot - loss
        cl = 0 if c_top[0] >= c_top[1] else 1
        u1 = c_top[cl]
        u2 = max(c_run[cl], c_top[1 - cl])
        if t1 >= u1:
            best, gap = i1, t1 - max(t2, u1)
        else:
            best, gap = tri_idx[pick[cl, 0], pick[cl, 1], pick[cl, 2]], u1 - max(u2, t1)
        out_idx[r] = best if gap > _ERR * asums[r] + 2.0**-100 else reference_row(xa[r], asums[r], cbt64, s64)


@jit
def _k12_kernel(x, un2, lift, supp, sym, cbt64, out_idx):
    """K12: ``un2`` (6, 2) the words 2u (index 6 i + k), ``lift`` (4, 2) the + lift of symbols
    1-3 (row 0 unused), ``supp``/``sym`` (45, 4) the weight-4 hexacode words' positions and
    symbols; index of a lifted word: 36 + 16 w + sign bits (8, 4, 2, 1 for the four positions;
    bit set: minus)."""
    n = x.shape[0]
    xa = np.empty((n, 12))
    asums = np.empty(n)
    scale_rows(x, xa, asums)
    s64 = np.empty(cbt64.shape[1])
    a = np.empty(24)  # a[4 p + s] = <lift(s), z_p>, aa its absolute value
    aa = np.empty(24)
    n_words = supp.shape[0]
    flat = np.empty(4 * n_words, dtype=np.int64)  # the words' (position, symbol) as flat indices into a
    for w in range(n_words):
        for t in range(4):
            flat[4 * w + t] = 4 * supp[w, t] + sym[w, t]
    for r in range(n):
        t1 = -np.inf
        t2 = -np.inf
        i1 = 0
        for p in range(6):
            z0 = xa[r, 2 * p]
            z1 = xa[r, 2 * p + 1]
            for k in range(6):  # top two, branch-free
                v = un2[k, 0] * z0 + un2[k, 1] * z1
                i1 = 6 * p + k if v > t1 else i1
                t2 = max(t2, min(t1, v))
                t1 = max(t1, v)
            for s in range(1, 4):
                v = lift[s, 0] * z0 + lift[s, 1] * z1
                a[4 * p + s] = v
                aa[4 * p + s] = abs(v)
        wb = 0
        w1 = -np.inf
        w2 = -np.inf
        wf = -np.inf  # the current best word's flip runner-up
        for w in range(n_words):
            tot = 0.0
            mn = np.inf
            for t in range(4):
                v = aa[flat[4 * w + t]]
                tot += v
                mn = min(mn, v)
            flip = tot - 2.0 * mn  # the word's own runner-up: the smallest |a_p| flipped
            better = tot > w1
            wb = w if better else wb
            w2 = max(max(w2, min(w1, tot)), flip if better else wf)  # runner-up: another word, or the best flipped
            wf = flip if better else wf
            w1 = max(w1, tot)
        if t1 >= w1:
            best, gap = i1, t1 - max(t2, w1)
        else:
            bits = 0
            for t in range(4):
                if a[flat[4 * wb + t]] < 0:
                    bits |= 8 >> t
            best, gap = 36 + 16 * wb + bits, w1 - max(w2, t1)
        out_idx[r] = best if gap > _ERR * asums[r] + 2.0**-100 else reference_row(xa[r], asums[r], cbt64, s64)


def _run(kernel, x: Tensor, *tables, min_rows: int) -> Tensor:
    """Rows of ``x`` through ``kernel`` (:func:`npq.lattices.kernels.run_rows`)."""
    xn = as_numpy(x)
    out = np.empty(xn.shape[0], dtype=np.int64)
    run_rows(kernel, xn, *tables, outs=(out,), min_rows=min_rows)
    return torch.from_numpy(out)


def a2_search(x: Tensor, tables: tuple) -> Tensor:
    """Indices of the nearest A2 shell codewords to the rows ``x`` (n, 2); ``tables`` = (the
    codebook transposed,)."""
    return _run(_a2_kernel, x, *tables, min_rows=1 << 16)  # ~5 ns a row


def e7_search(x: Tensor, tables: tuple) -> Tensor:
    """Indices of the nearest E7 shell codewords to the rows ``x`` (n, 7); ``tables`` from
    :meth:`npq.lattices.shells.E7Code._tables`."""
    return _run(_e7_kernel, x, *tables, min_rows=4096)  # ~90-110 ns a row


def e6_search(x: Tensor, tables: tuple) -> Tensor:
    """Indices of the nearest E6 shell codewords to the rows ``x`` (n, 6)."""
    return _run(_e6_kernel, x, *tables, min_rows=8192)  # ~60-75 ns a row


def k12_search(x: Tensor, tables: tuple) -> Tensor:
    """Indices of the nearest K12 shell codewords to the rows ``x`` (n, 12)."""
    return _run(_k12_kernel, x, *tables, min_rows=1024)  # ~320-400 ns a row
