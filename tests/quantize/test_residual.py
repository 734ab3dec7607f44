"""Residual quantization: K stages, bits add up, any prefix decodes, dropout, gains."""

import pytest
import torch

from npq.quantize import ResidualQuantizer, make


@pytest.mark.parametrize("name,kw", [("leech", {}), ("e8-sq", {}), ("fsq", {"levels": [5, 5, 5]}), ("vq", {"dim": 3, "codebook_size": 64})])
def test_protocol_and_exact_round_trip(name, kw):
    q = make("residual", quantizer=name, stages=3, quantizer_kwargs=kw).eval()
    z = torch.randn(4, 5, q.dim)
    out = q(z)
    assert out.indices.shape == (4, 5, 3) and out.z_q.shape == z.shape
    assert torch.equal(q.encode(z), out.indices)
    assert torch.equal(q.decode(out.indices), out.z_q)  # decode(encode(z)) == z_q, bit for bit
    assert q.bits_per_token == pytest.approx(3 * q.stages[0].bits_per_token)


def test_stages_quantize_the_residual_and_more_stages_err_less():
    torch.manual_seed(0)
    q = ResidualQuantizer("leech", stages=3).train()
    z = torch.nn.functional.normalize(torch.randn(4096, 24), dim=-1)
    q(z)  # initializes the gains from this batch
    q.eval()
    idx = q.encode(z)
    errs = [(q.decode(idx[:, :m]) - z).pow(2).sum(-1).mean().item() for m in (1, 2, 3)]
    assert errs[0] > 2 * errs[1] > 4 * errs[2]  # each stage removes most of what is left
    # stage 2 is Λ24-SQ of the residual: its index is the nearest codeword to z - g_1 q_1
    r = z - q.gain[0] * q.stages[0].decode(idx[:, 0])
    assert torch.equal(idx[:, 1], q.stages[1].encode(r))


def test_quantizer_dropout_keeps_a_prefix_and_gains_learn():
    torch.manual_seed(0)
    q = ResidualQuantizer("e8-sq", stages=4, dropout=1.0, normalize=False).train()
    z = torch.randn(2000, 8, requires_grad=True)
    out = q(z)
    assert 1 <= out.stats["mean_stages"].item() < 4
    # every sample's output is the sum of a prefix of its stages
    full = q.decode(out.indices)
    assert not torch.equal(out.z_q.detach(), full)
    prefixes = torch.stack([q.decode(out.indices[:, :m]) for m in range(1, 5)])
    assert ((prefixes == out.z_q.detach()).all(-1)).any(0).all()
    (out.z_q - z.detach()).pow(2).sum().backward()
    assert q.gain.grad is not None and q.gain.grad.abs().sum() > 0 and torch.allclose(z.grad, 2 * (out.z_q - z).detach())


def test_spherical_stages_quantize_the_direction():
    """The default for spherical stages: z and 100 z give the same tokens and the same value, and
    the gradient reaches z through the normalization (so it is orthogonal to z)."""
    torch.manual_seed(0)
    q = ResidualQuantizer("leech", stages=3)
    assert q.normalize and not ResidualQuantizer("fsq", stages=2, quantizer_kwargs={"levels": [5, 5, 5]}).normalize
    z = torch.randn(64, 24)
    q.train()(z)
    q.eval()
    assert torch.equal(q.encode(z), q.encode(100 * z))
    zz = z.clone().requires_grad_(True)
    out = q(zz)
    assert torch.equal(out.z_q.detach(), q(100 * z).z_q) and torch.equal(out.z_q.detach(), q.decode(out.indices))
    out.z_q.pow(2).sum().backward()
    assert (zz.grad * z).sum(-1).abs().max() < 1e-4 * zz.grad.norm(dim=-1).max()


def test_bad_arguments():
    with pytest.raises(ValueError, match="stages"):
        ResidualQuantizer("leech", stages=0)
    with pytest.raises(ValueError, match="dropout"):
        ResidualQuantizer("leech", dropout=1.5)
    with pytest.raises(ValueError, match="normalize"):
        ResidualQuantizer("leech", normalize="yes")
    q = ResidualQuantizer("e8-sq", stages=2)
    with pytest.raises(ValueError, match="1 <= m <= 2"):
        q.decode(torch.zeros(3, 3, dtype=torch.long))


def test_a_tokenizer_trains_and_decodes_any_prefix():
    from npq.models import build_tokenizer

    m = build_tokenizer({"arch": "conv", "conv": {"channels": 8, "mult": [1, 2], "blocks": 1, "width": 16},
                         "quantizer": {"name": "residual", "quantizer": "leech", "stages": 2, "dropout": 0.5}}, 32)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = m(x)
    out.recon.abs().mean().backward()
    assert out.indices.shape == (2, 8, 8, 2) and m.quant_in.weight.grad is not None
    m.eval()
    tokens = m.encode(x)
    assert torch.equal(m.decode(tokens), m(x).recon)
    assert m.decode(tokens[..., :1]).shape == x.shape  # the first stage alone: the lower rate


@pytest.mark.parametrize("name, kw", [("vq", {"dim": 8, "codebook_size": 16, "commitment_weight": 0.25}),
                                      ("bsq", {"dim": 8, "entropy": 0.1, "commitment_weight": 0.25}),
                                      ("lfq", {"dim": 8, "entropy": 0.1})])
def test_stage_losses_reach_the_encoder(name, kw):
    """Every stage's own loss (commitment, entropy) has a gradient w.r.t. the residual's input z,
    as the same quantizer's loss has when used alone (stages used to see z.detach())."""
    torch.manual_seed(0)
    q = ResidualQuantizer(name, stages=2, quantizer_kwargs=kw, gains="fixed").train()
    z = torch.randn(64, 8, requires_grad=True)
    out = q(z)
    assert out.loss.requires_grad
    (g,) = torch.autograd.grad(out.loss, z)
    assert g.abs().sum() > 0
    # stage 2's loss alone also reaches z (through r_1 = z - g_1 sg(q_1))
    r1 = z - q.gain[0].detach() * q.stages[0].decode(out.indices[..., 0]).detach()
    (g2,) = torch.autograd.grad(q.stages[1](r1).loss, z)
    assert g2.abs().sum() > 0


def test_codebook_and_image_helpers_of_a_residual_code():
    """codebook() lists every combination (2 x E8: 57,600) in mixed radix; decode_image inverts
    encode_image (it refused the (b, h, w, K) grid); two Λ24 stages are refused with a clear error."""
    import numpy as np

    q = ResidualQuantizer("e8-sq", stages=2).eval()
    q.gain.data = torch.tensor([1.0, 0.3])
    c = q.codebook()
    assert c.shape == (240 * 240, 8)
    for i in (0, 1, 239, 240, 12345, 57599):
        a, b = np.unravel_index(i, (240, 240))
        assert torch.equal(c[i], q.decode(torch.tensor([int(a), int(b)])))
    x = torch.randn(2, 8, 3, 4)
    grid = q.encode_image(x)
    assert grid.shape == (2, 3, 4, 2)
    assert torch.equal(q.decode_image(grid), q.forward_image(x).z_q)
    with pytest.raises(ValueError, match="too many to list"):
        ResidualQuantizer("leech", stages=2).codebook()
    with pytest.raises(ValueError, match=r"shape \(b, h, w, 2\)"):
        q.decode_image(grid[..., 0])
