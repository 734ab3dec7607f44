"""Tokenizer training: one process or ``torchrun`` (gloo on CPU, nccl on GPU), DDP or FSDP.

Per step: the generator (tokenizer) minimizes ``l1 * |x - x̂| + perceptual * LPIPS + w_gan * G(x̂)
+ quantizer * L_q`` (``w_gan`` fixed or taming's adaptive weight, from ``loss.gan_start``); then the
discriminator minimizes its GAN loss with lazy R1 and optional LeCAM. AdamW with linear warmup and
cosine decay, gradient accumulation and clipping, EMA of the tokenizer weights, atomic
checkpoints with everything needed to resume exactly, JSONL + TensorBoard logs, reconstruction
grids as PNG.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..data.fashion_mnist import FashionMNIST, is_fashion_mnist
from ..data.images import ImageDataset, batches
from ..losses import PerceptualLoss, adaptive_weight, d_loss, g_loss, lecam_penalty, r1_penalty
from ..models.build import build_tokenizer
from ..utils.fileio import atomic_write
from ..utils.progress import progress_bar
from .build import build_discriminator
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import Config

__all__ = ["Trainer", "lr_lambda", "ema_decay", "setup_distributed"]


def lr_lambda(warmup: int, total: int, min_ratio: float, start: float = 0.0):
    """Linear warmup from ``start`` to 1, then cosine decay to ``min_ratio`` at ``total`` (taming's
    LambdaWarmUpCosineScheduler with lr_start = ``start``, lr_min = ``min_ratio``, within one step)."""

    def f(step: int) -> float:
        if warmup > 0 and step < warmup:
            return start + (1 - start) * (step + 1) / warmup
        t = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def ema_decay(step: int, decay: float, warmup_power: float) -> float:
    """EMA decay at optimizer step ``step`` (0-based): ``min(decay, 1 - (1 + step)^-power)``, the
    warm-up of timm's ModelEmaV3 (inverse gamma 1), so the random initialization is forgotten at
    once instead of keeping weight ``decay^steps``; ``warmup_power = 0`` gives the constant decay."""
    if warmup_power <= 0:
        return decay
    return min(decay, 1.0 - (1.0 + step) ** -warmup_power)


def setup_distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initializes the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    return rank, world, device


def _sharded(module: nn.Module) -> bool:
    """Whether ``module`` was wrapped by FSDP2's ``fully_shard`` (its state needs the DCP helpers)."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover - torch builds without distributed
        return False
    return isinstance(module, FSDPModule)


def full_state(wrapped: nn.Module, module: nn.Module) -> dict:
    """The full (unsharded) state dict of ``module`` wrapped as ``wrapped`` (DDP, FSDP2 or none);
    a collective under FSDP (every rank must call it)."""
    if _sharded(wrapped):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return get_model_state_dict(wrapped, options=StateDictOptions(full_state_dict=True))
    return module.state_dict()


def optimizer_state(wrapped: nn.Module, opt) -> dict:
    """The optimizer's full state (a collective under FSDP)."""
    if _sharded(wrapped):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(wrapped, opt, options=StateDictOptions(full_state_dict=True))
    return opt.state_dict()


def load_module_state(wrapped: nn.Module, module: nn.Module, sd: dict) -> None:
    if _sharded(wrapped):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(wrapped, sd, options=StateDictOptions(full_state_dict=True))
    else:
        module.load_state_dict(sd)


def load_optimizer_state(wrapped: nn.Module, opt, sd: dict) -> None:
    if _sharded(wrapped):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(wrapped, opt, sd, options=StateDictOptions(full_state_dict=True))
    else:
        opt.load_state_dict(sd)


