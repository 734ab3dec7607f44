"""First shells (minimal vectors) of the densest lattices of dimensions 3, 5, 6, 7, 12 and 16 as
spherical codes, built from their constructions (Conway & Sloane ch. 4), not from tables:

========  =======  ===========================================================================
code      size     construction (squared norm before scaling to the unit sphere)
========  =======  ===========================================================================
A2        6        the hexagon (cos t, sin t), t = (1 + 2k) π/6, index k (1)
A3 (=D3)  12       (±1, ±1, 0) and permutations: the cuboctahedron (2)
D5        40       (±1, ±1, 0^3) and permutations (2)
E6        72       Eisenstein form: θu e_i (18) and (u_1, u_2, u_3) with u_i ≡ u_j mod θ (54) (3)
E7        126      in the hyperplane Σx = 0 of R^8: e_i - e_j (56) and (±½)^8 with four minus (70) (2)
K12       756      Eisenstein form: 2u e_i (36) and unit lifts of the 45 weight-4 hexacode words (720) (4)
Λ16       4,320    (±2, ±2, 0^14) (480) and (±1)^8 on the 30 octads of RM(1, 4), even minus (3,840) (8)
========  =======  ===========================================================================

Decoders (nearest unit codeword, exact against a float64 brute force with the lowest index on
exact ties, for every finite input):

* A3, D5, Λ16 have integer coordinates: a structured search (the best pair; the best sign
  pattern per octad), certified against its rounding error, with exact integer re-scoring of the
  rare uncertain rows (:mod:`npq.lattices.exact`).
* A2, E6, E7, K12 have irrational coordinates in their own dimension (E7 is mapped to R^7 by an
  orthonormal basis of Σx = 0). The reference is :func:`float64_argmax` (scores within the
  float64 error bound of the best are ties, lowest index wins - exact ties between irrational
  scores cannot be told from rounding otherwise). The fused kernels
  (:mod:`npq.lattices.shell_kernels`) search by the constructions below and re-decide uncertain
  rows with the reference's own operations; the torch path uses float32 inner products with a
  certified margin and the reference for the rows within it.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from . import kernels, shell_kernels
from .code import TabulatedCode
from .constructions import eisenstein_to_real, hexacode, reed_muller_1_4
from .exact import certified_choice, exact_argmax, float64_argmax, pow2_scale  # noqa: F401 (float64_argmax: re-exported)
from .root import IntegerShell

__all__ = ["A2Code", "A3Code", "D5Code", "E6Code", "E7Code", "K12Code", "Lambda16Code", "CertifiedTableCode", "float64_argmax", "e7_basis"]


class A3Code(IntegerShell):
    """The 12 minimal vectors of A3 = D3 (the cuboctahedron), (±1, ±1, 0) / √2; index 4 pair + signs."""

    dim, name = 3, "A3 shell (cuboctahedron)"
    pair_value, sign_value, norm2 = 1, None, 2


class D5Code(IntegerShell):
    """The 40 minimal vectors of D5, (±1, ±1, 0, 0, 0) / √2; index 4 pair + signs."""

    dim, name = 5, "D5 shell"
    pair_value, sign_value, norm2 = 1, None, 2


class CertifiedTableCode(TabulatedCode):
    """A tabulated code of unit vectors ``points`` ``(size, dim)`` searched by the fused CPU kernel
    (:func:`npq.lattices.kernels.shell_search`: the same certified search and float64 reference,
    per row) where it serves, else by :class:`~npq.lattices.code.TabulatedCode`'s certified
    torch search: same answers."""

    def _nearest(self, x: Tensor) -> Tensor:
        if kernels.enabled(x):
            return kernels.shell_search(x, self._points)
        return super()._nearest(x)


def _units() -> np.ndarray:
    """The 6 Eisenstein units ±1, ±ω, ±ω² as integer pairs (a, b) = a + bω."""
    return np.array([[1, 0], [-1, 0], [0, 1], [0, -1], [-1, -1], [1, 1]], dtype=np.int64)


def _class_mod_theta(ab: np.ndarray) -> np.ndarray:
    """The class of a + bω in E/θE = F3 (ω ≡ 1 mod θ): (a + b) mod 3."""
    return (ab[..., 0] + ab[..., 1]) % 3


@lru_cache(maxsize=None)
def _e6_points() -> np.ndarray:
    u = _units()
    theta_u = np.array([[a - 2 * b, 2 * a - b] for a, b in u])  # θ = 1 + 2ω times u (ω² = -1 - ω)
    pts = []
    for i in range(3):
        for t in theta_u:
            v = np.zeros((3, 2), dtype=np.int64)
            v[i] = t
            pts.append(v.reshape(6))
    for trip in itertools.product(range(6), repeat=3):
        v = u[list(trip)]
        if len(set(_class_mod_theta(v).tolist())) == 1:
            pts.append(v.reshape(6))
    return eisenstein_to_real(np.array(pts)) / math.sqrt(3)


def e7_basis() -> np.ndarray:
    """Orthonormal basis (8, 7) of the hyperplane Σx = 0 of R^8 (Helmert contrasts), mapping E7's
    coordinates in R^8 to R^7 (``x7 = B^T x8``) and back (``x8 = B x7``)."""
    b = np.zeros((8, 7))
    for k in range(1, 8):
        b[:k, k - 1] = 1.0
        b[k, k - 1] = -k
        b[:, k - 1] /= math.sqrt(k * (k + 1))
    return b


@lru_cache(maxsize=None)
def _e7_points() -> np.ndarray:
    pts = []
    for i in range(8):
        for j in range(8):
            if i != j:
                v = np.zeros(8)
                v[i], v[j] = 1.0, -1.0
                pts.append(v)
    for minus in itertools.combinations(range(8), 4):
        v = np.full(8, 0.5)
        v[list(minus)] = -0.5
        pts.append(v)
    return np.array(pts) @ e7_basis() / math.sqrt(2)


@lru_cache(maxsize=None)
def _k12_points() -> np.ndarray:
    u = _units()
    pts = []
    for i in range(6):
        for t in u:
            v = np.zeros((6, 2), dtype=np.int64)
            v[i] = 2 * t
            pts.append(v.reshape(12))
    # unit lifts of a symbol s (s & 1) + (s >> 1) ω mod 2: ±1 (s=1), ±ω (s=2), ±ω² (s=3)
    lift = {1: np.array([[1, 0], [-1, 0]]), 2: np.array([[0, 1], [0, -1]]), 3: np.array([[-1, -1], [1, 1]])}
    for word in hexacode():
        supp = np.nonzero(word)[0]
        if len(supp) != 4:
            continue
        for signs in itertools.product(range(2), repeat=4):
            v = np.zeros((6, 2), dtype=np.int64)
            for pos, sg in zip(supp, signs):
                v[pos] = lift[int(word[pos])][sg]
            pts.append(v.reshape(12))
    return eisenstein_to_real(np.array(pts)) / 2.0


class _StructuredTableCode(CertifiedTableCode):
    """A certified table code whose fused kernel uses the code's construction
    (:mod:`npq.lattices.shell_kernels`); the torch path stays the certified table search."""

    _search = None  # the kernel's entry point, (x, tables) -> indices

    def _tables(self) -> tuple:
        raise NotImplementedError

    def _nearest(self, x: Tensor) -> Tensor:
        if kernels.enabled(x):
            if "_kernel_tables" not in self.__dict__:
                self._kernel_tables = (*self._tables(), np.ascontiguousarray(self._points.numpy().T))
            return type(self)._search(x, self._kernel_tables)
        return super()._nearest(x)


class A2Code(_StructuredTableCode):
    """The hexagon: 6 unit vectors at angles (1 + 2k) π/6, k = 0..5 (index k), the seed's A2 shell."""

    _search = staticmethod(shell_kernels.a2_search)

    # written with one constant sqrt(3)/2 so that symmetric ties are exact in floating point
    _C = math.sqrt(3) / 2

    def __init__(self) -> None:
        c = self._C
        super().__init__(torch.tensor([[c, 0.5], [0.0, 1.0], [-c, 0.5], [-c, -0.5], [0.0, -1.0], [c, -0.5]], dtype=torch.float64),
                         "A2 shell (hexagon)")

    def _tables(self) -> tuple:
        return ()


