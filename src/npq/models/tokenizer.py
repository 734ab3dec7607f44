"""Tokenizer = encoder -> linear to the quantizer's dimension -> quantizer -> linear back -> decoder.

Images are float tensors ``(b, 3, H, W)`` in **[-1, 1]** (``x * 2 - 1`` from [0, 1]).
``encode`` gives the token grid ``(b, H/f, W/f)`` (int64), ``decode`` maps tokens back to images,
``forward`` returns the reconstruction with the quantizer's loss and statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..quantize.base import Quantizer, l2_normalize

__all__ = ["Tokenizer", "TokenizerOutput"]


@dataclass
class TokenizerOutput:
    """Reconstruction ``(b, 3, H, W)`` in [-1, 1], tokens ``(b, h, w)``, the quantizer's loss and stats."""

    recon: Tensor
    indices: Tensor
    q_loss: Tensor
    stats: dict[str, Tensor] = field(default_factory=dict)


class Tokenizer(nn.Module):
    """Any encoder/decoder pair around any quantizer of the registry.

    Args:
        encoder: ``(b, 3, H, W) -> (b, h, w, encoder.out_dim)``, with ``downsample`` = H / h.
        quantizer: an npq quantizer (channel-last ``(..., quantizer.dim)``).
        decoder: ``(b, h, w, decoder.in_dim) -> (b, 3, H, W)``.
        l2_normalize: normalize the projected latent before the quantizer (spherical codes
            normalize anyway; useful for VQ with cosine distance).
        clamp_output: clamp the reconstruction to [-1, 1] in :meth:`forward` (the authors' code
            does; pixels outside the range then get no gradient).
    """

    def __init__(self, encoder: nn.Module, quantizer: Quantizer, decoder: nn.Module, l2_normalize: bool = False,
                 clamp_output: bool = False):
        super().__init__()
        if not isinstance(quantizer, Quantizer):
            raise ValueError(f"quantizer must be an npq Quantizer, got {type(quantizer).__name__}")
        self.encoder, self.quantizer, self.decoder = encoder, quantizer, decoder
        self.quant_in = nn.Linear(encoder.out_dim, quantizer.dim)
        self.quant_out = nn.Linear(quantizer.dim, decoder.in_dim)
        self.l2_normalize = l2_normalize
        self.clamp_output = clamp_output
        self.downsample = encoder.downsample

    def _check(self, images: Tensor) -> None:
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (b, 3, H, W), got {getattr(images, 'shape', type(images))}")
        f = self.downsample
        if images.shape[-1] % f or images.shape[-2] % f:
            raise ValueError(f"image size {tuple(images.shape[-2:])} must be a multiple of {f} (pad first)")

    def latents(self, images: Tensor) -> Tensor:
        """Pre-quantization latents ``(b, h, w, quantizer.dim)``."""
        self._check(images)
        z = self.quant_in(self.encoder(images))
        return l2_normalize(z) if self.l2_normalize else z

    def forward(self, images: Tensor) -> TokenizerOutput:
        """Training forward of images ``(b, 3, H, W)`` in [-1, 1]: ``TokenizerOutput(recon (b, 3, H,
        W), indices int64 (b, H/f, W/f[, stages]), loss (scalar quantizer loss), stats)``."""
        q = self.quantizer(self.latents(images))
        recon = self.decoder(self.quant_out(q.z_q))
        if self.clamp_output:
            recon = recon.clamp(-1, 1)
        return TokenizerOutput(recon, q.indices, q.loss, q.stats)

    @torch.no_grad()
    def encode(self, images: Tensor) -> Tensor:
        """Token grid int64 ``(b, H/f, W/f)`` (``(b, H/f, W/f, stages)`` for a residual quantizer) of
        images ``(b, 3, H, W)`` in [-1, 1], H and W multiples of f."""
        return self.quantizer.encode(self.latents(images))

    @torch.no_grad()
    def decode(self, tokens: Tensor) -> Tensor:
        """Images ``(b, 3, h f, w f)`` in [-1, 1] (not clamped) from a token grid ``(b, h, w)``, or
        ``(b, h, w, m)`` for a residual quantizer (the first m stages)."""
        if not isinstance(tokens, Tensor) or tokens.ndim not in (3, 4):
            raise ValueError(f"tokens must have shape (b, h, w) (or (b, h, w, stages)), got {getattr(tokens, 'shape', type(tokens))}")
        return self.decoder(self.quant_out(self.quantizer.decode(tokens)))

    def save_pretrained(self, directory, config: dict, card: str | None = None, metrics: dict | None = None, half: bool = False):
        """Write a pretrained folder (``config.json``, ``model.safetensors``, ``README.md``) that
        ``npq.from_pretrained(directory)`` and every ``--checkpoint`` read; ``config``: the training
        config as a dict (its ``model`` and ``data`` sections). See :mod:`npq.models.pretrained`."""
        from .pretrained import save_pretrained

        return save_pretrained(self, directory, config, card=card, metrics=metrics, half=half)

    def last_layer(self) -> Tensor:
        """The decoder's last-layer weight (the adaptive GAN weight's reference layer)."""
        return self.decoder.last_layer()
