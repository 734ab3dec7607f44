"""Entropy regularization against brute force over the explicit codebook."""

import itertools
import math

import pytest
import torch

from npq.quantize import BSQ, LFQ, EntropyLoss
from npq.quantize.entropy import binary_entropy_terms, entropy, explicit_entropy_terms


def _codebook(d, s, dtype=torch.float64):
    return torch.tensor(list(itertools.product([-s, s], repeat=d)), dtype=dtype)


def _brute(z, codebook, tau):
    d2 = ((z[:, None, :] - codebook[None]) ** 2).sum(-1)
    q = torch.softmax(-tau * d2, -1)
    return entropy(q).mean(), entropy(q.mean(0))


@pytest.mark.parametrize("d,scale,tau", [(1, 1.0, 1.0), (4, 1.0, 0.7), (8, 0.35, 3.0)])
def test_binary_entropy_exact_matches_bruteforce(d, scale, tau):
    z = torch.randn(64, d, dtype=torch.float64)
    ps, cb = binary_entropy_terms(z, scale, tau)  # exact: group_size defaults to d for d <= 16
    ps_ref, cb_ref = _brute(z, _codebook(d, scale), tau)
    assert torch.allclose(ps, ps_ref, atol=1e-10)
    assert torch.allclose(cb, cb_ref, atol=1e-10)
    ps2, cb2 = explicit_entropy_terms(z, _codebook(d, scale), tau)
    assert torch.allclose(ps2, ps_ref, atol=1e-10) and torch.allclose(cb2, cb_ref, atol=1e-10)


def test_grouped_codebook_entropy_is_sum_of_group_entropies_and_an_upper_bound():
    d, g = 8, 3
    z = torch.randn(128, d, dtype=torch.float64) * 0.5
    _, cb_grouped = binary_entropy_terms(z, 1.0, 1.0, group_size=g)
    parts = [_brute(z[:, s : s + g], _codebook(z[:, s : s + g].shape[1], 1.0), 1.0)[1] for s in range(0, d, g)]
    assert torch.allclose(cb_grouped, sum(parts), atol=1e-10)
    _, cb_exact = binary_entropy_terms(z, 1.0, 1.0)
    assert cb_grouped >= cb_exact - 1e-12  # subadditivity


@pytest.mark.parametrize("group_size", [None, 2])
def test_entropy_gradcheck(group_size):
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)

    def f(z):
        ps, cb = binary_entropy_terms(z, 0.6, 1.3, group_size)
        return ps - 1.5 * cb

    assert torch.autograd.gradcheck(f, (z,))


def test_explicit_entropy_gradcheck():
    cb = torch.nn.functional.normalize(torch.randn(7, 3, dtype=torch.float64), dim=-1)
    z = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: sum(explicit_entropy_terms(z, cb, 2.0)), (z,))


def test_quantizer_loss_equals_weighted_terms():
    q = BSQ(6, entropy=EntropyLoss(weight=0.3, gamma=2.0, tau=4.0))
    z = torch.randn(100, 6)
    out = q(z)
    u = torch.nn.functional.normalize(z.double(), dim=-1)
    ps, cb = _brute(u, _codebook(6, 1 / math.sqrt(6)), 4.0)
    assert out.loss.item() == pytest.approx(0.3 * (ps - 2.0 * cb).item(), rel=1e-5)
    assert out.stats["codebook_entropy_bits"].item() == pytest.approx(cb.item() / math.log(2), rel=1e-5)


def test_entropy_loss_spreads_codes():
    """A few steps of minimizing the diversity term raise codebook usage of collapsed latents."""
    torch.manual_seed(0)
    q = LFQ(4, entropy=EntropyLoss(weight=1.0, gamma=2.0, tau=1.0))
    z = (torch.randn(256, 4) * 0.3 + 1.0).requires_grad_(True)  # all in one orthant
    opt = torch.optim.SGD([z], lr=1.0)
    start = q(z).stats["usage"].item()
    for _ in range(200):
        opt.zero_grad()
        q(z).loss.backward()
        opt.step()
    assert start <= 2 / 16 and q(z).stats["usage"].item() >= 0.75
