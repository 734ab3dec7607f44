"""Root lattices: nearest-point algorithms vs exhaustive search, second moments vs Conway & Sloane,
first shells vs shell enumeration of the generator matrices."""

import itertools
import math

import numpy as np
import pytest
import torch

from npq.lattices import A2Code, D4Code, E8Code, Lattice, root
from npq.lattices.generic import generators, normalized_second_moment


def _integer_points(n, lo, hi):
    return np.array(list(itertools.product(range(lo, hi + 1), repeat=n)), dtype=np.float64)


def _closest(x, pts):
    d2 = (x**2).sum(1)[:, None] - 2 * x @ pts.T + (pts**2).sum(1)[None]
    return pts[d2.argmin(1)], np.sort(d2, 1)[:, :2]


def _check(decoder, x, pts, scale=1.0):
    ref, d2 = _closest(x / scale, pts)
    got = decoder(torch.from_numpy(x), scale).numpy()
    clear = d2[:, 1] - d2[:, 0] > 1e-9  # ignore exact ties between two lattice points
    assert np.allclose(got[clear] / scale, ref[clear])
    # on ties the decoder still returns a closest point
    dist_got = ((x / scale - got / scale) ** 2).sum(1)
    assert np.allclose(dist_got, d2[:, 0])


def test_zn():
    x = np.random.default_rng(0).uniform(-2, 2, (500, 3))
    _check(root.nearest_zn, x, _integer_points(3, -3, 3))
    _check(root.nearest_zn, x, _integer_points(3, -3, 3) * 0.5 / 0.5, scale=1.0)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_dn(n):
    pts = _integer_points(n, -3, 3)
    pts = pts[pts.sum(1) % 2 == 0]
    x = np.random.default_rng(n).uniform(-2, 2, (600, n))
    _check(root.nearest_dn, x, pts)
    _check(root.nearest_dn, x * 0.7, pts, scale=0.7)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_dn_dual(n):
    z = _integer_points(n, -3, 3)
    pts = np.concatenate([z, z + 0.5])
    x = np.random.default_rng(n).uniform(-2, 2, (600, n))
    _check(root.nearest_dn_dual, x, pts)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_an(n):
    z = _integer_points(n + 1, -3, 3)
    pts = z[z.sum(1) == 0]
    x = np.random.default_rng(n).uniform(-2, 2, (600, n + 1))
    x = x - x.mean(1, keepdims=True)
    _check(root.nearest_an, x, pts)
    # off-plane input: same answer as its projection
    shifted = torch.from_numpy(x + 0.3)
    assert torch.allclose(root.nearest_an(shifted), root.nearest_an(torch.from_numpy(x)))


def test_e8():
    z = _integer_points(8, -2, 2)
    d8 = z[z.sum(1) % 2 == 0]
    h = _integer_points(8, -2, 1) + 0.5
    h = h[(h - 0.5).sum(1) % 2 == 0]
    pts = np.concatenate([d8, h])
    x = np.random.default_rng(8).uniform(-1, 1, (150, 8))
    _check(root.nearest_e8, x, pts)


@pytest.mark.parametrize(
    "name,decoder,published",
    [
        ("Z1", root.nearest_zn, 0.083333),
        ("A2", root.nearest_an, 0.080188),
        ("D4", root.nearest_dn, 0.076603),
        ("E8", root.nearest_e8, 0.071682),
    ],
)
def test_normalized_second_moment(name, decoder, published):
    g, se = normalized_second_moment(decoder, generators()[name], samples=200_000, seed=1)
    assert abs(g - published) < 0.01 * published
    assert abs(g - published) < 5 * se + 1e-4


@pytest.mark.parametrize("code,gen,norm2,size", [(D4Code(), "D4", 2.0, 24), (E8Code(), "E8", 2.0, 240)])
def test_shells_match_generator_enumeration(code, gen, norm2, size):
    shells = Lattice(generators()[gen]).shells(norm2)
    first = shells[min(shells)]
    assert min(shells) == pytest.approx(norm2) and len(first) == size
    cb = code.codebook(torch.float64).numpy() * math.sqrt(norm2)
    assert {tuple(np.round(r * 2).astype(int)) for r in cb} == {tuple(np.round(r * 2).astype(int)) for r in first}
    assert torch.equal(code.vector_to_index(code.codebook(torch.float64)), torch.arange(size))