def clip_global_norm(module: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm of ``module`` (sharded DTensor and whole gradients alike, so
    FSDP and DDP clip the same as one process); returns the norm before clipping."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return 0.0
    sq = []
    for g in grads:
        n = torch.linalg.vector_norm(g.float())
        sq.append((n.full_tensor() if hasattr(n, "full_tensor") else n) ** 2)
    total = torch.stack(sq).sum().sqrt()
    coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(coef.to(g.device))
    return float(total)


def rank_seed(seed: int, rank: int) -> int:
    """The torch seed of ``rank`` for training randomness (dropout, Gumbel noise, quantizer
    dropout): rank 0 keeps ``seed`` (a one-process run is unchanged), other ranks get distinct
    seeds derived from it, so their random draws do not repeat rank 0's."""
    return int(seed) if rank == 0 else (int(seed) * 1_000_003 + 7919 * int(rank)) % (2**63 - 1)


def replicated_params(module: nn.Module) -> set[nn.Parameter]:
    """Parameters that FSDP must not shard: those of quantizers, which write their own
    parameters during forward (EMA codebooks, k-means and data-dependent init, dead-code revival,
    residual gains). FSDP2 runs forward on temporary unsharded copies and discards such writes,
    so these parameters stay whole on every rank (their gradients are averaged by the trainer).
    They are small: a codebook of K x d floats."""
    from ..quantize.base import Quantizer

    out: set[nn.Parameter] = set()
    for m in module.modules():
        if isinstance(m, Quantizer):
            out.update(m.parameters())
    return out


def init_matching(model: nn.Module, source: str) -> dict:
    """Copy into ``model`` every parameter/buffer of ``source`` (model file, checkpoint's EMA
    weights, or shipped model name) with the same name and shape; returns what was copied/left."""
    from ..zoo import load_tokenizer

    src = load_tokenizer(source)[0].state_dict()
    own = model.state_dict()
    copied = [k for k in own if k in src and src[k].shape == own[k].shape]
    if not copied:
        raise ValueError(f"train.init_from={source!r}: no parameter matches this model (names and shapes differ)")
    model.load_state_dict({**own, **{k: src[k].to(own[k].dtype) for k in copied}})
    return {"copied": len(copied), "left": sorted(set(own) - set(copied)), "source": source}


def _rng_state() -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _set_rng_state(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])


def _gather_objects(obj) -> list:
    """``obj`` of every rank, in rank order (``[obj]`` in one process)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def _check_out_dir(out: Path, resume, force: bool) -> None:
    """Refuse, before any work, an ``out_dir`` that is a file, or that holds an earlier run while
    this one starts from scratch (its config and checkpoints would be mixed with the new run's,
    and a higher-step old checkpoint would stay the "latest")."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"train.out_dir={out} is a file, not a folder: choose another train.out_dir")
    if resume or not out.is_dir():
        return
    old = sorted(out.glob("ckpt_*.pt"))
    if not old and not (out / "config.json").is_file():
        return
    if not force:
        raise ValueError(f"train.out_dir={out} holds another run ({len(old)} checkpoint(s)): continue it with --resume, "
                         f"choose another train.out_dir, or pass --force to delete its checkpoints and start over")
    if int(os.environ.get("RANK", "0")) == 0:
        for p in old:
            p.unlink(missing_ok=True)
        (out / "metrics.jsonl").unlink(missing_ok=True)


def training_dataset(cfg: Config) -> ImageDataset | FashionMNIST:
    """The training images of ``cfg.data``: Fashion-MNIST's training split for ``"fashion-mnist"``
    (its test split is refused: evaluation only), otherwise an :class:`ImageDataset`."""
    d = cfg.data
    if is_fashion_mnist(d.train):
        split = d.train.split(":", 1)[1] if ":" in d.train else "train"
        if split != "train":
            raise ValueError(f"data.train={d.train!r}: only Fashion-MNIST's training split is for training (the test split is for evaluation)")
        return FashionMNIST("train", d.resolution, d.flip, cfg.seed)
    return ImageDataset(d.train, d.resolution, d.crop, tuple(d.crop_scale), d.flip, cfg.seed, d.preload)


