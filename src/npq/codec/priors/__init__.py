"""Token priors for the codec (see :mod:`npq.codec.priors.base`). Importing this package
registers the built-in priors: ``uniform`` (kind 0) and ``learned`` (kind 1, a causal transformer)."""

from ...utils.plugins import import_submodules
from .base import Prior, load_prior, prior_class, prior_kinds, prior_names, register_prior
from .transformer import PriorConfig, TokenPrior
from .uniform import UniformPrior

__all__ = ["Prior", "UniformPrior", "TokenPrior", "PriorConfig", "register_prior", "prior_class", "prior_kinds", "prior_names", "load_prior"]

# a new prior file in this package registers itself: import every module
import_submodules(__name__, __path__)
