"""The densest-packing table: constructions, first shells (kissing numbers, 60° minimum angle,
bijections, exact search against brute force), full-lattice decoders (lattice membership,
optimality against the roots, brute force near the origin) and the normalized second moments of
Conway & Sloane's Table 2.3."""

import itertools
import math

import numpy as np
import pytest
import torch

from npq.lattices import golay, make_code
from npq.lattices.constructions import eisenstein_to_real, f4_mul, hexacode, kernel_basis, reed_muller_1_4
from npq.lattices.densest import (PUBLISHED_G, nearest_bw16, nearest_e6, nearest_e6_dual, nearest_e7, nearest_e7_dual,
                                  nearest_k12, nearest_leech, second_moment)
from npq.lattices.exact import exact_argmax
from npq.lattices.generic import Lattice
from npq.lattices.shells import A3Code, D5Code, E6Code, E7Code, K12Code, Lambda16Code, e7_basis, float64_argmax
from npq.quantize import make

KISSING = {"a3": 12, "d5": 40, "e6": 72, "e7": 126, "k12": 756, "lambda16": 4320}  # Conway & Sloane Table 1.2
INTEGER = (A3Code, D5Code, Lambda16Code)


# --- constructions -----------------------------------------------------------------------------
def test_hexacode_is_a_linear_6_3_4_code_over_f4():
    h = hexacode()
    words = {tuple(w) for w in h.tolist()}
    assert len(words) == 64
    weights = (h != 0).sum(1)
    assert sorted(set(weights.tolist())) == [0, 4, 6] and int((weights == 4).sum()) == 45
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = h[rng.integers(64)], h[rng.integers(64)]
        s = int(rng.integers(4))
        assert tuple((a ^ b).tolist()) in words and tuple(f4_mul(s, a).tolist()) in words


def test_reed_muller_weights():
    rm = reed_muller_1_4()
    assert len({tuple(w) for w in rm.tolist()}) == 32
    assert sorted(np.bincount(rm.sum(1), minlength=17)[[0, 8, 16]].tolist()) == [1, 1, 30]


def test_kernel_basis_spans_exactly_the_congruence_lattice():
    a = np.array([[1, 1, -1, -1, 0, 0], [1, 1, 0, 0, -1, -1]])
    b = kernel_basis(a, 3)
    assert abs(round(np.linalg.det(b))) == 9 and ((a @ b) % 3 == 0).all()


# --- shells ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(KISSING))
def test_shell_sizes_angles_and_bijection(name):
    code = make_code(name)
    cb = code.codebook(torch.float64)
    assert code.size == KISSING[name] == len(torch.unique(cb.round(decimals=9), dim=0))
    assert torch.allclose(cb.norm(dim=1), torch.ones(code.size, dtype=torch.float64), atol=1e-12)
    g = cb @ cb.T
    g.fill_diagonal_(-2)
    assert abs(float(g.max()) - 0.5) < 1e-12  # minimum angle exactly 60°, as for every root-like shell
    idx = torch.arange(code.size)
    assert torch.equal(code.vector_to_index(code.index_to_vector(idx, torch.float64)), idx)


@pytest.mark.parametrize("gen_fn,norm,count", [
    # E6 in the Eisenstein form: {(a, b) ∈ Z^6 : (a_i + b_i) mod 3 all equal}
    (lambda: eisenstein_to_real(kernel_basis(np.array([[1, 1, -1, -1, 0, 0], [1, 1, 0, 0, -1, -1]]), 3).T).T, 3, 72),
    # K12 = {x ∈ E^6 : x mod 2 ∈ hexacode} = Construction A of the binary image of the hexacode
    (lambda: eisenstein_to_real(kernel_basis(_hexacode_parity_check(), 2).T).T, 4, 756),
])
def test_kissing_numbers_by_independent_enumeration(gen_fn, norm, count):
    """Fincke-Pohst enumeration of the lattices from generator matrices (no shell tables)."""
    shells = Lattice(gen_fn()).shells(norm + 0.5)
    assert min(shells) == pytest.approx(norm) and len(shells[min(shells)]) == count


def _hexacode_parity_check() -> np.ndarray:
    """Binary parity-check matrix (6, 12) of the hexacode's image (symbol s -> bits s & 1, s >> 1)."""
    h = hexacode()
    bits = np.stack([h & 1, h >> 1], -1).reshape(64, 12)
    # the 6 x 12 generator in row echelon form mod 2, then its null space
    basis = []
    for w in bits:
        v = w.copy()
        for b in basis:
            if v[np.argmax(b)] and b[np.argmax(b)]:
                v = v ^ b
        if v.any():
            basis.append(v)
    g = np.array(basis[:6])
    null = [v for v in itertools.product(range(2), repeat=12) if not ((g @ np.array(v)) % 2).any()]
    return np.array(null[1:])  # every dual word: a redundant but complete set of checks


