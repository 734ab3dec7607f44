"""Tokenizer training: config, trainer (torchrun DDP/FSDP), checkpoints. Loading trained models
for inference is :mod:`npq.zoo`'s job."""

from ..models.build import build_tokenizer
from ..utils.config import ConfigError
from .build import build_discriminator
from .checkpoint import atomic_save, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import Config, load_config
from .trainer import Trainer

__all__ = [
    "Config", "ConfigError", "load_config", "build_tokenizer", "build_discriminator", "Trainer",
    "save_checkpoint", "load_checkpoint", "latest_checkpoint", "atomic_save",
]
