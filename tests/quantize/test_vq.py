"""Learnable VQ, its remedies and gradient estimators."""

import math
import os
import tempfile

import pytest
import torch
import torch.nn.functional as F
import torch.multiprocessing as mp

from npq.lattices import leech
from npq.quantize import VectorQuantizer
from npq.quantize.estimators import gumbel_softmax_codes, index_backprop, rotation_trick
from npq.quantize.vq import nearest_code


# --- estimators ------------------------------------------------------------------------------
def test_rotation_trick_gradient_equals_closed_form_jacobian():
    torch.manual_seed(0)
    z = torch.randn(16, 7, dtype=torch.float64, requires_grad=True)
    q = torch.randn(16, 7, dtype=torch.float64)
    g = torch.randn(16, 7, dtype=torch.float64)
    out = rotation_trick(z, q)
    assert torch.equal(out, q)  # forward value is exactly the codeword
    (out * g).sum().backward()
    for i in range(16):
        zi, qi = z[i].detach(), q[i]
        zu, qu = zi / zi.norm(), qi / qi.norm()
        r = (zu + qu) / (zu + qu).norm()
        R = torch.eye(7, dtype=torch.float64) - 2 * torch.outer(r, r) + 2 * torch.outer(qu, zu)
        assert torch.allclose(R @ zu, qu)  # R rotates z/|z| onto q/|q|
        assert torch.allclose(R.T @ R, torch.eye(7, dtype=torch.float64))  # and is orthogonal
        jac = qi.norm() / zi.norm() * R
        assert torch.allclose(z.grad[i], jac.T @ g[i], atol=1e-12)


def test_gumbel_softmax_tends_to_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(200, 10)
    codebook = torch.randn(10, 4)
    for tau, bound in ((1.0, None), (0.05, 0.9), (1e-3, 0.999)):
        soft, idx = gumbel_softmax_codes(logits, codebook, tau, hard=False, generator=torch.Generator().manual_seed(1))
        err = (soft - codebook[idx]).norm(dim=-1).mean()
        if bound:
            assert err < (1 - bound) * codebook.norm(dim=-1).max()
    hard, idx = gumbel_softmax_codes(logits, codebook, 1.0, hard=True)
    assert torch.equal(hard, codebook[idx])


def test_index_backprop_gradients_are_ibq_s():
    """IBQ (Shi et al.) defines z_q = (onehot - sg(p) + p) @ C, p = softmax(z C^T): the codebook
    gets the one-hot's direct gradient plus the softmax path; the input only the softmax path.
    Reference computed literally from that formula by autograd (the earlier
    ``straight_through(p @ C, C[idx])`` gave C the gradient p^T g instead of onehot^T g)."""
    torch.manual_seed(0)
    z = torch.randn(32, 6, dtype=torch.float64, requires_grad=True)
    c = torch.randn(20, 6, dtype=torch.float64, requires_grad=True)
    g = torch.randn(32, 6, dtype=torch.float64)
    logits = z @ c.T
    idx = logits.argmax(-1)
    out = index_backprop(logits, c, idx)
    assert torch.equal(out, c[idx].detach())
    gz, gc = torch.autograd.grad((out * g).sum(), (z, c))
    p = torch.softmax(z @ c.T, -1)
    ref = (F.one_hot(idx, 20).double() - p.detach() + p) @ c
    rz, rc = torch.autograd.grad((ref * g).sum(), (z, c), retain_graph=True)
    assert torch.allclose(gz, rz) and torch.allclose(gc, rc)
    # and it is not the plain softmax's codebook gradient
    sz, sc = torch.autograd.grad(((p @ c) * g).sum(), (z, c))
    assert torch.allclose(gz, sz) and not torch.allclose(gc, sc)


# --- VQ mechanics ------------------------------------------------------------------------------
def test_nearest_code_chunking_matches_full_argmin():
    z, c = torch.randn(300, 5), torch.randn(1000, 5)
    ref = torch.cdist(z.double(), c.double()).argmin(1)
    for chunk in (37, 4096, 1 << 24):
        assert torch.equal(nearest_code(z, c, "euclidean", chunk), ref)
    # one score per block: the smallest chunk, on a smaller problem
    assert torch.equal(nearest_code(z[:20], c[:100], "euclidean", 1), torch.cdist(z[:20].double(), c[:100].double()).argmin(1))
    assert torch.equal(nearest_code(z, c, "dot", 100), (z @ c.T).argmax(1))


