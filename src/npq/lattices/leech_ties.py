"""Exact re-decision of the Λ24 rows the float scores cannot certify, by the class structure.

The structured decoder (:mod:`npq.lattices.leech`) leaves some rows "hard": their best and
runner-up scores lie within the rounding-error bound (continuous inputs: about 1 row in 10^4;
tie-heavy inputs such as integer, sparse or codeword-midpoint vectors: most rows). Instead of a
scan of all 196,560 codewords, each class proposes candidates from its own structure, in float64
on rows scaled by a power of two (so any finite input works):

* A (1,104 codewords): every score, one small matmul;
* B: per octad, the score of its best sign pattern; octads within tolerance of the row's best
  expand to their 128 sign patterns;
* C: per Golay word, the score of its best position; words within tolerance expand to their 24
  positions.

Every codeword whose exact score can be the maximum is a candidate. When all of a row's scaled
values are multiples of 2^-46 (integers and other dyadic inputs: the tie-heavy families) every
float64 score is exact, and the answer is the candidate with the largest score and the lowest
index. Otherwise the candidates are re-scored with exact integer arithmetic on the original
values (:func:`npq.lattices.exact.resolve_exact`). A zero row ties everywhere: index 0.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import torch
from torch import Tensor

from .exact import float64_error_bound, pow2_scale, resolve_exact
from .leech_tables import class_a_codebook, octad_patterns, torch_tables

__all__ = ["resolve_ties"]

_EXACT = 2.0**46  # scaled rows whose values are multiples of 2^-46 have exact float64 scores (|score| < 2^7)
_ROWS = 256  # rows per batch


@lru_cache(maxsize=None)
def _tables() -> dict[str, Tensor]:
    """The structured decoder's float64 tables plus the class-A codebook and the 128 sign patterns
    of an octad (:mod:`npq.lattices.leech_tables`)."""
    t = torch_tables("cpu", torch.float64)
    return {
        "signs": t["signs"], "oct_pos": t["oct_pos"], "oct_mask": t["oct_mask"].T.contiguous(), "bits6": t["bits6_b"],
        "par_lo": t["par_lo"], "par_hi": t["par_hi"], "lo": torch.arange(4096) & 63, "hi": torch.arange(4096) >> 6,
        "a_cb": class_a_codebook().double(),  # (1104, 24)
        "patterns": octad_patterns().double(),  # (128, 8): the sign patterns k of an octad
    }


def _word_max(xs: Tensor, t: dict) -> Tensor:
    """``max_j (c_j ? x_j : -x_j)`` for every Golay word c, ``(n, 4096)``: the maximum over four
    6-coordinate blocks, each read from a 64-entry table (information half by the word's bits,
    parity half by its parity pattern), as in the structured decoder."""
    xb = xs.view(-1, 4, 1, 6)
    tab = torch.where(t["bits6"][None, None], xb, -xb).amax(-1)  # (n, 4, 64)
    m = torch.maximum(tab[:, 0, t["lo"]], tab[:, 1, t["hi"]])
    return torch.maximum(m, torch.maximum(tab[:, 2, t["par_lo"]], tab[:, 3, t["par_hi"]]))


def resolve_ties(x: Tensor, classes: tuple[str, ...], offsets: dict[str, int], vectors: Callable[[Tensor], Tensor]) -> Tensor:
    """Exact nearest-codeword indices ``(n,)`` of rows ``x`` ``(n, 24)`` (original values, any
    float dtype) within the shape ``classes`` (global indices start at ``offsets``);
    ``vectors(idx)`` gives the integer codewords of indices (for the exact re-scoring)."""
    out = torch.empty(x.shape[0], dtype=torch.int64)
    xc = x.detach().cpu()
    for r0 in range(0, x.shape[0], _ROWS):
        out[r0 : r0 + _ROWS] = _resolve_batch(xc[r0 : r0 + _ROWS], classes, offsets, vectors)
    return out.to(x.device)


def _resolve_batch(x: Tensor, classes, offsets, vectors) -> Tensor:
    t = _tables()
    xs = pow2_scale(x)  # float64, max |x| in [0.5, 1) per row (zero rows stay zero)
    n = xs.shape[0]
    level = {}
    if "A" in classes:
        level["A"] = xs @ t["a_cb"].T  # (n, 1104)
    if "B" in classes:
        a = xs.abs()
        odd = torch.remainder((xs < 0).double() @ t["oct_mask"].T, 2) == 1
        mins = a[:, t["oct_pos"]].amin(-1)  # (n, 759)
        level["B"] = 2 * (a @ t["oct_mask"].T) - 4 * torch.where(odd, mins, torch.zeros_like(mins))
    if "C" in classes:
        tot = xs @ t["signs"].T  # <s_c, x>, (n, 4096)
        level["C"] = tot + 4 * _word_max(xs, t)  # the best position of each word
    top = torch.stack([v.amax(1) for v in level.values()], 1).amax(1)
    thr = top - (2 * float64_error_bound(xs, 4.0) + 2.0**-1000)  # every codeword that can be the maximum passes
    zero = (xs == 0).all(-1)
    thr[zero] = torch.inf  # a zero row ties on every codeword: index 0, set below
    rows, idx, score = [], [], []

    def keep(r: Tensor, i: Tensor, s: Tensor) -> None:
        rows.append(r), idx.append(i), score.append(s)

    if "A" in classes:
        r, i = torch.nonzero(level["A"] >= thr[:, None], as_tuple=True)
        keep(r, offsets["A"] + i, level["A"][r, i])
    if "B" in classes:
        r, o = torch.nonzero(level["B"] >= thr[:, None], as_tuple=True)
        s = xs[r[:, None], t["oct_pos"][o]] @ t["patterns"].T  # (k, 128)
        rr, k = torch.nonzero(s >= thr[r][:, None], as_tuple=True)
        keep(r[rr], offsets["B"] + 128 * o[rr] + k, s[rr, k])
    if "C" in classes:
        r, c = torch.nonzero(level["C"] >= thr[:, None], as_tuple=True)
        s = tot[r, c][:, None] - 4 * t["signs"][c] * xs[r]  # (k, 24): the 3 at each position
        rr, i = torch.nonzero(s >= thr[r][:, None], as_tuple=True)
        keep(r[rr], offsets["C"] + 24 * c[rr] + i, s[rr, i])
    rows_t, idx_t, score_t = torch.cat(rows), torch.cat(idx), torch.cat(score)
    # exact float64 scores: the largest score, then the lowest index
    row_max = torch.full((n,), -torch.inf, dtype=torch.float64).scatter_reduce(0, rows_t, score_t, "amax")
    big = torch.iinfo(torch.int64).max
    at_max = torch.where(score_t == row_max[rows_t], idx_t, big)
    out = torch.full((n,), big, dtype=torch.int64).scatter_reduce(0, rows_t, at_max, "amin")
    out[zero] = 0
    exact = ((xs * _EXACT).frac() == 0).all(-1)
    for r in torch.nonzero(~exact).flatten().tolist():  # values too finely spread for exact float64 sums
        cand = torch.sort(idx_t[rows_t == r]).values
        out[r] = cand[0] if len(cand) == 1 else resolve_exact(x[r].double().numpy(), cand.numpy(), vectors(cand).numpy())
    return out
