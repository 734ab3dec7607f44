"""A new token prior in one file: fixed token frequencies (a unigram model), learned by counting.

Import this module once and the codec writes and reads files with it (header kind 7); it is saved
and loaded like every prior (docs/extending.md).
"""

from __future__ import annotations

import hashlib

import constriction
import numpy as np
import torch

from npq.codec.priors import Prior, register_prior


@register_prior(kind=7, name="unigram")
class UnigramPrior(Prior):
    """p(token) = (count + 1) / (total + N): the same distribution at every position."""

    def __init__(self, counts: np.ndarray):
        self.counts = np.asarray(counts, dtype=np.int64)
        w = self.counts + 1  # every symbol >= 1: any token stays codable
        self.probs = w / w.sum()

    @classmethod
    def fit(cls, tokens: np.ndarray, n_codes: int) -> "UnigramPrior":
        return cls(np.bincount(tokens.reshape(-1), minlength=n_codes))

    @property
    def n_codes(self) -> int:
        return len(self.counts)

    def _model(self):
        return constriction.stream.model.Categorical(self.probs, perfect=False)

    def encode(self, tokens: np.ndarray) -> bytes:
        self.check_tokens(tokens)
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1), self._model())
        return enc.get_compressed().tobytes()

    def decode(self, data: bytes, grid: tuple[int, int]) -> np.ndarray:
        dec = constriction.stream.queue.RangeDecoder(np.frombuffer(data, dtype=np.uint32).copy())
        return np.asarray(dec.decode(self._model(), grid[0] * grid[1]), dtype=np.int64).reshape(grid)

    def bits(self, tokens: np.ndarray) -> float:
        return float(-np.log2(self.probs[tokens.reshape(-1)]).sum())

    def fingerprint(self) -> bytes:
        return hashlib.sha256(self.counts.tobytes()).digest()[:8]

    def state(self) -> dict:
        return {"config": {"n_codes": self.n_codes}, "counts": torch.from_numpy(self.counts)}

    @classmethod
    def from_state(cls, st: dict) -> "UnigramPrior":
        return cls(st["counts"].numpy())
