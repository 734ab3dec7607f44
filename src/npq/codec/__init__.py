"""Image codec: entropy-coded token bitstreams, token priors (:mod:`npq.codec.priors`),
classic-codec baselines, RD evaluation."""

from .bitstream import BitstreamError
from .codec import bits_per_pixel, compress, decompress, model_id, read_header
from .priors import Prior, PriorConfig, TokenPrior, UniformPrior, load_prior, prior_names

__all__ = ["compress", "decompress", "read_header", "model_id", "bits_per_pixel", "BitstreamError", "Prior", "UniformPrior",
           "TokenPrior", "PriorConfig", "load_prior", "prior_names"]