class E6Code(_StructuredTableCode):
    """The 72 minimal vectors of E6 (Eisenstein form, see the module docstring), unit vectors in R^6."""

    _search = staticmethod(shell_kernels.e6_search)

    def __init__(self) -> None:
        super().__init__(torch.from_numpy(_e6_points()), "E6 shell")

    def _tables(self) -> tuple:
        u = _units()
        th = eisenstein_to_real(np.array([[a - 2 * b, 2 * a - b] for a, b in u]))  # θu, θ = 1 + 2ω
        tri = np.full((6, 6, 6), -1, dtype=np.int64)
        k = 18
        for trip in itertools.product(range(6), repeat=3):  # the order of _e6_points
            if len(set(_class_mod_theta(u[list(trip)]).tolist())) == 1:
                tri[trip] = k
                k += 1
        return th, eisenstein_to_real(u), tri


class E7Code(_StructuredTableCode):
    """The 126 minimal vectors of E7, unit vectors in R^7 (coordinates :func:`e7_basis`)."""

    _search = staticmethod(shell_kernels.e7_search)

    def __init__(self) -> None:
        super().__init__(torch.from_numpy(_e7_points()), "E7 shell")

    def _tables(self) -> tuple:
        pair = np.full((8, 8), -1, dtype=np.int64)
        k = 0
        for i in range(8):  # the order of _e7_points
            for j in range(8):
                if i != j:
                    pair[i, j] = k
                    k += 1
        half = np.full(256, -1, dtype=np.int64)
        for minus in itertools.combinations(range(8), 4):
            half[sum(1 << m for m in minus)] = k
            k += 1
        return np.ascontiguousarray(e7_basis()), pair, half


