"""Tokenizer models: ViT and conv encoders/decoders, discriminators, the Tokenizer wrapper."""

from .conv import ConvConfig, ConvDecoder, ConvEncoder
from .discriminator import PatchGAN, StyleGAN2Discriminator, make_discriminator
from .tokenizer import Tokenizer, TokenizerOutput
from .vit import VIT_PRESETS, ViTConfig, ViTDecoder, ViTEncoder

from .build import ModelConfig, build_tokenizer  # isort: skip (needs the above)

__all__ = [
    "ViTConfig", "ViTEncoder", "ViTDecoder", "VIT_PRESETS", "ConvConfig", "ConvEncoder", "ConvDecoder",
    "PatchGAN", "StyleGAN2Discriminator", "make_discriminator", "Tokenizer", "TokenizerOutput", "ModelConfig", "build_tokenizer",
]
