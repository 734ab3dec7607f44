"""LFQ, BSQ, FSQ: bijections over whole codebooks and cross-checks with vector-quantize-pytorch."""

import math

import pytest
import torch

from npq.quantize import BSQ, FSQ, FSQ_PRESETS, LFQ


def test_fsq_bijection_over_every_code():
    q = FSQ([3, 4, 5])
    idx = torch.arange(q.codebook_size)
    codes = q.decode(idx)
    # every code is distinct, on the documented grid, and encodes back to its index
    assert torch.unique(codes, dim=0).shape[0] == 60
    # a code is a fixed point of quantization: pre-image of the bound gives the code back
    z = torch.atanh((codes * q._half_width + torch.where(q._levels % 2 == 0, 0.5, 0.0)) / ((q._levels - 1) * (1 + q.eps) / 2)) - torch.atanh(
        torch.where(q._levels % 2 == 0, 0.5, 0.0) / ((q._levels - 1) * (1 + q.eps) / 2)
    )
    assert torch.equal(q.encode(z), idx)
    # documented values: coordinate i takes (k - L//2) / (L//2), k in [0, L)
    for i, L in enumerate(q.levels):
        h = L // 2
        assert sorted(set(codes[:, i].tolist())) == [(k - h) / h for k in range(L)]
    # mixed radix with coordinate 0 least significant
    assert torch.equal(q.decode(torch.tensor([1]))[0], torch.tensor([0.0, -1.0, -1.0]))


# the FSQ paper's Table 1 (Mentzer et al., ICLR 2024), typed here independently of npq's table
PAPER_LEVELS = {8: [8, 6, 5], 10: [8, 5, 5, 5], 12: [7, 5, 5, 5, 5], 14: [8, 8, 8, 6, 5], 16: [8, 8, 8, 5, 5, 5]}


@pytest.mark.parametrize("bits", sorted(PAPER_LEVELS))
def test_fsq_presets(bits):
    q = FSQ.preset(bits)
    assert q.levels == PAPER_LEVELS[bits] and sorted(FSQ_PRESETS) == sorted(PAPER_LEVELS)
    assert q.codebook_size == math.prod(PAPER_LEVELS[bits]) and abs(q.bits_per_token - bits) < 0.25


@pytest.mark.parametrize("cls", [LFQ, BSQ])
@pytest.mark.parametrize("d", [1, 4, 10])
def test_binary_bijection_over_every_code(cls, d):
    q = cls(d)
    idx = torch.arange(2**d)
    codes = q.decode(idx)
    assert torch.unique(codes, dim=0).shape[0] == 2**d
    assert torch.equal(q.encode(codes), idx)
    s = 1.0 if cls is LFQ else 1 / math.sqrt(d)
    assert torch.allclose(codes.abs(), torch.full_like(codes, s))
    # coordinate 0 is the most significant bit, positive = 1
    expect = torch.tensor([[1.0 if (k >> (d - 1 - j)) & 1 else -1.0 for j in range(d)] for k in range(2**d)]) * s
    assert torch.equal(codes, expect)


def test_lfq_zero_maps_to_minus_scale():
    q = LFQ(3, scale=2.0)
    assert torch.equal(q(torch.zeros(1, 3)).z_q, torch.full((1, 3), -2.0))


# --- cross-checks with the peer library (a test dependency: its absence is an error, not a skip) ---
import vector_quantize_pytorch as vqp  # noqa: E402


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [7, 5, 5, 5, 5], [8, 6, 5], [4, 4, 3]])
def test_fsq_matches_vector_quantize_pytorch(levels):
    peer = vqp.FSQ(levels=levels).eval()
    ours = FSQ(levels)
    z = torch.randn(4, 100, len(levels)) * 2
    with torch.no_grad():
        peer_codes, peer_idx = peer(z)
    out = ours(z)
    assert torch.allclose(out.z_q, peer_codes, atol=1e-6)
    # same index convention (mixed radix, coordinate 0 least significant)
    assert torch.equal(out.indices, peer_idx.long())


@pytest.mark.parametrize("spherical", [False, True])
def test_lfq_bsq_match_vector_quantize_pytorch(spherical):
    d = 10
    peer = vqp.LFQ(dim=d, codebook_size=2**d, spherical=spherical, entropy_loss_weight=0.0).eval()
    ours = BSQ(d) if spherical else LFQ(d)
    z = torch.randn(2, 50, d)
    with torch.no_grad():
        peer_out = peer(z)
    peer_codes, peer_idx = peer_out[0], peer_out[1]
    out = ours(z)
    assert torch.allclose(out.z_q, peer_codes, atol=1e-6)
    # same index convention: coordinate 0 is the most significant bit, positive = 1
    assert torch.equal(out.indices, peer_idx.long())
