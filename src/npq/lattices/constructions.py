"""Codes and coordinates behind the densest lattices of dimensions 6-16 (Conway & Sloane ch. 4, 7).

* Eisenstein integers ``E = Z[ω]``, ``ω = e^{2πi/3}``, as pairs of integers ``(a, b) = a + bω``;
  real coordinates ``(a - b/2, b √3/2)``. ``E/2E`` is the field F4 = {0, 1, ω, ω̄} (symbols 0-3,
  symbol ``s`` = ``(s & 1) + (s >> 1) ω``); ``E/θE`` = F3 with ``θ = √-3 = 1 + 2ω``.
* The hexacode: the [6, 3, 4] code over F4, ``{(a, b, c, φ(1), φ(ω), φ(ω̄)) : φ(x) = a x² + b x + c}``.
  K12 (Coxeter-Todd) = ``{x ∈ E^6 : x mod 2 ∈ hexacode}``; E6 = ``{x ∈ E^3 : x_1 ≡ x_2 ≡ x_3 mod θ}``.
* The first-order Reed-Muller code RM(1, 4) = [16, 5, 8]: Λ16 (Barnes-Wall) by construction B,
  ``{x ∈ Z^16 : x mod 2 ∈ RM(1, 4), Σx ≡ 0 mod 4}``.
* :func:`kernel_basis`: a basis of ``{v ∈ Z^n : A v ≡ 0 mod p}`` (p prime), for generator matrices.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

__all__ = ["f4_mul", "hexacode", "reed_muller_1_4", "eisenstein_to_real", "kernel_basis", "SQRT3_2"]

SQRT3_2 = math.sqrt(3) / 2
# F4 symbols 0, 1, ω, ω̄ = 1 + ω (bits: 1 and ω); addition is XOR
_F4_MUL = np.array([[0, 0, 0, 0], [0, 1, 2, 3], [0, 2, 3, 1], [0, 3, 1, 2]], dtype=np.int64)


def f4_mul(a, b):
    """Product in F4 of symbols (arrays of ints 0-3)."""
    return _F4_MUL[np.asarray(a), np.asarray(b)]


@lru_cache(maxsize=None)
def hexacode() -> np.ndarray:
    """The 64 hexacode words, (64, 6) F4 symbols, in the order of (a, b, c) = base-4 digits."""
    words = []
    for a in range(4):
        for b in range(4):
            for c in range(4):
                phi = [f4_mul(a, f4_mul(x, x)) ^ f4_mul(b, x) ^ c for x in (1, 2, 3)]
                words.append([a, b, c, *phi])
    out = np.array(words, dtype=np.int64)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=None)
def reed_muller_1_4() -> np.ndarray:
    """The 32 codewords of RM(1, 4), (32, 16) uint8: affine functions a0 + a·v on F2^4 (v = bits
    of the coordinate index), row ``a0 + 2 a`` (a as a 4-bit integer)."""
    v = (np.arange(16)[:, None] >> np.arange(4)) & 1  # (16, 4)
    out = np.zeros((32, 16), dtype=np.uint8)
    for a in range(16):
        lin = (v @ ((a >> np.arange(4)) & 1)) % 2
        out[2 * a] = lin
        out[2 * a + 1] = 1 - lin
    out.setflags(write=False)
    return out


def eisenstein_to_real(ab: np.ndarray) -> np.ndarray:
    """Integer pairs ``(..., 2m)`` laid out ``a_1, b_1, a_2, b_2, ...`` -> real coordinates (float64)."""
    ab = np.asarray(ab, dtype=np.float64)
    a, b = ab[..., 0::2], ab[..., 1::2]
    out = np.empty_like(ab)
    out[..., 0::2] = a - b / 2
    out[..., 1::2] = b * SQRT3_2
    return out


def kernel_basis(a: np.ndarray, p: int) -> np.ndarray:
    """Basis (columns, (n, n) int64) of the lattice ``{v ∈ Z^n : a v ≡ 0 (mod p)}`` for a prime p.

    Row-reduce ``a`` mod p; with pivot columns P, the basis is ``p e_j`` for j in P and
    ``e_j - Σ_i r_ij e_{P_i}`` for the other columns j (``r`` the reduced rows).
    """
    r = np.asarray(a, dtype=np.int64) % p
    n = r.shape[1]
    pivots, row = [], 0
    for col in range(n):
        nz = [i for i in range(row, r.shape[0]) if r[i, col]]
        if not nz:
            continue
        r[[row, nz[0]]] = r[[nz[0], row]]
        r[row] = (r[row] * pow(int(r[row, col]), -1, p)) % p
        for i in range(r.shape[0]):
            if i != row and r[i, col]:
                r[i] = (r[i] - r[i, col] * r[row]) % p
        pivots.append(col)
        row += 1
        if row == r.shape[0]:
            break
    basis = []
    for j in range(n):
        v = np.zeros(n, dtype=np.int64)
        if j in pivots:
            v[j] = p
        else:
            v[j] = 1
            for i, pc in enumerate(pivots):
                v[pc] = -r[i, j] % p
        basis.append(v)
    return np.stack(basis, 1)
