import math

import pytest
import torch

from npq.lattices import RandomCode
from npq.lattices.fibonacci import FibonacciCode, fibonacci_sphere, generalized_golden_ratio


def test_golden_spiral_d3_formula():
    n = 500
    p = fibonacci_sphere(n, 3, torch.float64)
    i = torch.arange(n, dtype=torch.float64)
    assert torch.allclose(p[:, 0], 1 - (2 * i + 1) / n)
    phi = (1 + math.sqrt(5)) / 2
    az = torch.atan2(p[:, 2], p[:, 1]) % (2 * math.pi)
    assert torch.allclose(az, (2 * math.pi * i / phi) % (2 * math.pi), atol=1e-9)


def test_generalized_golden_ratio():
    assert generalized_golden_ratio(1) == pytest.approx((1 + math.sqrt(5)) / 2)
    r = generalized_golden_ratio(3)
    assert r**4 == pytest.approx(r + 1)


def test_d3_min_distance_near_optimal():
    n = 1000
    p = fibonacci_sphere(n, 3, torch.float64)
    d = torch.cdist(p, p) + 10 * torch.eye(n, dtype=torch.float64)
    dmin = d.min().item()
    hex_bound = math.sqrt(8 * math.pi / (math.sqrt(3) * n))  # hexagonal packing density bound
    assert 0.75 * hex_bound < dmin <= hex_bound


@pytest.mark.parametrize("d", [4, 8, 24])
def test_higher_dimensions_are_uniform_in_measure(d):
    n = 20000
    p = fibonacci_sphere(n, d, torch.float64)
    assert torch.allclose(p.norm(dim=1), torch.ones(n, dtype=torch.float64))
    assert p.mean(0).abs().max() < 0.03
    cov = p.T @ p / n
    assert torch.allclose(cov, torch.eye(d, dtype=torch.float64) / d, atol=0.02)
    assert torch.unique(p, dim=0).shape[0] == n


def test_code_nearest_matches_bruteforce():
    code = FibonacciCode(777, 5)
    x = torch.randn(2000, 5)
    ref = (x.double() @ code.codebook(torch.float64).T).argmax(1)
    assert torch.equal(code.nearest(x.double())[0], ref)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_points"):
        fibonacci_sphere(0, 3)
    with pytest.raises(ValueError, match="dim"):
        fibonacci_sphere(10, 1)


@pytest.mark.parametrize("code", [FibonacciCode(300, 3), FibonacciCode(64, 2), RandomCode(500, 4, seed=1)], ids=str)
def test_tabulated_codes_exact_for_every_finite_input(code):
    """The certified search against the float64 reference on inputs where a plain float32
    argmax fails: float32 subnormals (their products underflow to 0: index 0 came back),
    huge values, exact midpoints of two codewords (ties), zero rows, fp16/bf16, in both dtypes."""
    from npq.lattices.exact import float64_argmax

    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, code.dim, generator=g)
    cb = code.codebook(torch.float64)
    i = torch.randint(0, code.size, (100,), generator=g)
    fams = {"subnormal32": (x * 1e-42).float(), "huge32": (x.clamp(-1, 1) * 3e38).float(), "huge64": x.double() * 1e300,
            "tiny64": x.double() * 1e-310, "midpoints": (cb[i] + cb[(i + 1) % code.size]) / 2, "zeros": torch.zeros(3, code.dim),
            "fp16": x.half(), "bf16": x.bfloat16()}
    for name, xf in fams.items():
        assert torch.equal(code.nearest(xf)[0], float64_argmax(xf.double(), cb)), name
