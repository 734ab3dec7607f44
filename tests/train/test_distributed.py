"""Two gloo ranks (DDP and FSDP) against one process: every step's losses, the final weights and
every piece of state a quantizer writes during forward (residual gains, EMA codebooks, step
counters) must match; ``train.ema=0`` must not hang; ranks draw different random numbers and
resume their own; LeCAM statistics are global.

One ``mp.spawn`` runs every job (process start-up is most of the time); the process group has a
60 s timeout so a hang fails the test instead of blocking the suite.
"""

import datetime
import os

import pytest
import torch
import torch.multiprocessing as mp
from repo_paths import TINY_CONFIG
from train_helpers import make_photo_dir, tiny_overrides

from npq.train import Trainer, latest_checkpoint, load_config

# GAN with a lazy R1 penalty from step 1 (R1 on steps 2, 4): the discriminator's double backward
# runs under DDP / FSDP too
GAN_R1 = {"loss.gan": 0.1, "loss.gan_start": 1, "loss.r1": 1.0, "loss.r1_every": 2, "optim.steps": 4}
NO_GAN = {"loss.gan": 0.0, "optim.steps": 3}
VQ_EMA = "{name: vq, dim: 8, codebook_size: 32, update: ema, decay: 0.5, commitment_weight: 0.25}"

JOBS = {
    # name: (strategy, overrides, stop_at)
    "ddp": ("ddp", {**GAN_R1, "loss.lecam": 0.1, "model.quantizer": "{name: residual, quantizer: leech, stages: 2}"}, None),
    "fsdp": ("fsdp", {**GAN_R1, "train.ckpt_every": 2}, 2),  # stop at the step-2 checkpoint, resume, finish
    "fsdp_residual": ("fsdp", {**NO_GAN, "model.quantizer": "{name: residual, quantizer: leech, stages: 3}"}, None),
    # EMA codebook updates in forward; no EMA weights, previews every step (the live model's forward)
    "fsdp_vq": ("fsdp", {**NO_GAN, "model.quantizer": VQ_EMA, "train.ema": 0, "train.image_every": 1}, None),
    "ddp_vq": ("ddp", {**NO_GAN, "model.quantizer": VQ_EMA, "train.ema": 0, "train.image_every": 1}, None),
}


def _rng_now():
    return torch.get_rng_state().clone()


def _worker(rank, world, init_file, photo_dir, root):
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    for name, (strategy, extra, stop_at) in JOBS.items():
        out_dir = os.path.join(root, name)
        cfg = load_config(TINY_CONFIG, tiny_overrides(photo_dir, out_dir, **{**extra, "train.strategy": strategy}))
        t = Trainer(cfg, progress=False)
        draw = torch.rand(4)  # the rank's training randomness (restored below for the run)
        t.run(steps=stop_at)
        dist.barrier()  # rank 0 has written the checkpoint
        rec = {"draw": draw, "first": {"history": t.history, "step": t.step, "ckpt": getattr(latest_checkpoint(out_dir), "name", None),
                                       "rng": _rng_now()}}
        if stop_at is not None:
            del t
            t = Trainer(cfg, resume=True, progress=False)  # a fresh trainer: everything comes from the checkpoint
            rec["rng_resumed"] = _rng_now()
            t.run()
        state = t.full_model_state()  # collective under FSDP
        rec.update(state={k: v.detach().clone() for k, v in state.items()}, history=t.history, step=t.step,
                   lecam=t.lecam_ema.clone())
        torch.save(rec, os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()
        del t
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """name -> (one-process trainer, its initial state, [rank 0 record, rank 1 record])."""
    root = tmp_path_factory.mktemp("dist")
    photo_dir = make_photo_dir(tmp_path_factory.mktemp("photos"))
    singles = {}
    for name, (_, extra, _) in JOBS.items():
        if name == "ddp_vq":
            continue  # one process has no strategy: fsdp_vq's single run is its reference
        t = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, root / f"one_{name}", **extra)), progress=False)
        init = {k: v.detach().clone().float() for k, v in t.model.state_dict().items()}
        t.run()
        singles[name] = (t, init)
    singles["ddp_vq"] = singles["fsdp_vq"]
    for name in JOBS:
        (root / name).mkdir()
    mp.spawn(_worker, args=(2, str(root / "init"), str(photo_dir), str(root)), nprocs=2, join=True)
    return {name: (*singles[name], [torch.load(root / name / f"rank{r}.pt", weights_only=False) for r in (0, 1)]) for name in JOBS}


