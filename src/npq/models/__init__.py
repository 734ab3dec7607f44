"""Tokenizer models: ViT and conv encoders/decoders, discriminators, the Tokenizer wrapper."""

from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .discriminator import PatchGAN, StyleGAN2Discriminator, make_discriminator
from .tokenizer import Tokenizer, TokenizerOutput, to_model_range, to_unit_range
from .vit import VIT_PRESETS, ViTConfig, ViTDecoder, ViTEncoder

__all__ = [
    "ViTConfig", "ViTEncoder", "ViTDecoder", "VIT_PRESETS", "ConvConfig", "ConvEncoder", "ConvDecoder",
    "PatchGAN", "StyleGAN2Discriminator", "make_discriminator", "Tokenizer", "TokenizerOutput",
    "to_model_range", "to_unit_range",
]
