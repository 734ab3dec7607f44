"""Tokenizer losses: MAE (L1), LPIPS perceptual loss, GAN losses with R1 / LeCAM, adaptive weight."""

from .adversarial import adaptive_weight, d_loss, g_loss, lecam_penalty, r1_penalty
from .perceptual import PerceptualLoss

__all__ = ["PerceptualLoss", "d_loss", "g_loss", "r1_penalty", "lecam_penalty", "adaptive_weight"]
