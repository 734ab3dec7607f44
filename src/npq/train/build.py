"""Build the tokenizer and discriminator from a :class:`Config`."""

from __future__ import annotations

import dataclasses

from torch import nn

from ..models import VIT_PRESETS, ConvConfig, ConvDecoder, ConvEncoder, Tokenizer, ViTConfig, ViTDecoder, ViTEncoder, make_discriminator
from ..quantize import make
from .config import Config, ConfigError, ModelConfig

__all__ = ["build_tokenizer", "build_discriminator", "load_tokenizer", "export_model"]


def _vit_config(m: ModelConfig, resolution: int) -> ViTConfig:
    base = {}
    if m.vit_preset:
        if m.vit_preset not in VIT_PRESETS:
            raise ConfigError(f"model.vit_preset must be one of {sorted(VIT_PRESETS)} or null, got {m.vit_preset!r}")
        base = dataclasses.asdict(VIT_PRESETS[m.vit_preset])
    base["image_size"] = resolution
    unknown = set(m.vit) - {f.name for f in dataclasses.fields(ViTConfig)}
    if unknown:
        raise ConfigError(f"unknown model.vit key(s) {sorted(unknown)}")
    base.update(m.vit)
    try:
        return ViTConfig(**base)
    except ValueError as e:
        raise ConfigError(f"model.{e}") from None


def build_tokenizer(m: ModelConfig, resolution: int) -> Tokenizer:
    """Encoder, quantizer (from the registry) and decoder as configured."""
    q_kwargs = {k: v for k, v in m.quantizer.items() if k != "name"}
    try:
        quantizer = make(m.quantizer["name"], **q_kwargs)
    except ValueError as e:
        raise ConfigError(f"model.quantizer: {e}") from None
    if m.arch == "vit":
        vc = _vit_config(m, resolution)
        enc, dec = ViTEncoder(vc), ViTDecoder(vc)
    else:
        unknown = set(m.conv) - {f.name for f in dataclasses.fields(ConvConfig)}
        if unknown:
            raise ConfigError(f"unknown model.conv key(s) {sorted(unknown)}")
        try:
            cc = ConvConfig(**m.conv)
        except ValueError as e:
            raise ConfigError(f"model.{e}") from None
        enc, dec = ConvEncoder(cc), ConvDecoder(cc)
    if resolution % enc.downsample:
        raise ConfigError(f"data.resolution ({resolution}) must be a multiple of the downsampling ({enc.downsample})")
    return Tokenizer(enc, quantizer, dec, l2_normalize=m.l2_normalize)


def build_discriminator(cfg: Config) -> nn.Module | None:
    if cfg.loss.gan <= 0:
        return None
    return make_discriminator(cfg.loss.discriminator, cfg.data.resolution, cfg.loss.disc_channels)


def load_tokenizer(checkpoint, ema: bool = True, map_location="cpu"):
    """(tokenizer in eval mode, Config) from a training checkpoint (EMA weights by default) or an
    exported model file (:func:`export_model`).

    Raises FileNotFoundError / ValueError with the path for a missing or unreadable file.
    """
    from .checkpoint import load_checkpoint

    st = load_checkpoint(checkpoint, map_location=map_location)
    if not isinstance(st, dict) or "config" not in st or "model" not in st:
        raise ValueError(f"{checkpoint} is not an npq training checkpoint (no config/model)")
    cfg = Config.from_dict(st["config"]).validate()
    model = build_tokenizer(cfg.model, cfg.data.resolution)
    weights = st["ema"] if (ema and st.get("ema") is not None) else st["model"]
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in weights.items()})
    return model.eval(), cfg


def export_model(checkpoint, out, half: bool = True) -> dict:
    """Write a compact model file (config + EMA weights, fp16 by default) for shipping."""

    from .checkpoint import atomic_save, load_checkpoint

    st = load_checkpoint(checkpoint)
    weights = st["ema"] if st.get("ema") is not None else st["model"]
    if half:
        weights = {k: (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
    info = {"format": "npq-model", "version": 1, "config": st["config"], "model": weights, "step": int(st["step"])}
    atomic_save(info, out)
    return info
