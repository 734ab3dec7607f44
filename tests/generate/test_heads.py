"""Output-head losses of the generator: the chunked cross-entropy equals the full one (values
and gradients) while never forming more than ``chunk`` rows of logits, each once; the factorized loss is
the mean of per-label cross-entropies."""

import torch
import torch.nn.functional as F

from npq.generate import chunked_cross_entropy, factorized_cross_entropy


def test_chunked_cross_entropy_equals_the_full_one_and_bounds_the_logits(monkeypatch):
    g = torch.Generator().manual_seed(0)
    h = torch.randn(37, 16, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5000, 16, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5000, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randint(0, 5000, (37,), generator=g)
    full = F.cross_entropy(h @ w.T + b, t)
    gf = torch.autograd.grad(full, (h, w, b))
    rows = []
    real = torch.addmm

    def counting(bias, x, weight, **kw):  # the logits of each chunk
        rows.append(x.shape[0])
        return real(bias, x, weight, **kw)

    monkeypatch.setattr(torch, "addmm", counting)
    ch = chunked_cross_entropy(h, w, t, b, chunk=8)
    gc = torch.autograd.grad(ch, (h, w, b))
    assert torch.allclose(ch.double(), full, rtol=1e-6)
    for a, c in zip(gf, gc):
        assert torch.allclose(a, c, rtol=1e-6, atol=1e-9)
    assert max(rows) <= 8 and sum(rows) == 37  # chunks of 8 rows, each formed once


def test_factorized_cross_entropy_is_the_mean_over_labels():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(10, 24, 9, generator=g)
    labels = torch.randint(0, 9, (10, 24), generator=g)
    want = torch.stack([F.cross_entropy(logits[:, k], labels[:, k]) for k in range(24)]).mean()
    assert torch.allclose(factorized_cross_entropy(logits, labels), want)
    sizes = [8, 5, 5, 5]
    lg = [torch.randn(10, s, generator=g) for s in sizes]
    lab = torch.stack([torch.randint(0, s, (10,), generator=g) for s in sizes], 1)
    assert torch.allclose(factorized_cross_entropy(lg, lab), torch.stack([F.cross_entropy(x, lab[:, k]) for k, x in enumerate(lg)]).mean())