class Trainer:
    """Train a tokenizer as configured.

    Args:
        cfg: a validated :class:`Config`.
        resume: ``True`` for the latest checkpoint in ``cfg.train.out_dir``, a path, or False.
        progress: show a progress bar (rank 0).
        force: start a new run in an ``out_dir`` that holds another run's checkpoints (they are
            deleted first); without it, and without ``resume``, that is refused.
    """

    def __init__(self, cfg: Config, resume: bool | str = False, progress: bool = True, force: bool = False):
        self.cfg = cfg
        _check_out_dir(Path(cfg.train.out_dir), resume, force)
        self.rank, self.world, self.device = setup_distributed()
        if cfg.train.threads:
            torch.set_num_threads(cfg.train.threads)
        self.progress = progress and self.rank == 0
        self.out_dir = Path(cfg.train.out_dir)
        self._fsdp = self.world > 1 and cfg.train.strategy == "fsdp"
        if cfg.data.batch_size % (self.world * cfg.optim.accum):
            raise ValueError(
                f"data.batch_size ({cfg.data.batch_size}) must be divisible by world size x optim.accum "
                f"({self.world} x {cfg.optim.accum})"
            )
        torch.manual_seed(cfg.seed)
        self.dataset = training_dataset(cfg)
        self.model = build_tokenizer(cfg.model, cfg.data.resolution).to(self.device)
        if cfg.train.init_from and not resume:
            self.init_report = init_matching(self.model, cfg.train.init_from)
            if self.rank == 0:
                r = self.init_report
                print(f"initialized {r['copied']} tensors from {r['source']}; {len(r['left'])} left as built: {', '.join(r['left'][:8])}")
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if cfg.train.ema > 0 else None
        self.disc = build_discriminator(cfg)  # built from the same seed on every rank: equal replicas
        if self.disc is not None:
            self.disc = self.disc.to(self.device)
        lc = cfg.loss
        self.perceptual = (
            PerceptualLoss(lc.perceptual_net, lc.perceptual_weights, seed=cfg.seed).to(self.device)
            if lc.perceptual > 0 and lc.perceptual_net != "none"
            else None
        )
        self._replicated: list[nn.Parameter] = []
        self.model_ddp = self._wrap(self.model)
        if self.rank > 0:  # training randomness differs per rank (the weights above do not)
            torch.manual_seed(rank_seed(cfg.seed, self.rank))
        # the discriminator stays replicated (DDP) under FSDP too: lazy R1 needs a double backward,
        # which FSDP2's reshard-after-forward hooks do not support; discriminators are small
        self.disc_ddp = self._wrap(self.disc, shard=False) if self.disc is not None else None
        oc = cfg.optim
        self.lr = oc.lr_per_image * cfg.data.batch_size if oc.lr_per_image is not None else oc.lr  # global batch
        rep = {id(p) for p in self._replicated}
        groups = [[p for p in self.model_ddp.parameters() if p.requires_grad and (id(p) in rep) == r] for r in (False, True)]
        # sharded (DTensor) and replicated parameters in separate groups: foreach kernels do not mix them
        self.opt_g = torch.optim.AdamW([{"params": g} for g in groups if g], lr=self.lr, betas=tuple(oc.betas), weight_decay=oc.weight_decay)
        sched = lr_lambda(oc.warmup, oc.steps, oc.min_lr_ratio, oc.warmup_start)
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, sched)
        if self.disc is not None:
            self.opt_d = torch.optim.AdamW(self.disc_ddp.parameters(), lr=oc.disc_lr or self.lr, betas=tuple(oc.betas), weight_decay=oc.weight_decay)
        self._sched = sched
        self.step = 0
        self.lecam_ema = torch.zeros(2, device=self.device)  # EMA of D(real), D(fake)
        self.use_bf16 = self.device.type == "cuda" and cfg.train.precision in ("auto", "bf16")
        if resume:
            path = latest_checkpoint(self.out_dir) if resume is True else Path(resume)
            if path is not None:
                self.load_state(load_checkpoint(path))
        self.history: list[dict] = []

    # ------------------------------------------------------------------ wrapping
    def _wrap(self, module: nn.Module, shard: bool = True) -> nn.Module:
        if self.world == 1 or module is None:
            return module
        if shard and self._fsdp:  # FSDP2: parameters become DTensor shards (CPU/gloo too)
            from torch.distributed.fsdp import fully_shard

            self._replicated = [p for p in module.parameters() if p in replicated_params(module)]
            return fully_shard(module, ignored_params=set(self._replicated) or None)
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def _full_state(self, wrapped: nn.Module, module: nn.Module) -> dict:
        return full_state(wrapped, module)

    def _opt_state(self, wrapped: nn.Module, opt) -> dict:
        return optimizer_state(wrapped, opt)

    def _load_module(self, wrapped: nn.Module, module: nn.Module, sd: dict) -> None:
        load_module_state(wrapped, module, sd)

    def _load_opt(self, wrapped: nn.Module, opt, sd: dict) -> None:
        load_optimizer_state(wrapped, opt, sd)

    # ------------------------------------------------------------------ state
    def full_model_state(self) -> dict:
        """The tokenizer's full (unsharded) state dict; a collective under FSDP."""
        return self._full_state(self.model_ddp, self.model)

    def state(self) -> dict:
        """The full checkpoint dict (step, config, weights, EMA, optimizers, discriminator, LeCAM
        state, every rank's RNG state); a collective under FSDP: call on every rank."""
        st = {
            "step": self.step,
            "config": self.cfg.to_dict(),
            "model": self._full_state(self.model_ddp, self.model),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "opt_g": self._opt_state(self.model_ddp, self.opt_g),
            "sched_g": self.sched_g.state_dict(),
            "lecam_ema": self.lecam_ema.cpu(),
            "rng": _rng_state(),
            "rng_ranks": _gather_objects(_rng_state()),  # every rank's generators (a collective)
        }
        if self.disc is not None:
            st["disc"] = self._full_state(self.disc_ddp, self.disc)
            st["opt_d"] = self._opt_state(self.disc_ddp, self.opt_d)
        return st

    def load_state(self, st: dict) -> None:
        """Restore a checkpoint dict from :meth:`state`; ValueError when its weights do not fit this
        config's model."""
        try:
            self._load_module(self.model_ddp, self.model, st["model"])
        except RuntimeError as e:  # another architecture or quantizer than the config's
            first = str(e).strip().splitlines()[0]
            raise ValueError(f"the checkpoint's weights do not fit this config's model ({first}): "
                             "resume with the config the run was started with") from None
        if self.ema is not None and st.get("ema") is not None:
            self.ema.load_state_dict(st["ema"])
        self._load_opt(self.model_ddp, self.opt_g, st["opt_g"])
        self.sched_g.load_state_dict(st["sched_g"])
        if self.disc is not None and "disc" in st:
            self._load_module(self.disc_ddp, self.disc, st["disc"])
            self._load_opt(self.disc_ddp, self.opt_d, st["opt_d"])
        self.lecam_ema = st["lecam_ema"].to(self.device)
        self.step = int(st["step"])
        ranks = st.get("rng_ranks")
        if ranks is not None and len(ranks) == self.world:
            _set_rng_state(ranks[self.rank])
        else:  # older checkpoint or another world size: rank 0's state, fresh derived seeds elsewhere
            _set_rng_state(st["rng"])
            if self.rank > 0:
                torch.manual_seed(rank_seed(self.cfg.seed + self.step, self.rank))

    # ------------------------------------------------------------------ one step
    def _reduce_replicated_grads(self) -> None:
        """Average the gradients of the parameters FSDP leaves whole (see :func:`replicated_params`)."""
        for p in self._replicated:
            if p.requires_grad:
                g = p.grad if p.grad is not None else torch.zeros_like(p)
                dist.all_reduce(g)
                p.grad = g.div_(self.world)

    def _clip(self, module: nn.Module, max_norm: float) -> float:
        return clip_global_norm(module, max_norm)

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.use_bf16 else nullcontext()

    def _gan_active(self) -> bool:
        return self.disc is not None and self.step >= self.cfg.loss.gan_start

    def train_step(self, batch: torch.Tensor) -> dict:
        """One optimizer step (generator, then discriminator when the GAN is active) on images ``(b, 3,
        H, W)`` in [-1, 1], in ``optim.accum`` micro-batches; returns the logged scalars."""
        lc, oc = self.cfg.loss, self.cfg.optim
        micro = batch.chunk(oc.accum)
        gan_on = self._gan_active()
        logs: dict[str, float] = {}
        if self.disc is not None:
            self.disc.requires_grad_(False)
        self.model_ddp.train()
        recons = []
        for i, x in enumerate(micro):
            x = x.to(self.device, non_blocking=True)
            sync = i == len(micro) - 1 or not hasattr(self.model_ddp, "no_sync")
            ctx = nullcontext() if sync else self.model_ddp.no_sync()
            with ctx:
                with self._autocast():
                    out = self.model_ddp(x)
                    recon = out.recon.float()
                    l1 = (recon - x).abs().mean()
                    nll = lc.l1 * l1
                    if self.perceptual is not None:
                        perc = self.perceptual(recon, x)
                        nll = nll + lc.perceptual * perc
                        logs["perceptual"] = logs.get("perceptual", 0.0) + perc.item() / len(micro)
                    loss = nll + lc.quantizer * out.q_loss
                    if gan_on:
                        gl = g_loss(self.disc_ddp(recon), lc.gan_loss)
                        w = lc.gan * (adaptive_weight(nll, gl, self.model.last_layer()) if lc.adaptive_weight else 1.0)
                        loss = loss + w * gl
                        logs["g_adv"] = logs.get("g_adv", 0.0) + gl.item() / len(micro)
                (loss / len(micro)).backward()
            recons.append((x, recon.detach()))
            logs["l1"] = logs.get("l1", 0.0) + l1.item() / len(micro)
            logs["q_loss"] = logs.get("q_loss", 0.0) + float(out.q_loss.detach()) / len(micro)
            logs["loss"] = logs.get("loss", 0.0) + loss.item() / len(micro)
            if "usage" in out.stats:
                logs["usage"] = float(out.stats["usage"])
        if self._replicated:
            self._reduce_replicated_grads()
        if oc.grad_clip > 0:
            logs["grad_norm"] = self._clip(self.model_ddp, oc.grad_clip)
        self.opt_g.step()
        self.opt_g.zero_grad(set_to_none=True)
        self.sched_g.step()
        self._update_ema()
        if gan_on:
            logs.update(self._disc_step(recons))
        self.step += 1
        logs["lr"] = self.sched_g.get_last_lr()[0]
        return logs

    def _disc_step(self, recons) -> dict:
        lc, oc = self.cfg.loss, self.cfg.optim
        self.disc.requires_grad_(True)
        do_r1 = lc.r1 > 0 and self.step % lc.r1_every == 0
        total = 0.0
        for i, (x, recon) in enumerate(recons):
            sync = i == len(recons) - 1 or not hasattr(self.disc_ddp, "no_sync")
            ctx = nullcontext() if sync else self.disc_ddp.no_sync()
            with ctx:
                real = x.detach().requires_grad_(do_r1)
                with self._autocast():
                    lr_, lf_ = self.disc_ddp(real).float(), self.disc_ddp(recon).float()
                    ld = d_loss(lr_, lf_, lc.gan_loss)
                    if do_r1:  # lazy R1: gamma / 2 * ||grad||^2, scaled by the interval
                        ld = ld + lc.r1 / 2 * lc.r1_every * r1_penalty(lr_, real)
                    if lc.lecam > 0:
                        ld = ld + lc.lecam * lecam_penalty(lr_, lf_, self.lecam_ema[0], self.lecam_ema[1])
                (ld / len(recons)).backward()
            with torch.no_grad():  # the global batch's means: the same EMA on every rank
                m = torch.stack([lr_.mean(), lf_.mean()]).detach()
                if self.world > 1:
                    dist.all_reduce(m)
                    m /= self.world
                self.lecam_ema.mul_(0.99).add_(m, alpha=0.01)
            total += ld.item() / len(recons)
        if oc.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.disc_ddp.parameters(), oc.grad_clip)
        for group in self.opt_d.param_groups:  # same warmup + cosine schedule as the generator
            group["lr"] = (oc.disc_lr or self.lr) * self._sched(self.step)
        self.opt_d.step()
        self.opt_d.zero_grad(set_to_none=True)
        self.disc.requires_grad_(False)
        return {"d_loss": total}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        d = ema_decay(self.step, self.cfg.train.ema, self.cfg.train.ema_warmup_power)
        src = self._full_state(self.model_ddp, self.model) if self._fsdp else None
        if src is not None:
            for k, v in self.ema.state_dict().items():
                if v.is_floating_point():
                    v.mul_(d).add_(src[k].to(v.device, v.dtype), alpha=1 - d)
                else:
                    v.copy_(src[k])
            return
        for pe, p in zip(self.ema.parameters(), self.model.parameters()):
            pe.mul_(d).add_(p.detach(), alpha=1 - d)
        for be, b in zip(self.ema.buffers(), self.model.buffers()):
            be.copy_(b)

    # ------------------------------------------------------------------ loop
    def _reduce_logs(self, logs: dict) -> dict:
        if self.world == 1:
            return logs
        keys = sorted(logs)
        v = torch.tensor([logs[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(v)
        return dict(zip(keys, (v / self.world).tolist()))

    def _save_grid(self, x: torch.Tensor, recon: torch.Tensor) -> None:
        from PIL import Image

        n = min(8, x.shape[0])
        top = ((x[:n].detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        bot = ((recon[:n].detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        grid = torch.cat([torch.cat(list(top), 2), torch.cat(list(bot), 2)], 1)  # (3, 2H, nW)
        path = self.out_dir / "images" / f"recon_{self.step:08d}.png"
        atomic_write(path, lambda f: Image.fromarray(grid.permute(1, 2, 0).numpy()).save(f, format="PNG"))

    @torch.no_grad()
    def preview(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions ``(b, 3, H, W)`` of images ``x`` ``(b, 3, H, W)`` in [-1, 1] by the EMA
        weights, or without EMA by the live model in eval mode (no training-time state
        changes: no quantizer statistics, no collectives of its own). Call it on every rank:
        under FSDP the model's forward gathers parameters."""
        if self.ema is not None:
            return self.ema(x).recon
        was = self.model.training
        self.model.eval()
        try:
            with self._autocast():
                return self.model(x).recon.float()
        finally:
            self.model.train(was)

    def save(self) -> Path | None:
        """Write a checkpoint of the current step (rank 0 writes; every rank must call: a collective
        under FSDP); its path on rank 0, else None."""
        st = self.state()  # collective under FSDP: every rank builds it
        if self.rank == 0:
            return save_checkpoint(st, self.out_dir, self.step, self.cfg.train.keep_checkpoints)
        return None

    def run(self, steps: int | None = None) -> dict:
        """Train until ``steps`` (default ``optim.steps``); returns a summary."""
        cfg = self.cfg
        total = steps if steps is not None else cfg.optim.steps
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        writer = None
        if self.rank == 0 and cfg.train.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                writer = SummaryWriter(str(self.out_dir / "tb"))
            except ImportError:  # pragma: no cover
                writer = None
        it = batches(self.dataset, cfg.data.batch_size, self.rank, self.world, cfg.seed, self.step, cfg.data.num_workers)
        bar = progress_bar(None, cfg.name, self.progress, total=total, initial=self.step)
        t0, seen, last = time.perf_counter(), 0, {}
        log_file = self.out_dir / "metrics.jsonl"
        while self.step < total:
            _, batch = next(it)
            logs = self.train_step(batch)
            seen += batch.shape[0] * self.world
            if self.step % cfg.train.log_every == 0 or self.step == total:
                logs = self._reduce_logs(logs)
                logs["images_per_s"] = seen / max(time.perf_counter() - t0, 1e-9)
                logs["step"] = self.step
                last = logs
                self.history.append(logs)
                if self.rank == 0:
                    with open(log_file, "a") as f:
                        f.write(json.dumps(logs) + "\n")
                    if writer is not None:
                        for k, v in logs.items():
                            if k != "step":
                                writer.add_scalar(k, v, self.step)
                bar.set_postfix(l1=f"{logs['l1']:.4f}", img_s=f"{logs['images_per_s']:.1f}")
            if self.step % cfg.train.image_every == 0:
                x = batch[: min(8, batch.shape[0])].to(self.device)
                recon = self.preview(x)  # every rank: the sharded model's forward is a collective
                if self.rank == 0:
                    self._save_grid(x, recon)
            if self.step % cfg.train.ckpt_every == 0 or self.step == total:
                self.save()
            bar.update(1)
        bar.close()
        if writer is not None:
            writer.close()
        return {"steps": self.step, "seconds": time.perf_counter() - t0, "last": last, "out_dir": str(self.out_dir)}
