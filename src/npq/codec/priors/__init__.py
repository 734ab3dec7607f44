"""Token priors for the codec (see :mod:`npq.codec.priors.base`). Importing this package
registers the built-in priors: ``uniform`` (kind 0), ``learned`` (kind 1, a causal transformer in
float: machine-bound), ``context`` (kind 2, portable integer counts) and ``neural`` (kind 3, a
portable integer MLP); the last two are wavefront-parallel."""

from ...utils.plugins import import_submodules, load_plugins
from .base import Prior, load_prior, prior_class, prior_kinds, prior_names, register_prior
from .context import ContextPrior
from .neural import NeuralPrior
from .transformer import PriorConfig, TokenPrior
from .uniform import UniformPrior

__all__ = ["Prior", "UniformPrior", "TokenPrior", "ContextPrior", "NeuralPrior", "PriorConfig", "register_prior", "prior_class", "prior_kinds", "prior_names", "load_prior"]

# a new prior file in this package registers itself: import every module
import_submodules(__name__, __path__)
load_plugins("npq.priors")  # installed plugins (entry points) and $NPQ_PLUGINS
