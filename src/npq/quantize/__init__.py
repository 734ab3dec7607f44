"""Quantizers with one protocol (see :mod:`npq.quantize.base`) and one registry
(:mod:`npq.quantize.registry`). Importing this package registers the built-in quantizers, in the
order the tour and the tableau list them."""

from ..utils.plugins import import_submodules, load_plugins
from .base import Quantizer, QuantizerOutput
from .binary import BSQ, LFQ, BinaryQuantizer
from .entropy import EntropyLoss
from .fsq import FSQ, FSQ_PRESETS
from .registry import Entry, available, entries, entry, make, register
from .spherical import LeechSQ, RandomProjectionVQ, SphericalCodeQuantizer, SphericalLatticeQuantizer
from .vq import VectorQuantizer

__all__ = [
    "Quantizer",
    "QuantizerOutput",
    "EntropyLoss",
    "BinaryQuantizer",
    "LFQ",
    "BSQ",
    "FSQ",
    "FSQ_PRESETS",
    "RandomProjectionVQ",
    "SphericalCodeQuantizer",
    "SphericalLatticeQuantizer",
    "LeechSQ",
    "VectorQuantizer",
    "ResidualQuantizer",
    "register",
    "make",
    "available",
    "entries",
    "entry",
    "Entry",
]

# a new quantizer file in this package registers itself: import every module
import_submodules(__name__, __path__)
load_plugins("npq.quantizers")  # installed plugins (entry points) and $NPQ_PLUGINS

from .residual import ResidualQuantizer  # noqa: E402  (registered last: after the single-stage quantizers)
