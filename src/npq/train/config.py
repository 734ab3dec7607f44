"""Training configuration: YAML files + dataclasses, overridable with ``key=value``, validated.

Example: ``npq train configs/tiny_cpu_leech.yaml optim.steps=200 data.batch_size=8``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..models.build import ModelConfig
from ..utils.config import ConfigError, from_dict

__all__ = ["Config", "DataConfig", "ModelConfig", "LossConfig", "OptimConfig", "TrainConfig", "load_config", "ConfigError"]


@dataclass
class DataConfig:
    """Training data: sources, resolution (pixels), global batch size, crop and flip augmentation,
    preloading and loader workers."""
    train: Any = "photos:debian"  # folder, image file, tar shard(s), "photos:debian", or a list
    resolution: int = 128
    batch_size: int = 32  # global batch (split over ranks)
    crop: str = "random-resized"  # or "resize-random" (short side to resolution, random square: the authors'), "random", "center"
    crop_scale: list[float] = field(default_factory=lambda: [0.35, 1.0])
    flip: bool = True
    preload: bool = False
    num_workers: int = 0


@dataclass
class LossConfig:
    """Loss weights and their networks: L1, perceptual (network and weights), GAN (discriminator, its
    start step, adaptive weight, R1 and LeCAM regularizers), quantizer loss."""
    l1: float = 1.0
    perceptual: float = 0.1
    perceptual_net: str = "vgg"  # "vgg", "alex", "effnet-lite0" (pretrained, offline), "random-vgg", "random-alex", "none"
    perceptual_weights: str | None = None
    gan: float = 0.1
    gan_loss: str = "non-saturating"  # or "hinge"
    gan_start: int = 0
    adaptive_weight: bool = False
    discriminator: str = "stylegan2"  # or "patchgan", "stylegan2-ada" (the authors' StyleGAN2 ResNet)
    disc_channels: int = 64  # stylegan2-ada: the channel base / 1024 (32: their default 32768; 16: 16384)
    r1: float = 10.0
    r1_every: int = 16
    lecam: float = 0.0
    quantizer: float = 1.0


@dataclass
class OptimConfig:
    """Optimizers and schedule: learning rates (or per image of global batch), Adam betas, weight
    decay, warm-up, steps and floor of the cosine schedule, gradient clipping and accumulation."""
    lr: float = 1e-4
    lr_per_image: float | None = None  # set: lr = lr_per_image x data.batch_size (the authors: 4e-7), overriding lr
    disc_lr: float | None = None
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    weight_decay: float = 1e-4
    warmup: int = 5000
    warmup_start: float = 0.0  # lr multiplier at the start of the warm-up (the authors: 0.1)
    steps: int = 100_000
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0
    accum: int = 1


@dataclass
class TrainConfig:
    """Run mechanics: output folder, EMA decay and warm-up, precision, DDP / FSDP strategy, logging,
    checkpoint and preview intervals, threads, and weights to start from."""
    out_dir: str = "runs/default"
    ema: float = 0.999
    ema_warmup_power: float = 0.75  # decay at step t: min(ema, 1 - (1 + t)^-power) (timm ModelEmaV3 warm-up); 0: none
    precision: str = "auto"  # "auto" (bf16 on GPU, fp32 on CPU), "bf16", "fp32"
    strategy: str = "ddp"  # "ddp" or "fsdp" (multi-process only)
    log_every: int = 10
    ckpt_every: int = 1000
    image_every: int = 500
    keep_checkpoints: int = 2
    tensorboard: bool = True
    threads: int | None = None
    # a model file, training checkpoint (EMA weights) or shipped model name whose parameters
    # initialize the tokenizer's where name and shape match (before step 0; not on resume)
    init_from: str | None = None


@dataclass
class Config:
    """A tokenizer training run (YAML + ``key=value`` overrides, :func:`load_config`): ``data``,
    ``model``, ``loss``, ``optim`` and ``train`` sections; every field is checked by
    :meth:`validate`."""
    name: str = "run"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        """The config as nested plain dicts (what checkpoints and ``config.json`` store)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        return from_dict(cls, d)

    def validate(self) -> "Config":
        """Check every field (ConfigError naming the first bad one); returns self."""
        _validate(self)
        return self


def _num(cfg_path: str, v, lo=None, integer=False, allow_none=False):
    if v is None and allow_none:
        return
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and isinstance(v, int)
    if not ok or (lo is not None and v < lo):
        what = "an integer" if integer else "a number"
        raise ConfigError(f"{cfg_path} must be {what}{f' >= {lo}' if lo is not None else ''}, got {v!r}")


def _one_of(cfg_path: str, v, allowed):
    if v not in allowed:
        raise ConfigError(f"{cfg_path} must be one of {list(allowed)}, got {v!r}")


