"""Range coding of token sequences with constriction (uniform and per-token categorical models).

Probabilities handed to the coder are built from integer weights by :func:`quantized_pmf`, so
that encoder and decoder, given the same logits, feed constriction bit-identical inputs.
"""

from __future__ import annotations

import math

import constriction
import numpy as np

__all__ = ["encode_uniform", "decode_uniform", "quantized_pmf", "fixed_logit_pmf", "LOGIT_SCALE", "CategoricalEncoder", "CategoricalDecoder"]

LOGIT_SCALE = 16  # logits are rounded to multiples of 1/16 nat
_RANGE = 40 * LOGIT_SCALE  # weights below exp(-40) of the maximum are floored to 1
_NEG = np.iinfo(np.int64).min // 2
_EXP_TABLE = np.array([max(1, round((1 << 20) * math.exp(-k / LOGIT_SCALE))) for k in range(_RANGE + 1)], dtype=np.int64)


def quantized_pmf(logits: np.ndarray, valid: int | None = None) -> np.ndarray:
    """Deterministic probabilities (float64, rows summing to 1) from float logits ``(..., K)``:
    rounded to 1/16 nat, then :func:`fixed_logit_pmf` (``valid``: symbols >= valid get 0)."""
    q = np.rint(np.asarray(logits, dtype=np.float64) * LOGIT_SCALE).astype(np.int64)
    return fixed_logit_pmf(q, None if valid is None else np.arange(q.shape[-1]) < valid)


def fixed_logit_pmf(q: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """Probabilities (float64, rows summing to 1) from integer logits ``(..., K)`` in units of
    1/16 nat.

    Logits are shifted by their maximum and mapped through an integer exp table (every allowed
    symbol keeps weight >= 1); probabilities are weights / sum, one IEEE division (exactly rounded
    on every machine), so they are an exact function of the integer logits. ``allowed`` (bool,
    broadcastable to ``q``) gives the other symbols probability 0.
    """
    q = np.asarray(q, dtype=np.int64)
    if allowed is not None:
        allowed = np.broadcast_to(allowed, q.shape)
        q = np.where(allowed, q, _NEG)
    d = q.max(-1, keepdims=True) - q
    np.minimum(d, _RANGE, out=d)  # d >= 0
    w = _EXP_TABLE[d]
    if allowed is not None:
        w[~allowed] = 0
    return w / w.sum(-1, keepdims=True)


def _uniform_model(n: int):
    return constriction.stream.model.Uniform(n)


def encode_uniform(tokens: np.ndarray, n: int) -> bytes:
    """Range-code int tokens in [0, n) with a uniform model (log2 n bits each + a few bytes)."""
    enc = constriction.stream.queue.RangeEncoder()
    enc.encode(np.ascontiguousarray(tokens, dtype=np.int32).reshape(-1), _uniform_model(n))
    return words_to_bytes(enc.get_compressed())


def decode_uniform(data: bytes, count: int, n: int) -> np.ndarray:
    """Inverse of :func:`encode_uniform`: the ``count`` tokens (int64 ``(count,)``, values in [0, n))
    of ``data``; ValueError unless it holds exactly ``count`` tokens (a uniform code cannot be
    shorter than ``count * log2 n`` bits, nor have words left over)."""
    if len(data) * 8 < count * math.log2(n):
        raise ValueError(f"payload of {len(data)} bytes is too short for {count} tokens of log2 {n} bits")
    dec = constriction.stream.queue.RangeDecoder(_words(data))
    out = np.asarray(dec.decode(_uniform_model(n), count), dtype=np.int64)
    if not dec.maybe_exhausted():
        raise ValueError("payload longer than its tokens")
    return out


def words_to_bytes(words: np.ndarray) -> bytes:
    """The range coder's 32-bit words as bytes, little-endian whatever the host's byte order (the
    format's payload words; see docs/bitstream.md)."""
    return np.asarray(words).astype("<u4").tobytes()


def _words(data: bytes) -> np.ndarray:
    """Inverse of :func:`words_to_bytes`: native uint32 words of a little-endian payload."""
    if len(data) % 4:
        raise ValueError("range-coded payload length must be a multiple of 4 bytes")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


class CategoricalEncoder:
    """Symbol-by-symbol range encoder with per-symbol probability vectors."""

    def __init__(self):
        self.enc = constriction.stream.queue.RangeEncoder()
        self.model = constriction.stream.model.Categorical(perfect=False)

    def encode(self, symbols: np.ndarray, probs: np.ndarray) -> None:
        """Append ``symbols`` (int ``(n,)``) coded with their categorical distributions ``probs``
        (float ``(n, k)``, rows summing to 1)."""
        self.enc.encode(np.ascontiguousarray(symbols, dtype=np.int32), self.model, np.ascontiguousarray(probs, dtype=np.float64))

    def finish(self) -> bytes:
        """The coded bytes (little-endian 32-bit words) of everything encoded so far."""
        return words_to_bytes(self.enc.get_compressed())


class CategoricalDecoder:
    """Range decoder of :class:`CategoricalEncoder`'s bytes: call :meth:`decode` with the same
    distributions, in the same order, as the encoder."""
    def __init__(self, data: bytes):
        self.dec = constriction.stream.queue.RangeDecoder(_words(data))
        self.model = constriction.stream.model.Categorical(perfect=False)

    def decode(self, probs: np.ndarray) -> np.ndarray:
        """The next symbols, int64 ``(n,)``, for their categorical distributions ``probs`` (float
        ``(..., k)``, one row per symbol)."""
        p = np.ascontiguousarray(probs, dtype=np.float64).reshape(-1, probs.shape[-1])
        return np.asarray(self.dec.decode(self.model, p), dtype=np.int64)

    def finish(self) -> None:
        """ValueError unless every word of the payload was consumed."""
        if not self.dec.maybe_exhausted():
            raise ValueError("payload longer than its tokens")
