"""Evaluation metrics with the field's conventions (see each module) and their registry
(:mod:`npq.metrics.base`). Importing this package registers the built-in metrics."""

from ..utils.plugins import import_submodules, load_plugins

# registration order = table order: image metrics, perceptual, rFID, EfficientNet distances, codebook usage
from .image import ms_ssim_per_image, psnr_per_image, ssim_per_image  # isort: skip
from .perceptual import load_lpips, lpips_per_image  # isort: skip
from .fid import FeatureStats, frechet_distance, inception_feature_extractor  # isort: skip
from .effnet import effnet_features, effnet_pd_per_image  # isort: skip
from .codebook import CodeUsage  # isort: skip
from .accumulate import ReconstructionMetrics, format_results
from .base import MeanMetric, Metric, MetricContext, metric_class, metric_names, register_metric
from ..utils.weights import MissingWeightsError

__all__ = [
    "psnr_per_image", "ssim_per_image", "ms_ssim_per_image", "load_lpips", "lpips_per_image",
    "ReconstructionMetrics", "format_results", "Metric", "MeanMetric", "MetricContext", "register_metric", "metric_names",
    "metric_class", "FeatureStats", "frechet_distance", "inception_feature_extractor", "CodeUsage", "MissingWeightsError",
    "effnet_pd_per_image", "effnet_features",
]

# a new metric file in this package registers itself: import every module
import_submodules(__name__, __path__)
load_plugins("npq.metrics")  # installed plugins (entry points) and $NPQ_PLUGINS
