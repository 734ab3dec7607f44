"""Causal neighbourhoods and the wavefront order shared by the portable priors.

A token grid ``(h, w)`` is coded in waves ``2 i + j = 0, 1, ..., 2 (h - 1) + w - 1`` (the row lag
of HEVC's wavefront parallel processing): a cell may condition on any cell ``(i + di, j + dj)`` of
an earlier wave, i.e. ``2 di + dj < 0`` (left, up-left, up, up-right, two rows up up to three
columns right, ...). The cells of one wave are coded together, so a grid takes ``2 (h - 1) + w``
vectorized steps instead of ``h w`` sequential ones.

The *candidates* of a cell are the distinct tokens among its left, up, up-left and up-right
neighbours (in that order); a token equal to one of them is coded by its position ("mode").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["CANDIDATE_OFFSETS", "N_MODE_CONTEXTS", "NEW", "MODES", "PaddedGrid", "gather", "candidates", "modes", "waves", "check_causal"]

CANDIDATE_OFFSETS = ((0, -1), (-1, 0), (-1, -1), (-1, 1))  # left, up, up-left, up-right
NEW = 4  # mode: the token is none of the candidates
MODES = 5
N_MODE_CONTEXTS = 5 * 16  # (number of distinct candidates) x (4 equality bits)


def check_causal(offsets: Sequence[tuple[int, int]]) -> None:
    """ValueError unless every offset lies on an earlier wave (2 di + dj < 0)."""
    bad = [o for o in offsets if 2 * o[0] + o[1] >= 0]
    if bad:
        raise ValueError(f"offsets {bad} are not on an earlier wave (need 2*di + dj < 0)")


def gather(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """(n, len(offsets)) tokens of ``grid`` at (rows + di, cols + dj); -1 outside the grid."""
    h, w = grid.shape
    out = np.full((len(rows), len(offsets)), -1, dtype=np.int64)
    for k, (di, dj) in enumerate(offsets):
        r, c = rows + di, cols + dj
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        out[ok, k] = grid[r[ok], c[ok]]
    return out


class PaddedGrid:
    """A token grid inside a border of -1 (``PAD`` cells wide), so that the neighbours of many
    cells at offsets within ``PAD`` come out of one fancy index, with no bounds checks.
    ``grid`` is the (h, w) view that the coder reads and writes."""

    PAD = 3

    def __init__(self, grid: np.ndarray):
        h, w = grid.shape
        self.padded = np.full((h + 2 * self.PAD, w + 2 * self.PAD), -1, dtype=np.int64)
        self.grid = self.padded[self.PAD : self.PAD + h, self.PAD : self.PAD + w]
        self.grid[...] = grid

    def gather(self, rows: np.ndarray, cols: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(n, k) tokens at (rows + di, cols + dj) for the (k, 2) ``offsets``; -1 outside."""
        return self.padded[rows[:, None] + (self.PAD + offsets[:, 0]), cols[:, None] + (self.PAD + offsets[:, 1])]


def candidates(nb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct tokens of the (n, 4) left / up / up-left / up-right neighbours, in that order and
    -1 padded, and the mode context (n,): count * 16 + which neighbours are equal (4 bits)."""
    cand = np.full_like(nb, -1)
    count = np.zeros(len(nb), dtype=np.int64)
    for k in range(4):
        v = nb[:, k]
        new = (v >= 0) & ~(cand == v[:, None]).any(1)
        cand[new, count[new]] = v[new]
        count += new
    l_, u, ul, ur = nb.T
    eq = ((l_ >= 0) & (l_ == u)).astype(np.int64) | (((ul >= 0) & (ul == u)) << 1) | (((ul >= 0) & (ul == l_)) << 2) | (((ur >= 0) & (ur == u)) << 3)
    return cand, count * 16 + eq


def modes(cand: np.ndarray, tok: np.ndarray) -> np.ndarray:
    """The mode of each token (int64 ``(n,)``): its position among its candidates ``cand`` (int ``(n,
    k)``), else :data:`NEW`."""
    hit = cand == tok[:, None]
    return np.where(hit.any(1), hit.argmax(1), NEW)


def waves(h: int, w: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Cells (rows, cols) of each wave 2i + j = 0, 1, ..., 2(h - 1) + w - 1, rows ascending."""
    for wave in range(2 * (h - 1) + w):
        i = np.arange(max(0, (wave - w + 2) // 2), min(h - 1, wave // 2) + 1)
        j = wave - 2 * i
        ok = (j >= 0) & (j < w)
        yield i[ok], j[ok]
