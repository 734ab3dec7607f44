"""GAN losses for tokenizer training (taming / StyleGAN conventions)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["d_loss", "g_loss", "r1_penalty", "lecam_penalty", "adaptive_weight", "LOSSES"]

LOSSES = ("hinge", "non-saturating")


def d_loss(real_logits: Tensor, fake_logits: Tensor, kind: str) -> Tensor:
    """Discriminator loss: hinge ``relu(1 - D(x)) + relu(1 + D(x̂))`` or non-saturating
    ``softplus(-D(x)) + softplus(D(x̂))`` (means)."""
    if kind == "hinge":
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    if kind == "non-saturating":
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    raise ValueError(f"gan loss must be one of {LOSSES}, got {kind!r}")


def g_loss(fake_logits: Tensor, kind: str) -> Tensor:
    """Generator loss: hinge ``-D(x̂)`` or non-saturating ``softplus(-D(x̂))`` (means)."""
    if kind == "hinge":
        return -fake_logits.mean()
    if kind == "non-saturating":
        return F.softplus(-fake_logits).mean()
    raise ValueError(f"gan loss must be one of {LOSSES}, got {kind!r}")


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """R1: E ||grad_x D(x)||^2 on real images (``real`` must require grad)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def lecam_penalty(real_logits: Tensor, fake_logits: Tensor, ema_real: Tensor, ema_fake: Tensor) -> Tensor:
    """LeCAM regularizer (Tseng et al., 2021): ||D(x) - ema_fake||^2 + ||D(x̂) - ema_real||^2."""
    return (real_logits - ema_fake).pow(2).mean() + (fake_logits - ema_real).pow(2).mean()


def adaptive_weight(rec_loss: Tensor, gan_loss: Tensor, last_layer: Tensor, max_weight: float = 1e4) -> Tensor:
    """taming-transformers' adaptive GAN weight ``||grad rec|| / (||grad gan|| + 1e-4)`` (a detached
    scalar clamped to [0, max_weight]) of two scalar losses' gradients at the decoder's
    last-layer weight ``last_layer``."""
    (g_rec,) = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)
    (g_gan,) = torch.autograd.grad(gan_loss, last_layer, retain_graph=True)
    return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0, max_weight).detach()
