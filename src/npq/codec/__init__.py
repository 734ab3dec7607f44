"""Image codec: entropy-coded token bitstreams, a learned token prior, classic-codec baselines, RD."""

from .bitstream import BitstreamError
from .codec import compress, decompress, model_id
from .prior import PriorConfig, TokenPrior

__all__ = ["compress", "decompress", "model_id", "BitstreamError", "TokenPrior", "PriorConfig"]
