"""Evaluation metrics with the field's conventions (see each module)."""

from .accumulate import ALL_METRICS, ReconstructionMetrics
from .codebook import CodeUsage
from .fid import FeatureStats, frechet_distance, inception_feature_extractor
from .image import ms_ssim_per_image, psnr_per_image, ssim_per_image
from .perceptual import load_lpips, lpips_per_image
from .weights import MissingWeightsError

__all__ = [
    "psnr_per_image", "ssim_per_image", "ms_ssim_per_image", "load_lpips", "lpips_per_image",
    "ReconstructionMetrics", "ALL_METRICS", "FeatureStats", "frechet_distance", "inception_feature_extractor", "CodeUsage", "MissingWeightsError",
]
