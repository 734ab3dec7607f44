"""The uniform prior: every token costs log2 N bits (range-coded, a few bytes of overhead)."""

from __future__ import annotations

import math

import numpy as np

from ..entropy_coding import decode_uniform, encode_uniform
from .base import Prior, register_prior

__all__ = ["UniformPrior"]


@register_prior(kind=0, name="uniform")
class UniformPrior(Prior):
    """p(token) = 1 / N for every token; no parameters (fingerprint zeros)."""

    def __init__(self, n_codes: int):
        self._n = int(n_codes)

    @property
    def n_codes(self) -> int:
        return self._n

    def encode(self, tokens: np.ndarray) -> bytes:
        self.check_tokens(tokens)
        return encode_uniform(tokens, self._n)

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        return decode_uniform(data, grid[0] * grid[1], self._n).reshape(grid)

    def bits(self, tokens: np.ndarray) -> float:
        """Code length in bits of a token grid (any shape): ``tokens.size * log2(n_codes)``."""
        return tokens.size * math.log2(self._n)