def test_ema_update_matches_hand_computed_step():
    vq = VectorQuantizer(2, 3, update="ema", decay=0.9, laplace_eps=1e-5, init=torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]), commitment_weight=0.0)
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [9.0, 1.0]])
    vq.train()
    vq(z)
    # assignments: code 0 <- rows 0,1; code 1 <- row 2; code 2 unused
    count = 0.9 * torch.ones(3) + 0.1 * torch.tensor([2.0, 1.0, 0.0])
    ema_sum = 0.9 * torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]) + 0.1 * torch.tensor([[1.0, 1.0], [9.0, 1.0], [0.0, 0.0]])
    total = count.sum()
    smoothed = (count + 1e-5) / (total + 3e-5) * total
    assert torch.allclose(vq.ema_count, count) and torch.allclose(vq.ema_sum, ema_sum)
    assert torch.allclose(vq.weight, ema_sum / smoothed[:, None], atol=1e-6)


def test_init_from_fixed_leech_codebook_keeps_learning():
    vq = VectorQuantizer(24, 196560, init="leech", distance="cosine")
    assert torch.allclose(vq.weight, leech.codebook())
    opt = torch.optim.SGD(vq.parameters(), lr=0.1)
    vq.train()
    out = vq(torch.randn(64, 24))
    out.loss.backward()
    opt.step()
    assert not torch.allclose(vq.weight, leech.codebook())
    with pytest.raises(ValueError, match="set codebook_size=240"):
        VectorQuantizer(8, 256, init="e8")


def test_kmeans_init_finds_the_clusters():
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0], [5.0, -5.0]])
    z = centers[torch.randint(0, 4, (2000,), generator=g)] + 0.1 * torch.randn(2000, 2, generator=g)
    vq = VectorQuantizer(2, 4, init="kmeans", kmeans_iters=20).train()
    vq(z)
    d = torch.cdist(centers, vq.weight.detach()).min(1).values
    assert bool(vq.initialized) and (d < 0.1).all()


def test_usage_statistics():
    vq = VectorQuantizer(2, 4, init=torch.tensor([[0.0, 0], [1, 0], [0, 1], [5, 5]])).eval()
    out = vq(torch.tensor([[0.1, 0.0], [0.9, 0.1], [0.0, 0.8], [0.1, 0.1]]))
    assert out.stats["usage"].item() == 0.75
    p = torch.tensor([0.5, 0.25, 0.25])
    assert out.stats["perplexity"].item() == pytest.approx(math.exp(-(p * p.log()).sum().item()), rel=1e-6)


def test_invalid_configurations():
    for kw, match in [
        ({"distance": "manhattan"}, "distance must be one of"),
        ({"update": "adam"}, "update must be one of"),
        ({"estimator": "magic"}, "estimator must be one of"),
        ({"decay": 1.5}, "decay must be in"),
        ({"dead_code_steps": -1}, "dead_code_steps"),
        ({"estimator": "gumbel", "update": "ema"}, "gumbel"),
        ({"init": torch.zeros(3, 3)}, r"init tensor must have shape \(16, 4\)"),
        ({"init": "nonsense"}, "spherical code"),
        ({"affine": "sometimes"}, "affine must be one of"),
    ]:
        with pytest.raises(ValueError, match=match):
            VectorQuantizer(4, 16, **kw)
    with pytest.raises(ValueError, match="codebook_size must be >= 2"):
        VectorQuantizer(4, 1)


@pytest.mark.parametrize("estimator", ["ste", "rotation", "index_backprop", "gumbel"])
def test_protocol_and_bf16_for_each_estimator(estimator):
    vq = VectorQuantizer(8, 64, estimator=estimator).eval()
    z = torch.randn(4, 5, 8)
    out = vq(z)
    assert torch.equal(vq.decode(vq.encode(z)), out.z_q)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_bf = vq(z.bfloat16())
    assert out_bf.z_q.dtype == torch.bfloat16 and out_bf.indices.shape == (4, 5)
    vq.train()
    zz = torch.randn(32, 8, requires_grad=True)
    o = vq(zz)
    (o.z_q.sum() + o.loss).backward()
    assert zz.grad is not None and torch.isfinite(zz.grad).all()


# --- the remedies on a toy clustering problem ------------------------------------------------------
def _toy_data(n, g):
    centers = torch.rand(128, 2, generator=torch.Generator().manual_seed(5)) * 4 + 4  # far from the init
    return centers[torch.randint(0, 128, (n,), generator=g)] + 0.15 * torch.randn(n, 2, generator=g)


def _train_usage(vq, steps=400):
    g = torch.Generator().manual_seed(0)
    params = [p for p in vq.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=0.05) if params else None  # EMA codebooks have none
    vq.train()
    for _ in range(steps):
        out = vq(_toy_data(512, g))
        if opt is not None:
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    vq.eval()
    return torch.unique(vq.encode(_toy_data(8192, g))).numel() / vq.codebook_size


