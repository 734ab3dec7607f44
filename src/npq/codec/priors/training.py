"""Train the learned token prior on tokens of training photos (``npq train-prior``)."""

from __future__ import annotations

from dataclasses import replace

import torch

from ...data.images import ImageDataset
from ...utils.progress import progress_bar
from .transformer import PriorConfig, TokenPrior

__all__ = ["tokenize_crops", "train_prior"]


@torch.no_grad()
def tokenize_crops(model, source, crops: int = 512, crop: int = 256, seed: int = 0, progress: bool = True) -> torch.Tensor:
    """Token grids int64 ``(crops, crop/f, crop/f)`` (or ``(crops, crop/f, crop/f, stages)`` for a
    residual tokenizer) of random native-resolution ``crop x crop`` pixel crops (random flips)
    of the photos in ``source``."""
    ds = ImageDataset(source, crop, crop="random", scale=(1e-6, 1.0), flip=True, seed=seed, preload=True)
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in progress_bar(range(crops), "tokenize crops", progress):
        ds.set_epoch(k)
        i = int(torch.randint(0, len(ds), (1,), generator=g))
        out.append(model.encode(ds[i][None])[0])
    return torch.stack(out)


def train_prior(tokens: torch.Tensor, n_codes: int, steps: int = 1000, batch: int = 8, lr: float = 1e-3,
                cfg: PriorConfig | None = None, seed: int = 0, progress: bool = True, max_offset: int = 64) -> tuple[TokenPrior, list[float]]:
    """Teacher-forced training; returns the prior and its loss history (bits per token).

    Unless ``cfg`` sets one, the attention window is the crops' token count (h * w of ``tokens``),
    so coding attends to as much context as training did and runs in linear time. Each batch's
    position embeddings are shifted by a random offset in [0, max_offset) cells per
    axis, so the prior sees the positions of images larger than its training crops."""
    torch.manual_seed(seed)
    cfg = cfg or PriorConfig(n_codes)
    if not cfg.window:
        cfg = replace(cfg, window=int(tokens.shape[1] * tokens.shape[2]))
    prior = TokenPrior(cfg)
    opt = torch.optim.AdamW(prior.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    grid = tuple(tokens.shape[1:])
    flat = tokens.reshape(tokens.shape[0], -1)
    g = torch.Generator().manual_seed(seed)
    hist = []
    bar = progress_bar(range(steps), "train prior", progress)
    prior.train()
    for _ in bar:
        idx = torch.randint(0, flat.shape[0], (batch,), generator=g)
        off = tuple(int(v) for v in torch.randint(0, max(1, max_offset), (2,), generator=g))
        loss = prior.loss(flat[idx], grid, off)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(prior.parameters(), 1.0)
        opt.step()
        sched.step()
        hist.append(loss.item())
        bar.set_postfix(bits=f"{sum(hist[-20:]) / len(hist[-20:]):.2f}")
    return prior.eval(), hist