def _validate(c: Config) -> None:
    _num("seed", c.seed, 0, integer=True)
    d = c.data
    _num("data.resolution", d.resolution, 8, integer=True)
    _num("data.batch_size", d.batch_size, 1, integer=True)
    _num("data.num_workers", d.num_workers, 0, integer=True)
    _one_of("data.crop", d.crop, ("random-resized", "resize-random", "random", "center"))
    if not (isinstance(d.crop_scale, (list, tuple)) and len(d.crop_scale) == 2 and 0 < d.crop_scale[0] <= d.crop_scale[1] <= 1):
        raise ConfigError(f"data.crop_scale must be [min, max] with 0 < min <= max <= 1, got {d.crop_scale!r}")
    c.model.validate()
    lo = c.loss
    for k in ("l1", "perceptual", "gan", "r1", "lecam", "quantizer"):
        _num(f"loss.{k}", getattr(lo, k), 0)
    _one_of("loss.perceptual_net", lo.perceptual_net, ("vgg", "alex", "effnet-lite0", "random-vgg", "random-alex", "none"))
    _one_of("loss.gan_loss", lo.gan_loss, ("hinge", "non-saturating"))
    _one_of("loss.discriminator", lo.discriminator, ("stylegan2", "stylegan2-ada", "patchgan"))
    _num("loss.gan_start", lo.gan_start, 0, integer=True)
    _num("loss.r1_every", lo.r1_every, 1, integer=True)
    o = c.optim
    _num("optim.lr", o.lr, 0)
    _num("optim.lr_per_image", o.lr_per_image, 0, allow_none=True)
    if not (isinstance(o.warmup_start, (int, float)) and not isinstance(o.warmup_start, bool) and 0 <= o.warmup_start <= 1):
        raise ConfigError(f"optim.warmup_start must be in [0, 1], got {o.warmup_start!r}")
    _num("optim.disc_lr", o.disc_lr, 0, allow_none=True)
    _num("optim.weight_decay", o.weight_decay, 0)
    _num("optim.warmup", o.warmup, 0, integer=True)
    _num("optim.steps", o.steps, 1, integer=True)
    _num("optim.grad_clip", o.grad_clip, 0)
    _num("optim.accum", o.accum, 1, integer=True)
    if not (isinstance(o.betas, (list, tuple)) and len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas)):
        raise ConfigError(f"optim.betas must be [b1, b2] in [0, 1), got {o.betas!r}")
    if d.batch_size % o.accum:
        raise ConfigError(f"data.batch_size ({d.batch_size}) must be divisible by optim.accum ({o.accum})")
    t = c.train
    if not (isinstance(t.ema, (int, float)) and 0 <= t.ema < 1):
        raise ConfigError(f"train.ema must be in [0, 1), got {t.ema!r}")
    _num("train.ema_warmup_power", t.ema_warmup_power, 0)
    _one_of("train.precision", t.precision, ("auto", "bf16", "fp32"))
    _one_of("train.strategy", t.strategy, ("ddp", "fsdp"))
    for k in ("log_every", "ckpt_every", "image_every", "keep_checkpoints"):
        _num(f"train.{k}", getattr(t, k), 1, integer=True)


def _set_path(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        if p not in cur or not isinstance(cur[p], dict):
            cur[p] = {} if p not in cur or cur[p] is None else cur[p]
            if not isinstance(cur[p], dict):
                raise ConfigError(f"cannot set '{key}': '{p}' is not a mapping")
        cur = cur[p]
    cur[parts[-1]] = value


def config_dict(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """A YAML config as a dict (``{}`` when ``path`` is None) with ``key=value`` overrides applied
    (values parsed as YAML: ``optim.lr=3e-4``, ``data.crop_scale=[0.5,1]``) and number strings
    such as ``1e-4`` read as numbers."""
    d: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"cannot parse {p}: {e}") from None
    for o in overrides:
        if "=" not in o:
            raise ConfigError(f"override {o!r} must look like key=value")
        k, v = o.split("=", 1)
        try:
            val = yaml.safe_load(v)
        except yaml.YAMLError:
            val = v
        _set_path(d, k.strip(), val)
    return _numbers(d)


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a tokenizer training config (see :func:`config_dict`), validated."""
    return Config.from_dict(config_dict(path, overrides)).validate()


_SCIENTIFIC = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")


def _numbers(obj):
    """Strings in scientific notation as floats: YAML 1.1 reads ``3e-4`` (no dot) as a string."""
    if isinstance(obj, dict):
        return {k: _numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return float(obj) if isinstance(obj, str) and _SCIENTIFIC.match(obj.strip()) else obj