@pytest.mark.parametrize("code", [A2Code(), D4Code(), E8Code()], ids=["A2", "D4", "E8"])
def test_shell_geometry_and_exact_decoding(code):
    cb = code.codebook(torch.float64)
    assert cb.shape == (code.size, code.dim)
    assert torch.allclose(cb.norm(dim=1), torch.ones(code.size, dtype=torch.float64))
    g = cb @ cb.T - 2 * torch.eye(code.size, dtype=torch.float64)
    assert g.max().item() == pytest.approx(0.5)  # minimum angle 60 degrees
    x = torch.cat([torch.randn(3000, code.dim), torch.randint(-2, 3, (1000, code.dim)).float()])
    s = x.double() @ cb.T
    best = s.max(1, keepdim=True).values
    ref = (s >= best - 1e-12).float().argmax(1)  # lowest index among ties
    assert torch.equal(code.nearest(x)[0], ref)


def test_a2_is_the_seed_hexagon():
    cb = A2Code().codebook(torch.float64)
    ang = torch.rad2deg(torch.atan2(cb[:, 1], cb[:, 0])) % 360
    assert torch.allclose(ang, torch.tensor([30.0, 90, 150, 210, 270, 330], dtype=torch.float64))


def test_generic_bruteforce_and_errors():
    lat = Lattice(generators()["D4"])
    assert lat.volume == pytest.approx(2.0)
    x = np.random.default_rng(0).uniform(-1, 1, (50, 4))
    ref = lat.closest_bruteforce(x, 3)
    assert np.allclose(((x - ref) ** 2).sum(1), ((x - root.nearest_dn(torch.from_numpy(x)).numpy()) ** 2).sum(1))
    with pytest.raises(ValueError, match="linearly dependent"):
        Lattice([[1, 2], [2, 4]])
    with pytest.raises(ValueError, match="scale must be"):
        root.nearest_zn(torch.randn(3), scale=0)
    with pytest.raises(ValueError, match="non-finite"):
        root.nearest_dn(torch.tensor([float("nan"), 1.0]))


@pytest.mark.parametrize("code", [A2Code(), D4Code(), E8Code()], ids=["A2", "D4", "E8"])
def test_shells_exact_at_extreme_scales(code):
    x = torch.cat([torch.randn(300, code.dim), torch.randint(-2, 3, (100, code.dim)).float()]).double()
    x = x / x.abs().amax(-1, keepdim=True).clamp_min(1)
    ref = code.nearest(x)[0]
    for k in (-1000, -500, 500, 1023):  # float64 powers of two (values stay normal): answers cannot change
        assert torch.equal(code.nearest(x * 2.0**k)[0], ref)
    for k in (-145, -130, 100, 127):  # float32, subnormals included
        xs = (x * 2.0**k).float()
        assert torch.equal(code.nearest(xs)[0], code.nearest(xs.double())[0])


def _extreme_rows(n: int, rows: int, dtype: torch.dtype) -> torch.Tensor:
    """Rows mixing values where float rounding bites: just below a half, odd integers at and
    beyond the last exactly spaced integers, huge and subnormal values, halves, plain values."""
    big = 2.0 / torch.finfo(dtype).eps  # 2^53 (float64), 2^24 (float32)
    tiny = torch.finfo(dtype).tiny
    below_half = float(torch.nextafter(torch.tensor(0.5, dtype=dtype), torch.tensor(0.0, dtype=dtype)))
    pool = [below_half, -below_half, 0.5, -0.5, 2.5, -1.5, big / 2 + 1, -(big / 2 + 1), big, big * 8, 1e30,
            float(torch.finfo(dtype).max) / 4, tiny, tiny / 8, 0.0, 1.0, 0.3, -0.7, 3.0]
    g = torch.Generator().manual_seed(n)
    pick = torch.randint(0, len(pool), (rows, n), generator=g)
    return torch.tensor(pool, dtype=dtype)[pick]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_zn_dn_exact_for_every_finite_input(dtype):
    """Z^n and D_n at extreme finite values, against exact rational arithmetic: each answer is a
    lattice point (integers; even sum for D_n, by Python integers) at the exact minimum distance
    over every candidate of floor/ceil per coordinate."""
    from fractions import Fraction

    n = 4
    x = _extreme_rows(n, 60, dtype)
    zn, dn = root.nearest_zn(x), root.nearest_dn(x)
    for r in range(x.shape[0]):
        fr = [Fraction(float(v)) for v in x[r]]
        assert [int(v) for v in zn[r].tolist()] == [math.floor(v + Fraction(1, 2)) for v in fr], x[r]
        pt = [int(v) for v in dn[r].tolist()]
        assert all(float(v) == int(v) for v in dn[r].tolist()) and sum(pt) % 2 == 0, (x[r], dn[r])
        cands = [c for c in itertools.product(*[(math.floor(v), math.floor(v) + 1) for v in fr]) if sum(c) % 2 == 0]
        best = min(sum((v - c) ** 2 for v, c in zip(fr, cand)) for cand in cands)
        assert sum((v - p) ** 2 for v, p in zip(fr, pt)) == best, (x[r], dn[r])