def _inputs(code, rng):
    d = code.dim
    cb = code.codebook(torch.float64)
    i, j = rng.integers(code.size, size=300), rng.integers(code.size, size=300)
    sparse = torch.zeros(300, d)
    for r in range(300):
        k = rng.choice(d, size=min(d, 3), replace=False)
        sparse[r, k] = torch.from_numpy(rng.choice([-1.0, 1.0], size=len(k))).float()
    return {
        "gaussian": torch.from_numpy(rng.standard_normal((2000, d))).float(),
        "integers": torch.from_numpy(rng.integers(-2, 3, size=(1000, d))).float(),
        "sparse": sparse,
        "midpoints": ((cb[i] + cb[j]) / 2).float(),
        "huge": torch.from_numpy(rng.standard_normal((200, d))).float() * 1e37,
        "subnormal": torch.from_numpy(rng.standard_normal((200, d))).float() * 1e-42,
    }


@pytest.mark.parametrize("cls", [A3Code, D5Code, E6Code, E7Code, K12Code, Lambda16Code])
def test_shell_search_is_exact(cls):
    """Against brute force with the lowest index on exact ties: exact integer arithmetic for the
    integer shells, float64 (ties within its rounding bound) for the irrational ones."""
    code = cls()
    rng = np.random.default_rng(code.size)
    for kind, x in _inputs(code, rng).items():
        got = code.nearest(x)[0]
        if cls in INTEGER:
            want = exact_argmax(x, code._integer_codebook())
        else:
            want = float64_argmax(x, code.codebook(torch.float64))
            if kind == "gaussian":  # no near-ties: the reference is the plain float64 argmax
                assert torch.equal(want, (x.double() @ code.codebook(torch.float64).T).argmax(1))
        assert torch.equal(got, want), (code.name, kind, int((got != want).sum()))
    zero = code.nearest(torch.zeros(2, code.dim))[0]
    assert zero.tolist() == [0, 0]  # all scores tie at 0: the lowest index


def test_e7_coordinates_are_an_isometry():
    b = e7_basis()
    assert np.allclose(b.T @ b, np.eye(7)) and np.allclose(b.sum(0), 0)


def test_new_quantizers_and_product_codes():
    for name, dim, k in (("a3-sq", 3, 12), ("d5-sq", 5, 40), ("e6-sq", 6, 72), ("e7-sq", 7, 126), ("k12-sq", 12, 756),
                         ("lambda16-sq", 16, 4320)):
        q = make(name)
        assert (q.dim, q.codebook_size) == (dim, k) and q.bits_per_token == pytest.approx(math.log2(k))
    q = make("product-sq", codes=["lambda16", "e8"])
    assert (q.dim, q.codebook_size) == (24, 4320 * 240) and q.bits_per_token == pytest.approx(math.log2(4320) + math.log2(240))
    assert make("product-sq", codes=["e8", "e8", "e8"]).bits_per_token == pytest.approx(3 * math.log2(240))
    z = torch.randn(64, 24, generator=torch.Generator().manual_seed(0))
    out = q.eval()(z)
    assert torch.allclose(out.z_q.norm(dim=-1), torch.ones(64), atol=1e-6)
    # round trip, and the product's nearest codeword is the best over the whole (blockwise) code
    assert torch.equal(q.code.vector_to_index(q.code.index_to_vector(out.indices, torch.float64)), out.indices)
    lam, e8 = make_code("lambda16"), make_code("e8")
    i1, i2 = lam.nearest(z[:, :16])[0], e8.nearest(z[:, 16:])[0]
    assert torch.equal(out.indices, i1 * 240 + i2)
    with pytest.raises(ValueError, match="non-empty list"):
        make("product-sq", codes="e8")


# --- full lattices ---------------------------------------------------------------------------------
def _roots_e6() -> torch.Tensor:
    return E6Code().codebook(torch.float64) * math.sqrt(3)


def _roots_e7_8d() -> torch.Tensor:
    return E7Code().codebook(torch.float64) * math.sqrt(2) @ torch.from_numpy(e7_basis()).T


