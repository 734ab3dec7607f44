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