def _same_losses(h1, h2, keys=("l1", "perceptual", "loss", "q_loss", "g_adv", "d_loss")):
    """Every logged loss of every step equal (the 2-rank values are all-reduced means over the
    global batch); the keys must be the trainer's own (checked, so a renamed key cannot make
    this vacuous)."""
    assert len(h1) == len(h2) > 0
    logged = set().union(*h1)
    assert {"l1", "loss", "q_loss"} <= logged, logged
    for a, b in zip(h1, h2, strict=True):
        assert a["step"] == b["step"] and set(a) == set(b)
        for k in keys:
            if k in a:
                assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-6), (k, a["step"])


def _assert_same_update(single, init, state, rel=0.05):
    """The same weights as the one-process run: the 2-rank update differs from the one-process
    update by under ``rel`` of its size (float summation order, amplified by Adam's normalization
    of near-zero gradient components: a single bias can move the other way)."""
    own = single.model.state_dict()
    d1 = torch.cat([(v.float() - init[k]).flatten() for k, v in own.items()])
    d2 = torch.cat([(state[k].float() - init[k]).flatten() for k in own])
    assert d1.norm() > 0 and (d2 - d1).norm() < rel * d1.norm(), ((d2 - d1).norm(), d1.norm())


def test_ddp_gan_r1_lecam_residual_matches_one_process(runs):
    single, init, (r0, r1) = runs["ddp"]
    assert sum("d_loss" in h for h in single.history) >= 3  # discriminator (with R1 on steps 2, 4) trained
    _same_losses(single.history, r0["history"])
    _assert_same_update(single, init, r0["state"])
    # LeCAM's EMA of D(real), D(fake): global means, the same on both ranks and as one process
    assert single.lecam_ema.abs().sum() > 0
    assert torch.allclose(r0["lecam"], r1["lecam"], atol=1e-6) and torch.allclose(r0["lecam"], single.lecam_ema, atol=1e-5)


def test_fsdp_resume_matches_one_process(runs):
    single, init, (r0, _) = runs["fsdp"]
    first = r0["first"]
    assert first["step"] == 2 and first["ckpt"] == "ckpt_00000002.pt"
    _same_losses(single.history[:2], first["history"])
    assert r0["step"] == 4
    _same_losses(single.history[2:], r0["history"])
    _assert_same_update(single, init, r0["state"])


def test_ranks_draw_different_numbers_and_resume_their_own(runs):
    _, _, (r0, r1) = runs["fsdp"]
    assert not torch.equal(r0["draw"], r1["draw"])  # dropout masks, Gumbel noise: not repeated across ranks
    for r in (r0, r1):  # each rank resumes its own generator state from the checkpoint
        assert torch.equal(r["rng_resumed"], r["first"]["rng"])


def test_fsdp_keeps_the_residual_gains_written_in_forward(runs):
    single, init, (r0, r1) = runs["fsdp_residual"]
    gains = single.model.quantizer.gain.detach()
    assert not torch.allclose(gains, torch.ones(3), atol=0.5)  # data-initialized, then trained
    for r in (r0, r1):
        assert torch.allclose(r["state"]["quantizer.gain"], gains, rtol=1e-3), (r["state"]["quantizer.gain"], gains)
    _assert_same_update(single, init, r0["state"])


@pytest.mark.parametrize("name", ["fsdp_vq", "ddp_vq"])
def test_ema_codebook_and_ema_off_under_ddp_and_fsdp(runs, name):
    """A VQ with EMA codebook updates under FSDP / DDP with train.ema=0 and a preview every step:
    completes (the preview runs on every rank, in eval mode), the codebook moves exactly as in
    one process, and the previews change no quantizer state (step counter = training steps)."""
    single, init, (r0, r1) = runs[name]
    q = single.model.quantizer
    assert int(q.step) == 3  # the previews (eval mode) did not count as training steps
    moved = (q.weight.detach() - init["quantizer.weight"]).norm()
    assert moved > 0.1
    for r in (r0, r1):
        assert int(r["state"]["quantizer.step"]) == 3
        assert (r["state"]["quantizer.weight"] - q.weight.detach()).norm() < 1e-3 * moved
    _same_losses(single.history, r0["history"])


def test_previews_do_not_change_training(tmp_path, tmp_path_factory):
    """Without EMA weights the preview runs the live model: it must not advance the VQ or change
    its codebook (one process; image_every 1 vs never)."""
    photo_dir = make_photo_dir(tmp_path_factory.mktemp("photos"))  # not a parent of the runs' image folders
    states = []
    for every in (1, 1000):
        cfg = load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path / f"r{every}", **{**NO_GAN, "model.quantizer": VQ_EMA,
                                                                                          "train.ema": 0, "train.image_every": every}))
        t = Trainer(cfg, progress=False)
        t.run()
        states.append(t.model.state_dict())
    assert len(list((tmp_path / "r1" / "images").glob("*.png"))) == 3
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k