@pytest.mark.parametrize("decode,roots,dim", [(nearest_e6, _roots_e6, 6), (nearest_e7, _roots_e7_8d, 8)])
def test_root_lattice_decoders_are_optimal(decode, roots, dim):
    """For root lattices the Voronoi-relevant vectors are the roots: a point no root moves closer
    is the nearest lattice point (an independent certificate of optimality)."""
    r = roots()
    x = torch.randn(3000, dim, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 3
    if dim == 8:
        x = x - x.mean(-1, keepdim=True)
    p = decode(x)
    d0 = ((x - p) ** 2).sum(-1)
    dn = ((x[:, None] - p[:, None] - r[None]) ** 2).sum(-1).min(1).values
    assert bool((d0 <= dn + 1e-9).all())
    assert torch.allclose(decode(p), p)  # lattice points are fixed points


def test_full_decoders_return_lattice_points_and_correct_small_errors():
    g = torch.Generator().manual_seed(2)
    # Λ16: x mod 2 ∈ RM(1,4), Σx ≡ 0 mod 4; Λ24: Golay construction (see npq.lattices.densest)
    x = torch.randn(500, 16, dtype=torch.float64, generator=g) * 4
    p = nearest_bw16(x).round().long().numpy()
    rm = {tuple(w) for w in reed_muller_1_4().tolist()}
    assert all(tuple((v % 2).tolist()) in rm and v.sum() % 4 == 0 for v in p)
    cw = {tuple(w) for w in golay.codewords().tolist()}
    a = np.array([-3] + [1] * 23)
    x = torch.randn(500, 24, dtype=torch.float64, generator=g) * 6
    for v in nearest_leech(x).round().long().numpy():
        y = v // 2 if (v % 2 == 0).all() else (v - a) // 2
        assert (v % 2 == 0).all() or ((v - a) % 2 == 0).all()
        assert tuple((y % 2).tolist()) in cw and y.sum() % 4 == 0
    # a lattice point plus noise well inside the packing radius decodes back to it
    for decode, shell, scale in ((nearest_k12, make_code("k12"), 2.0), (nearest_bw16, make_code("lambda16"), math.sqrt(8)),
                                 (nearest_leech, make_code("leech"), math.sqrt(32))):
        pts = shell.codebook(torch.float64)[:200] * scale * 3  # 3 x a minimal vector: a lattice point
        noise = torch.randn(pts.shape, dtype=torch.float64, generator=g)
        noise = noise / noise.norm(dim=-1, keepdim=True) * 0.45 * scale  # |noise| < packing radius scale / 2
        assert torch.allclose(decode(pts + noise), pts)


def test_dual_decoders_against_enumeration_near_the_origin():
    """E6* and E7* against a brute force over their points in a box (enumerated from the coset
    descriptions by an independent route: generator matrices)."""
    g = torch.Generator().manual_seed(3)
    for decode, dim, gen in ((nearest_e6_dual, 6, _e6_dual_generator()), (nearest_e7_dual, 8, _e7_dual_generator())):
        lat = Lattice(gen)
        pts = torch.from_numpy(lat.points(2))
        x = torch.rand(400, dim, dtype=torch.float64, generator=g) * 0.6 - 0.3
        if dim == 8:
            x = x - x.mean(-1, keepdim=True)
        want = pts[torch.cdist(x, pts).argmin(1)]
        got = decode(x)
        assert torch.allclose(((x - got) ** 2).sum(-1), ((x - want) ** 2).sum(-1), atol=1e-12)


def _e6_dual_generator() -> np.ndarray:
    # {(a, b) ∈ Z^6 : Σ (a_i + b_i) ≡ 0 mod 3}
    return eisenstein_to_real(kernel_basis(np.array([[1, 1, 1, 1, 1, 1]]), 3).T).T


def _e7_dual_generator() -> np.ndarray:
    a7 = np.zeros((8, 7))
    for i in range(7):
        a7[i, i], a7[i + 1, i] = 1.0, -1.0
    glue = np.array([0.25] * 6 + [-0.75] * 2)  # [2] generates E7*/A7 (order 4)
    return np.concatenate([a7[:, 1:], glue[:, None]], 1)


@pytest.mark.parametrize("name,samples", [("E6*", 20000), ("E7*", 20000), ("K12", 8000), ("Λ16", 8000), ("Λ24", 2000)])
def test_normalized_second_moments_match_conway_sloane(name, samples):
    g, se = second_moment(name, samples=samples, seed=11)
    assert abs(g - PUBLISHED_G[name]) < 3.5 * se, (g, se)


@pytest.mark.parametrize("name", ["a2", "e6", "e7", "k12"])
def test_tabulated_codes_reject_out_of_range_indices(name):
    """A negative index must not wrap around to the last codeword silently."""
    code = make_code(name)
    assert torch.equal(code.index_to_vector(torch.tensor([code.size - 1])), code.codebook()[-1:])
    for bad in ([-1], [0, code.size]):
        with pytest.raises(ValueError, match=r"must lie in \[0, %d\]" % (code.size - 1)):
            code.index_to_vector(torch.tensor(bad))


def test_e7_exact_by_its_voronoi_relevant_vectors():
    """E7 on values where float rounding bites (the mean of a row with one large coordinate,
    near-halves, near-ties between the cosets), checked exactly: the answer lies in E7 (A7 or
    A7 + [4], coordinate sum 0) and no root r (E7 is a root lattice: its roots are its Voronoi-
    relevant vectors) brings it closer, i.e. <x - p, r> <= |r|^2 / 2 = 1 in rationals. Tiny values
    next to halves included (x - g rounds there: the decoder never computes it)."""
    from fractions import Fraction

    roots = [tuple(Fraction(int(i == a) - int(i == b)) for i in range(8)) for a in range(8) for b in range(8) if a != b]
    roots += [tuple(Fraction(-1, 2) if i in m else Fraction(1, 2) for i in range(8)) for m in itertools.combinations(range(8), 4)]
    assert len(roots) == 126
    below_half = float(np.nextafter(0.5, 0.0))
    pool = [below_half, -below_half, 0.5, -0.25, 0.75, 1e-300, -5e-324, 0.0, 1.0, -2.0, 1e-17, 3.125, 2.0**37 + 0.5, 0.25 + 1e-17]
    g = torch.Generator().manual_seed(7)
    x = torch.tensor(pool, dtype=torch.float64)[torch.randint(0, len(pool), (60, 8), generator=g)]
    got = nearest_e7(x)
    for r in range(x.shape[0]):
        p = [Fraction(float(v)) for v in got[r]]
        d = [Fraction(float(v)) - pi for v, pi in zip(x[r], p)]
        assert sum(p) == 0 and (all(v.denominator == 1 for v in p) or all(v.denominator == 2 for v in p)), got[r]
        assert all(sum(a * b for a, b in zip(d, rt)) <= 1 for rt in roots), (x[r], got[r])


def test_bw16_exact_against_the_textbook_decoder_in_rationals():
    """Λ16 = ∪ c + 2D16 on values where the shift (x - c) / 2 rounds in float64 (tiny values,
    just below a half, odd integers): the same distance as the textbook decoder run in exact
    rational arithmetic (round (x - c) / 2 half up, repair the parity on the largest error, keep
    the nearest coset), and a point of Λ16 (x mod 2 in RM(1,4), sum = 0 mod 4)."""
    from fractions import Fraction

    rm = reed_muller_1_4()
    words = {tuple(int(v) for v in w) for w in rm}

    def textbook(xr):
        best = None
        for c in rm:
            u = [(v - int(ci)) / 2 for v, ci in zip(xr, c)]
            f = [math.floor(v + Fraction(1, 2)) for v in u]
            if sum(f) % 2:
                k = max(range(16), key=lambda i: (abs(u[i] - f[i]), -i))
                f[k] += 1 if u[k] >= f[k] else -1
            p = [int(ci) + 2 * fi for ci, fi in zip(c, f)]
            d = sum((v - pi) ** 2 for v, pi in zip(xr, p))
            best = d if best is None or d < best else best
        return best

    below_half = float(np.nextafter(0.5, 0.0))
    pool = [below_half, -below_half, 1e-300, -5e-324, 0.5, 1.0, -1.0, 3.0, 0.25, -0.75, 1e-16, 2.0**30 + 1]
    g = torch.Generator().manual_seed(16)
    x = torch.tensor(pool, dtype=torch.float64)[torch.randint(0, len(pool), (25, 16), generator=g)]
    near_ties = torch.tensor([1e-300, 0.0, -5e-324, 1.0, 2.0**-60], dtype=torch.float64)  # errors of 1/2 and 1/2 - tiny
    x = torch.cat([x, near_ties[torch.randint(0, 5, (25, 16), generator=g)]])
    got = nearest_bw16(x)
    for r in range(x.shape[0]):
        xr = [Fraction(float(v)) for v in x[r]]
        p = [int(v) for v in got[r].tolist()]
        assert tuple(v % 2 for v in p) in words and sum(p) % 4 == 0, got[r]
        assert sum((v - pi) ** 2 for v, pi in zip(xr, p)) == textbook(xr), (x[r], got[r])