def _nearest_halves(v):
    """The two half-integers nearest to the rational v."""
    from fractions import Fraction

    h = math.floor(v) + Fraction(1, 2)
    return (h, h - 1) if v - math.floor(v) < Fraction(1, 2) else (h, h + 1)


@pytest.mark.parametrize("name", ["e8", "dn_dual"])
def test_half_integer_lattices_exact_up_to_their_bound(name):
    """E8 and D_n* on values where float rounding bites (just below a half, tiny, subnormal, near
    2^40, exact ties between cosets), against exact rational enumeration of every candidate: the
    answer lies in the lattice at the exact minimum distance, and on exact ties between the
    integer and the half-integer coset the integer point wins. Beyond 2^40: a clear error."""
    from fractions import Fraction

    n = 8 if name == "e8" else 4
    fn = root.nearest_e8 if name == "e8" else root.nearest_dn_dual
    below_half = float(np.nextafter(0.5, 0.0))
    pool = [below_half, -below_half, 0.5, -0.5, 0.25, 1e-300, 5e-324, 0.0, 1.0, -2.0, 0.75, 2.0**39 + 0.5, -(2.0**40), 1e-17, 0.5 + 1e-16]
    g = torch.Generator().manual_seed(n)
    x = torch.tensor(pool, dtype=torch.float64)[torch.randint(0, len(pool), (80, n), generator=g)]
    x = torch.cat([x, torch.full((1, n), 0.25), torch.full((1, n), 0.5)])  # exact ties between the cosets
    got = fn(x)
    for r in range(x.shape[0]):
        fr = [Fraction(float(v)) for v in x[r]]
        ints = [c for c in itertools.product(*[(math.floor(v), math.floor(v) + 1) for v in fr]) if name != "e8" or sum(c) % 2 == 0]
        halves = [c for c in itertools.product(*[_nearest_halves(v) for v in fr])
                  if name != "e8" or sum(h - Fraction(1, 2) for h in c) % 2 == 0]
        dist = lambda c: sum((v - ci) ** 2 for v, ci in zip(fr, c))  # noqa: E731
        d_int, d_half = min(map(dist, ints)), min(map(dist, halves))
        p = [Fraction(float(v)) for v in got[r]]
        assert dist(p) == min(d_int, d_half), (x[r], got[r])
        if d_int <= d_half:
            assert all(v.denominator == 1 for v in p) and (name != "e8" or sum(p) % 2 == 0), (x[r], got[r])
        else:
            assert all(v.denominator == 2 for v in p) and (name != "e8" or sum(v - Fraction(1, 2) for v in p) % 2 == 0)
    with pytest.raises(ValueError, match=r"must be <= 2\^40 .* float64"):
        fn(torch.full((1, n), 2.0**41, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"must be <= 2\^22 .* float32"):
        fn(torch.full((1, n), 2.0**23))


def test_an_exact_against_enumeration():
    """A_n without projection: the answer has sum 0 and the exact minimum distance over every
    integer vector of sum 0 within one of floor(x) + the even share (rationals), on values where
    the mean and the fractional parts round (tiny negatives, just below a half, near 2^40)."""
    from fractions import Fraction

    below_half = float(np.nextafter(0.5, 0.0))
    pool = [below_half, -1e-300, -2e-300, 5e-324, -5e-324, 0.5, -0.5, 1.0, 0.3, -0.7, 2.0**39 + 0.5, -(2.0**39), 7.25, 0.0]
    g = torch.Generator().manual_seed(5)
    for n1 in (2, 3, 5):
        x = torch.tensor(pool, dtype=torch.float64)[torch.randint(0, len(pool), (60, n1), generator=g)]
        got = root.nearest_an(x)
        for r in range(x.shape[0]):
            fr = [Fraction(float(v)) for v in x[r]]
            q = -sum(math.floor(v) for v in fr) // n1
            base = [math.floor(v) + q for v in fr]
            cands = [tuple(b + d for b, d in zip(base, ds)) for ds in itertools.product((-1, 0, 1, 2), repeat=n1)
                     if sum(b + d for b, d in zip(base, ds)) == 0]
            dist = lambda c: sum((v - ci) ** 2 for v, ci in zip(fr, c))  # noqa: E731
            p = [int(v) for v in got[r].tolist()]
            assert sum(p) == 0 and dist(p) == min(map(dist, cands)), (x[r], got[r])
