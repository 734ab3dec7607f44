"""Quantizers with one protocol (see :mod:`npq.quantize.base`)."""

from .base import Quantizer, QuantizerOutput
from .entropy import EntropyLoss
from .registry import available, make
from .vq import VectorQuantizer
from .scalar import FSQ, FSQ_PRESETS, LFQ
from .spherical import (
    BSQ,
    LeechSQ,
    RandomProjectionVQ,
    SphericalCodeQuantizer,
    SphericalLatticeQuantizer,
)

__all__ = [
    "Quantizer",
    "QuantizerOutput",
    "EntropyLoss",
    "LFQ",
    "BSQ",
    "FSQ",
    "FSQ_PRESETS",
    "RandomProjectionVQ",
    "SphericalCodeQuantizer",
    "SphericalLatticeQuantizer",
    "LeechSQ",
    "VectorQuantizer",
    "make",
    "available",
]
