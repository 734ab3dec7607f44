"""Build the discriminator from a training :class:`Config` (the tokenizer: :mod:`npq.models.build`)."""

from __future__ import annotations

from torch import nn

from ..models import make_discriminator
from .config import Config

__all__ = ["build_discriminator"]


def build_discriminator(cfg: Config) -> nn.Module | None:
    """The config's discriminator (``loss.discriminator`` at ``data.resolution``), or None when
    ``loss.gan`` is 0."""
    if cfg.loss.gan <= 0:
        return None
    return make_discriminator(cfg.loss.discriminator, cfg.data.resolution, cfg.loss.disc_channels)
