"""The extended binary Golay code G24 = [24, 12, 8], built from scratch.

Construction: systematic generator ``G = [I_12 | B]`` where ``B`` is the 12x12 bordered matrix

    B = [[0, 1 ... 1],
         [1,   A_11  ]],    A_11[i, j] = 1  iff  (j - i) mod 11  in  {0} ∪ QR(11),

with QR(11) = {1, 3, 4, 5, 9} the non-zero quadratic residues mod 11 (a bordered
quadratic-residue construction, Conway & Sloane ch. 3). The tests check the weight enumerator
1 / 759 / 2576 / 759 / 1 and minimum distance 8.

Canonical order: codeword ``c`` (0 <= c < 4096) has information bits ``c`` with bit k of the
integer on coordinate k (k < 12); coordinates 12..23 are the parity bits ``(c_bits @ B) mod 2``.
Octads (the 759 weight-8 codewords) are numbered in increasing order of their codeword index.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "generator_matrix",
    "codewords",
    "parity_index",
    "octads",
    "octad_of_codeword",
    "weight_enumerator",
    "info_to_codeword_index",
]

_QR11 = {1, 3, 4, 5, 9}


@lru_cache(maxsize=None)
def _parity_matrix() -> np.ndarray:
    a = np.array([[1 if (j - i) % 11 in _QR11 | {0} else 0 for j in range(11)] for i in range(11)], dtype=np.uint8)
    b = np.zeros((12, 12), dtype=np.uint8)
    b[0, 1:] = 1
    b[1:, 0] = 1
    b[1:, 1:] = a
    return b


def generator_matrix() -> np.ndarray:
    """Systematic generator ``[I_12 | B]``, shape (12, 24), uint8."""
    return np.concatenate([np.eye(12, dtype=np.uint8), _parity_matrix()], axis=1)


@lru_cache(maxsize=None)
def codewords() -> np.ndarray:
    """All 4096 codewords, shape (4096, 24) uint8; row c has information bits c (bit k -> coord k)."""
    info = ((np.arange(4096)[:, None] >> np.arange(12)) & 1).astype(np.int64)
    cw = (info @ generator_matrix().astype(np.int64)) % 2
    cw = cw.astype(np.uint8)
    cw.setflags(write=False)
    return cw


@lru_cache(maxsize=None)
def parity_index() -> np.ndarray:
    """For each codeword c, its 12 parity bits as an integer (bit k -> coordinate 12 + k), (4096,)."""
    par = codewords()[:, 12:].astype(np.int64)
    out = (par << np.arange(12)).sum(1)
    out.setflags(write=False)
    return out


def info_to_codeword_index(info_bits: np.ndarray) -> np.ndarray:
    """Codeword index from its first 12 coordinates ``(..., 12)`` in {0,1}."""
    return (np.asarray(info_bits, dtype=np.int64) << np.arange(12)).sum(-1)


@lru_cache(maxsize=None)
def _octad_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cw = codewords()
    weight = cw.sum(1)
    octad_cw = np.flatnonzero(weight == 8)  # codeword index of each octad, increasing
    positions = np.stack([np.flatnonzero(cw[c]) for c in octad_cw]).astype(np.int64)  # (759, 8)
    of_cw = np.full(4096, -1, dtype=np.int64)
    of_cw[octad_cw] = np.arange(len(octad_cw))
    for arr in (octad_cw, positions, of_cw):
        arr.setflags(write=False)
    return octad_cw, positions, of_cw


def octads() -> np.ndarray:
    """The 759 octads as sorted coordinate positions, shape (759, 8) int64, canonical order."""
    return _octad_tables()[1]


def octad_of_codeword() -> np.ndarray:
    """(4096,) map codeword index -> octad index, -1 for codewords of weight != 8."""
    return _octad_tables()[2]


def weight_enumerator() -> dict[int, int]:
    """Number of codewords of each weight: {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}."""
    w = np.bincount(codewords().sum(1), minlength=25)
    return {k: int(v) for k, v in enumerate(w) if v}
