"""The README's usage example, mirrored (keep the two in sync)."""

import torch

from npq.quantize import LeechSQ, make


def test_readme_example():
    q = LeechSQ()
    assert q.dim == 24 and q.codebook_size == 196560 and round(q.bits_per_token, 2) == 17.58
    z = torch.randn(8, 16, 16, 24, requires_grad=True)
    out = q(z)
    out.z_q.sum().backward()
    assert z.grad is not None and z.grad.shape == z.shape
    tokens = q.encode(z)
    assert tokens.shape == (8, 16, 16) and tokens.dtype == torch.int64
    assert torch.equal(q.decode(tokens), out.z_q)

    feat = torch.randn(2, 24, 32, 32)
    grid = q.encode_image(feat)
    assert grid.shape == (2, 32, 32)

    bsq = make("bsq", dim=18, entropy={"weight": 0.1, "gamma": 1.0, "group_size": 9})
    fsq = make("fsq", bits=14)
    assert bsq.codebook_size == 2**18 and fsq.levels == [8, 8, 8, 6, 5]
    assert float(bsq(torch.randn(32, 18)).loss) != 0.0


def test_readme_mentions_the_commands():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci
