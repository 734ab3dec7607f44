"""Generation over npq tokens (issue 29, in progress): output heads and their losses. The label
schemes that factor a token into labels live with the quantizers (:mod:`npq.quantize.labels`)."""

from .heads import chunked_cross_entropy, factorized_cross_entropy

__all__ = ["chunked_cross_entropy", "factorized_cross_entropy"]
