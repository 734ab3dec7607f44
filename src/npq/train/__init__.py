"""Tokenizer training: config, builders, trainer (torchrun DDP/FSDP), checkpoints."""

from .build import build_discriminator, build_tokenizer, load_tokenizer
from .checkpoint import atomic_save, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import Config, ConfigError, load_config
from .trainer import Trainer

__all__ = [
    "Config", "ConfigError", "load_config", "build_tokenizer", "build_discriminator", "load_tokenizer", "Trainer",
    "save_checkpoint", "load_checkpoint", "latest_checkpoint", "atomic_save",
]
