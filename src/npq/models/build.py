"""Build a tokenizer from its model configuration (the ``model:`` section of a training config).

Inference code (the zoo, the codec, the CLI) builds models here without importing training code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..quantize import make
from ..utils.config import ConfigError, from_dict
from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .tokenizer import Tokenizer
from .vit import VIT_PRESETS, ViTConfig, ViTDecoder, ViTEncoder

__all__ = ["ModelConfig", "build_tokenizer"]


@dataclass
class ModelConfig:
    """Architecture and quantizer of a tokenizer.

    Attributes:
        arch: ``"vit"`` or ``"conv"``.
        vit_preset: a key of ``VIT_PRESETS`` (e.g. ``"vit-s/8@128"``) or None.
        vit: overrides of :class:`~npq.models.vit.ViTConfig` fields.
        conv: :class:`~npq.models.conv.ConvConfig` fields.
        quantizer: ``{"name": registry name, **kwargs}`` (see ``npq list``).
        l2_normalize: normalize the latent before the quantizer.
        clamp_output: clamp reconstructions to [-1, 1] in the forward pass (the authors' code).
    """

    arch: str = "vit"
    vit_preset: str | None = "vit-s/8@128"
    vit: dict = field(default_factory=dict)
    conv: dict = field(default_factory=dict)
    quantizer: dict = field(default_factory=lambda: {"name": "leech"})
    l2_normalize: bool = False
    clamp_output: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return from_dict(cls, d, "model.")

    def validate(self) -> "ModelConfig":
        """Check the fields that need no building; ConfigError naming the key otherwise."""
        if self.arch not in ("vit", "conv"):
            raise ConfigError(f"model.arch must be one of ['vit', 'conv'], got {self.arch!r}")
        if not isinstance(self.quantizer, dict) or "name" not in self.quantizer:
            raise ConfigError(f"model.quantizer must be a mapping with a 'name' (and its arguments), got {self.quantizer!r}")
        return self


def _fields(klass, d: dict, section: str) -> None:
    unknown = set(d) - {f.name for f in dataclasses.fields(klass)}
    if unknown:
        raise ConfigError(f"unknown model.{section} key(s) {sorted(unknown)}")


def _vit_config(m: ModelConfig, resolution: int) -> ViTConfig:
    base = {}
    if m.vit_preset:
        if m.vit_preset not in VIT_PRESETS:
            raise ConfigError(f"model.vit_preset must be one of {sorted(VIT_PRESETS)} or null, got {m.vit_preset!r}")
        base = dataclasses.asdict(VIT_PRESETS[m.vit_preset])
    base["image_size"] = resolution
    _fields(ViTConfig, m.vit, "vit")
    base.update(m.vit)
    try:
        return ViTConfig(**base)
    except ValueError as e:
        raise ConfigError(f"model.{e}") from None


def build_tokenizer(m: ModelConfig | dict, resolution: int) -> Tokenizer:
    """Encoder, quantizer (from the registry) and decoder as configured; ``resolution`` is the
    training image side (ViT position embeddings; a multiple of the downsampling)."""
    m = (ModelConfig.from_dict(m) if isinstance(m, dict) else m).validate()
    q_kwargs = {k: v for k, v in m.quantizer.items() if k != "name"}
    try:
        quantizer = make(m.quantizer["name"], **q_kwargs)
    except ValueError as e:
        raise ConfigError(f"model.quantizer: {e}") from None
    if m.arch == "vit":
        vc = _vit_config(m, resolution)
        enc, dec = ViTEncoder(vc), ViTDecoder(vc)
    else:
        _fields(ConvConfig, m.conv, "conv")
        try:
            cc = ConvConfig(**m.conv)
        except ValueError as e:
            raise ConfigError(f"model.{e}") from None
        enc, dec = ConvEncoder(cc), ConvDecoder(cc)
    if resolution % enc.downsample:
        raise ConfigError(f"data.resolution ({resolution}) must be a multiple of the downsampling ({enc.downsample})")
    return Tokenizer(enc, quantizer, dec, l2_normalize=m.l2_normalize, clamp_output=m.clamp_output)