class K12Code(_StructuredTableCode):
    """The 756 minimal vectors of the Coxeter-Todd lattice K12, unit vectors in R^12."""

    _search = staticmethod(shell_kernels.k12_search)

    def __init__(self) -> None:
        super().__init__(torch.from_numpy(_k12_points()), "K12 shell")

    def _tables(self) -> tuple:
        lift = np.zeros((4, 2))
        lift[1:] = eisenstein_to_real(np.array([[1, 0], [0, 1], [-1, -1]]))  # + lifts of symbols 1, 2, 3 (as _k12_points)
        words = [w for w in hexacode() if np.count_nonzero(w) == 4]
        supp = np.array([np.nonzero(w)[0] for w in words], dtype=np.int64)
        sym = np.array([w[np.nonzero(w)[0]] for w in words], dtype=np.int64)
        return eisenstein_to_real(2 * _units()), lift, supp, sym


class Lambda16Code(IntegerShell):
    """The 4,320 minimal vectors of the Barnes-Wall lattice Λ16 (integer norm 8, divided by √8).

    Indices 0..479: ``4 * pair + 2 neg_i + neg_j`` for (±2, ±2, 0^14); 480 + 128 k + s: the octad
    k of RM(1, 4) (weight-8 words in code order) with bit t of s the minus sign of its t-th
    coordinate (t < 7; the 8th restores an even number of minus signs).
    """

    dim, name = 16, "Λ16 shell (Barnes-Wall)"
    pair_value, sign_value, norm2 = 2, None, 8

    def __init__(self) -> None:
        super().__init__()
        rm = reed_muller_1_4()
        self._octads = torch.from_numpy(np.stack([np.nonzero(w)[0] for w in rm if w.sum() == 8]))  # (30, 8)
        self.size = self.n_pair + 128 * len(self._octads)

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32, integer: bool = False) -> Tensor:
        """Codeword of each Λ16 index (int ``idx`` of any shape, values in [0, 4320)): ``(*idx.shape,
        16)`` unit vectors of ``dtype``, or with ``integer=True`` the int64 coordinates of
        the codeword scaled to norm sqrt(8)."""
        idx, flat = self._flat_indices(idx)
        p = flat < self.n_pair
        out = torch.zeros(flat.shape[0], self.dim, dtype=torch.int64)
        if p.any():
            out[p] = super().index_to_vector(flat[p], integer=True)
        if (~p).any():
            k, s = (flat[~p] - self.n_pair) // 128, (flat[~p] - self.n_pair) % 128
            negs = (s[:, None] >> torch.arange(7)) & 1
            negs = torch.cat([negs, negs.sum(1, keepdim=True) % 2], 1)
            rows = torch.nonzero(~p).flatten()
            out[rows[:, None], self._octads[k]] = 1 - 2 * negs
        out = out.reshape(*idx.shape, self.dim).to(idx.device)
        return out if integer else out.to(dtype) / math.sqrt(self.norm2)

    def _blocks(self) -> np.ndarray:
        return self._octads.numpy()

    def _nearest(self, x: Tensor) -> Tensor:
        if kernels.enabled(x):
            return super()._nearest(x)  # the fused pair + octad kernel (sign value 1 on 30 octads)
        cd = torch.float64 if x.dtype == torch.float64 else torch.float32
        xc = pow2_scale(x).to(cd)
        a, neg = xc.abs(), xc < 0
        n = xc.shape[0]
        rows = torch.arange(n, device=x.device)
        vals, pos = torch.topk(a, 3, dim=-1)
        top_p, run_p = 2 * (vals[:, 0] + vals[:, 1]), 2 * (vals[:, 0] + vals[:, 2])
        i, j = torch.minimum(pos[:, 0], pos[:, 1]), torch.maximum(pos[:, 0], pos[:, 1])
        idx_p = 4 * self._pair_index.to(x.device)[i, j] + 2 * neg[rows, i].long() + neg[rows, j].long()
        # signs on each octad: all |x| with an even number of minus signs
        octs = self._octads.to(x.device)
        ao, no = a[:, octs], neg[:, octs].long()  # (n, 30, 8)
        srt, order = torch.sort(ao, -1)
        total = ao.sum(-1)
        odd = no.sum(-1) % 2 == 1
        top_o = torch.where(odd, total - 2 * srt[..., 0], total)
        run_o = torch.where(odd, total - 2 * srt[..., 1], total - 2 * (srt[..., 0] + srt[..., 1]))
        two, kk = torch.topk(top_o, 2, dim=1)
        k = kk[:, 0]
        top_s = two[:, 0]
        run_s = torch.maximum(two[:, 1], run_o[rows, k])
        flip = torch.zeros_like(no[rows, k])
        flip[rows, order[rows, k, 0]] = odd[rows, k].long()
        negs = no[rows, k] ^ flip
        s = (negs[:, :7] << torch.arange(7, device=x.device)).sum(1)
        idx_s = self.n_pair + 128 * k + s
        u = 2.0**-53 if cd == torch.float64 else 2.0**-24
        out, hard = certified_choice([top_p, top_s], [run_p, run_s], [idx_p, idx_s], 64 * u * 2 * a.sum(-1) + 2.0**-100)
        if hard.any():
            out[hard] = exact_argmax(x[hard], self._integer_codebook()).to(x.device)
        return out
