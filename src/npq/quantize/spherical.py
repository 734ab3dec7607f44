"""Spherical quantizers: z is l2-normalized, then snapped to a code on the unit sphere (STE).

* :class:`BSQ` - binary spherical quantization, codes {±1/sqrt(d)}^d (index as LFQ).
* :class:`SphericalCodeQuantizer` - any :class:`npq.lattices.SphericalCode`.
* :class:`RandomProjectionVQ` - a frozen random codebook of unit vectors.
* :class:`SphericalLatticeQuantizer` - lattice shells (Λ24 and its subsets, E8, D4, A2) and
  Fibonacci codes by name; :func:`LeechSQ` is Λ24-SQ (196,560 codes, 17.58 bits).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..lattices import A2Code, D4Code, E8Code, FibonacciCode, LeechCode, SphericalCode
from ..lattices.root import argmax_inner_product
from .base import Quantizer, QuantizerOutput, check_positive_int, usage_stats
from .entropy import EntropyLoss, explicit_entropy_terms
from .estimators import straight_through
from .scalar import _BinaryQuantizer

__all__ = [
    "BSQ",
    "SphericalCodeQuantizer",
    "RandomCode",
    "RandomProjectionVQ",
    "SphericalLatticeQuantizer",
    "LeechSQ",
    "make_code",
    "l2_normalize",
]

_EPS = 1e-12


def l2_normalize(z: Tensor) -> Tensor:
    """z / ||z|| along the last dim (a zero vector stays zero)."""
    return F.normalize(z, dim=-1, eps=_EPS)


class BSQ(_BinaryQuantizer):
    """Binary spherical quantization (Zhao et al., 2024).

    ``u = z / ||z||``, code ``sign(u) / sqrt(d)``, STE. Entropy regularization (strongly advised;
    BSQ collapses without it) uses the analytic per-sample entropy and grouped sub-codebooks for
    the codebook entropy (``EntropyLoss.group_size``).

    Args:
        dim: latent dimension d (2^d codes).
        entropy: :class:`EntropyLoss`, a dict of its fields, a float weight, or None.
        commitment_weight: weight of ``||u - sg(q)||^2``.
    """

    def __init__(self, dim: int, entropy: EntropyLoss | dict | float | None = None, commitment_weight: float = 0.0):
        super().__init__(dim, entropy, commitment_weight)

    def _scale(self) -> float:
        return 1.0 / math.sqrt(self.dim)

    def _prepare(self, z: Tensor) -> Tensor:
        return l2_normalize(z)


class RandomCode(SphericalCode):
    """``n`` i.i.d. uniform unit vectors in R^dim from a seeded generator (deterministic on CPU)."""

    def __init__(self, n: int, dim: int, seed: int = 0):
        self.size, self.dim, self.seed = check_positive_int("codebook_size", n), check_positive_int("dim", dim), seed
        gen = torch.Generator().manual_seed(int(seed))
        self._points = l2_normalize(torch.randn(n, dim, generator=gen, dtype=torch.float64))
        self.name = f"random code ({n} points, seed {seed})"

    def index_to_vector(self, idx: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        idx = torch.as_tensor(idx)
        return self._points.to(idx.device)[idx.long()].to(dtype)

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
        return self._points.to(device=device, dtype=dtype)

    def _nearest(self, x: Tensor) -> Tensor:
        return argmax_inner_product(x.float(), self._cached(x.device))

    def _cached(self, device: torch.device) -> Tensor:
        key = str(device)
        cache = self.__dict__.setdefault("_cache", {})
        if key not in cache:
            cache[key] = self._points.to(device=device, dtype=torch.float32)
        return cache[key]


def make_code(code: str, n: int | None = None, dim: int | None = None, seed: int = 0) -> SphericalCode:
    """A spherical code by name.

    ``"leech"`` (Λ24, 196,560), ``"leech-subset:A"`` / ``":B"`` / ``":C"`` / ``":A+B"`` ... (shape
    classes, see :mod:`npq.lattices.leech`), ``"e8"`` (240), ``"d4"`` (24), ``"a2"`` (6),
    ``"fibonacci"`` (needs ``n`` and ``dim``), ``"random"`` (needs ``n``, ``dim``; ``seed``).
    """
    if not isinstance(code, str):
        raise ValueError(f"code must be a string, got {code!r}")
    name = code.strip().lower()
    if name in ("leech", "leech24", "lambda24"):
        return LeechCode("ABC")
    if name.startswith("leech-subset:"):
        return LeechCode(code.split(":", 1)[1])
    fixed = {"e8": E8Code, "d4": D4Code, "a2": A2Code}
    if name in fixed:
        return fixed[name]()
    if name in ("fibonacci", "random"):
        if n is None or dim is None:
            raise ValueError(f"code={code!r} needs both n (number of points) and dim")
        check_positive_int("n", n)
        check_positive_int("dim", dim)
        return FibonacciCode(n, dim) if name == "fibonacci" else RandomCode(n, dim, seed)
    raise ValueError(
        f"unknown spherical code {code!r}; choose leech, leech-subset:<A|B|C|A+B|...>, e8, d4, a2, fibonacci, random"
    )


class SphericalCodeQuantizer(Quantizer):
    """Normalize ``z`` to the unit sphere, pick the nearest codeword of ``code``, STE.

    No loss by default: dense spherical codes need neither commitment nor entropy terms. An
    optional entropy regularizer over the explicit codebook is available for small codes
    (<= 65,536 codewords).
    """

    def __init__(self, code: SphericalCode, entropy: EntropyLoss | dict | float | None = None):
        super().__init__()
        if not isinstance(code, SphericalCode):
            raise ValueError(f"code must be a SphericalCode, got {type(code).__name__}")
        self.code = code
        self.dim = code.dim
        self.entropy = EntropyLoss.coerce(entropy)
        if self.entropy is not None and code.size > 1 << 16:
            raise ValueError(
                f"entropy regularization over an explicit codebook needs <= 65536 codes, {code.name} has {code.size}"
            )

    @property
    def codebook_size(self) -> int:
        return self.code.size

    def _quantize(self, z: Tensor) -> QuantizerOutput:
        u = l2_normalize(z)
        indices, q = self.code.nearest(u.detach())
        q = q.to(u.dtype)
        loss = z.new_zeros(())
        stats = usage_stats(indices, self.codebook_size)
        if self.entropy is not None and self.entropy.weight > 0:
            per_sample, cb = explicit_entropy_terms(u, self.code.codebook(u.dtype, u.device), self.entropy.tau)
            ent_loss, ent_stats = self.entropy.combine(per_sample, cb)
            loss = loss + ent_loss
            stats.update(ent_stats)
        return QuantizerOutput(straight_through(u, q), indices, loss, stats)

    def _encode(self, z: Tensor) -> Tensor:
        return self.code.nearest(l2_normalize(z))[0]

    def _decode(self, indices: Tensor) -> Tensor:
        return self.code.index_to_vector(indices, torch.float32)

    def extra_repr(self) -> str:
        return f"code={self.code!r}, " + super().extra_repr()


class RandomProjectionVQ(SphericalCodeQuantizer):
    """Random-projection VQ (Chiu et al., 2022): a frozen random codebook of unit vectors.

    Nearest codeword by inner product with the normalized input, computed in chunks so memory
    stays bounded for 2^18 codes.

    Args:
        dim: latent dimension.
        codebook_size: number of codes.
        seed: generator seed; the codebook is regenerated from it (not stored in state_dict).
    """

    def __init__(self, dim: int, codebook_size: int, seed: int = 0, entropy: EntropyLoss | dict | float | None = None):
        check_positive_int("dim", dim)
        check_positive_int("codebook_size", codebook_size)
        if codebook_size < 2:
            raise ValueError(f"codebook_size must be >= 2, got {codebook_size}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an int, got {seed!r}")
        super().__init__(RandomCode(codebook_size, dim, seed), entropy)


class SphericalLatticeQuantizer(SphericalCodeQuantizer):
    """Spherical lattice code quantizer by name (see :func:`make_code`).

    Examples: ``SphericalLatticeQuantizer("leech")`` (Λ24-SQ), ``("leech-subset:C")`` (98,304
    codes), ``("e8")``, ``("fibonacci", n=16384, dim=8)``.
    """

    def __init__(self, code: str = "leech", n: int | None = None, dim: int | None = None, seed: int = 0, entropy=None):
        super().__init__(make_code(code, n=n, dim=dim, seed=seed), entropy)
        self.code_name = code


def LeechSQ() -> SphericalLatticeQuantizer:  # noqa: N802 - named like a class on purpose
    """Spherical Leech quantization Λ24-SQ: dim 24, 196,560 codes, 17.58 bits per token."""
    return SphericalLatticeQuantizer("leech")