def test_plain_vq_leaves_most_codes_dead():
    torch.manual_seed(0)
    assert _train_usage(VectorQuantizer(2, 64)) < 0.5


@pytest.mark.parametrize(
    "remedy",
    [{"dead_code_steps": 10}, {"affine": "running"}, {"cvq": True}, {"cvq": True, "cvq_anchor": "random"}, {"update": "ema", "dead_code_steps": 10}],
    ids=["dead-code-revival", "affine-running", "cvq-closest", "cvq-random", "ema+revival"],
)
def test_remedies_revive_the_codebook(remedy):
    torch.manual_seed(0)
    assert _train_usage(VectorQuantizer(2, 64, **remedy)) > 0.95


# --- distributed -------------------------------------------------------------------------------
def _ddp_worker(rank, world, init_file, result_file, kws):
    """Each configuration of ``kws`` in turn, in one process group (one spawn for all)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    for name, kw in kws.items():
        torch.manual_seed(100 + rank)  # different data per rank
        vq = VectorQuantizer(4, 32, seed=7, **kw).train()
        g = torch.Generator().manual_seed(rank)
        for step in range(6):
            n = [50, 7][rank] if step != 3 else [40, 0][rank]  # uneven, and one empty batch on rank 1
            z = torch.randn(n, 4, generator=g) + 3 * rank
            out = vq(z)
            if out.loss.requires_grad and n > 0:
                out.loss.backward()
        torch.save({"weight": vq.weight.detach().clone(), "steps_unused": vq.steps_unused.clone(),
                    "ema": getattr(vq, "ema_sum", torch.zeros(1)).clone()}, f"{result_file}.{name}.{rank}")
    dist.barrier()
    dist.destroy_process_group()


GLOO_CONFIGS = {"ema+kmeans+revival": {"update": "ema", "init": "kmeans", "dead_code_steps": 2},
                "cvq+affine+revival": {"cvq": True, "affine": "running", "dead_code_steps": 3}}


def test_two_gloo_ranks_hold_identical_codebooks():
    with tempfile.TemporaryDirectory() as d:
        init_file, result = os.path.join(d, "init"), os.path.join(d, "res")
        mp.spawn(_ddp_worker, args=(2, init_file, result, GLOO_CONFIGS), nprocs=2, join=True)
        results = {name: (torch.load(f"{result}.{name}.0"), torch.load(f"{result}.{name}.1")) for name in GLOO_CONFIGS}
    for name, (r0, r1) in results.items():
        for key in r0:
            assert torch.equal(r0[key], r1[key]), (name, key)
        # the codebook did move from its initialization
        assert not torch.allclose(r0["weight"], VectorQuantizer(4, 32, seed=7, **GLOO_CONFIGS[name]).weight.detach()), name


def test_gumbel_kl_weight_is_the_kl_to_the_uniform_distribution():
    """loss = w * KL(softmax(logits) || uniform) = w * mean_rows sum_k p_k (log p_k + log K),
    computed here from the projection's logits; it pulls the logits towards uniform."""
    torch.manual_seed(0)
    vq = VectorQuantizer(6, 16, estimator="gumbel", gumbel_kl_weight=0.3, commitment_weight=0.0).train()
    z = torch.randn(40, 6)
    out = vq(z)
    p = torch.softmax(vq.gumbel_proj(z), -1)
    kl = (p * (p.log() + math.log(16))).sum(-1).mean()
    assert out.loss.item() == pytest.approx(0.3 * kl.item(), rel=1e-5) and kl > 0
    (g,) = torch.autograd.grad(out.loss, vq.gumbel_proj.weight)
    assert g.abs().sum() > 0
    assert VectorQuantizer(6, 16, estimator="gumbel").train()(z).loss.item() == 0.0


def test_learned_affine_moves_the_codebook_but_does_not_revive_it():
    """A documented limit, not a remedy (docs/vq.md): the learned scale and shift get gradient
    only through the selected codes' loss, so they carry the whole codebook towards the data
    (its mean moves from ~0 to ~1.4 here) and stop as soon as the few used codes sit on their
    data: 8% of the codes used, where the running-statistics affine reaches 100% (above)."""
    torch.manual_seed(0)
    vq = VectorQuantizer(2, 64, affine="learned")
    before = vq.codebook().mean(0)
    usage = _train_usage(vq)
    moved = (vq.codebook().mean(0) - before).norm()
    assert moved > 1.0 and (vq.affine_scale.detach() > 1.5).all()
    assert 0.03 < usage < 0.2
