"""Spherical code quantizers: z is l2-normalized, then snapped to the nearest code on the unit
sphere (STE). No auxiliary loss: dense spherical codes need neither commitment nor entropy terms.

* :class:`SphericalCodeQuantizer` - any :class:`npq.lattices.SphericalCode`.
* :class:`SphericalLatticeQuantizer` - a code by name (:func:`npq.lattices.make_code`).
* :class:`LeechSQ` - Λ24-SQ, the 196,560 Leech minimal vectors (17.58 bits).
* :class:`RandomProjectionVQ` - a frozen random codebook of unit vectors.
* registered shells: ``a2-sq``, ``a3-sq``, ``d4-sq``, ``d5-sq``, ``e6-sq``, ``e7-sq``, ``e8-sq``, ``k12-sq``,
  ``lambda16-sq``, ``leech-subset``, ``fibonacci``; product codes ``product-sq``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..lattices import RandomCode, SphericalCode, make_code
from .base import Quantizer, QuantizerOutput, batch_usage, check_positive_int, l2_normalize
from .entropy import EntropyLoss, explicit_entropy_terms
from .estimators import straight_through
from .registry import register

__all__ = ["SphericalCodeQuantizer", "SphericalLatticeQuantizer", "LeechSQ", "RandomProjectionVQ"]


class SphericalCodeQuantizer(Quantizer):
    """Normalize ``z`` to the unit sphere, pick the nearest codeword of ``code``, STE.

    Args:
        code: the spherical code.
        entropy: optional entropy regularizer over the explicit codebook (<= 65,536 codewords).
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

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> Tensor:
        return self.code.codebook(dtype, device or "cpu")

    def _quantize(self, z: Tensor) -> QuantizerOutput:
        u = l2_normalize(z)
        indices, q = self.code.nearest(z.detach())  # exact for z itself (scale-invariant); u is rounded
        q = q.to(u.dtype)
        loss = z.new_zeros(())
        stats = batch_usage(indices, self.codebook_size)
        if self.entropy is not None and self.entropy.weight > 0:
            per_sample, cb = explicit_entropy_terms(u, self.code.codebook(u.dtype, u.device), self.entropy.tau)
            ent_loss, ent_stats = self.entropy.combine(per_sample, cb)
            loss = loss + ent_loss
            stats.update(ent_stats)
        return QuantizerOutput(straight_through(u, q), indices, loss, stats)

    def _encode(self, z: Tensor) -> Tensor:
        return self.code.nearest(z)[0]

    def _decode(self, indices: Tensor) -> Tensor:
        return self.code.index_to_vector(indices, torch.float32)

    def extra_repr(self) -> str:
        return f"code={self.code!r}, " + super().extra_repr()


@register("random-projection-vq", title="Random-projection VQ", example={"dim": 24, "codebook_size": 2**18},
          tableau={"dim": 24, "codebook_size": 2**14}, construction="N i.i.d. uniform unit vectors", constraints="‖λ‖ = 1",
          aliases=("rpvq",))
class RandomProjectionVQ(SphericalCodeQuantizer):
    """Random-projection VQ (Chiu et al., 2022): a frozen random codebook of unit vectors.

    Nearest codeword by inner product with the input (the certified, exact search of
    :class:`npq.lattices.TabulatedCode`), in blocks of rows so memory stays bounded for 2^18 codes.

    Args:
        dim: latent dimension.
        codebook_size: number of codes (>= 2).
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


@register("spherical", title="spherical code {code}", example={"code": "e8"}, tableau=None, tour=False)
class SphericalLatticeQuantizer(SphericalCodeQuantizer):
    """A spherical code quantizer by code name (see :func:`npq.lattices.make_code`).

    Examples: ``SphericalLatticeQuantizer("leech")`` (Λ24-SQ), ``("leech-subset:C")`` (98,304
    codes), ``("e8")``, ``("fibonacci", codebook_size=16384, dim=8)``.
    """

    def __init__(self, code: str = "leech", codebook_size: int | None = None, dim: int | None = None, seed: int = 0, entropy=None):
        super().__init__(make_code(code, n=codebook_size, dim=dim, seed=seed), entropy)


@register("fibonacci", title="Fibonacci F_{dim}({codebook_size})", example={"codebook_size": 2**14, "dim": 24},
          tableau={"codebook_size": 240, "dim": 8}, construction="generalized Fibonacci spiral", constraints="‖λ‖ = 1")
def fibonacci_sq(codebook_size: int, dim: int, entropy=None) -> SphericalLatticeQuantizer:
    """Fibonacci sphere code of ``codebook_size`` points in dimension ``dim``."""
    return SphericalLatticeQuantizer("fibonacci", codebook_size=codebook_size, dim=dim, entropy=entropy)


# The densest-packing shells: one row each (registry name, code, title, what, register's fields).
_SHELLS = [
    ("a2-sq", "a2", "A2-SQ", "The 6 minimal vectors of A2 (the hexagon), 2.58 bits.",
     dict(tour=False, construction="hexagonal lattice A2, first shell", constraints="‖λ‖² = 2 (unit after scaling)")),
    ("d4-sq", "d4", "D4-SQ", "The 24 minimal vectors of D4, 4.58 bits.",
     dict(construction="D4 = {x ∈ Z^4 : Σx even}, first shell", constraints="‖λ‖² = 2")),
    ("e8-sq", "e8", "E8-SQ", "The 240 minimal vectors of E8, 7.91 bits.",
     dict(construction="E8 = D8 ∪ (D8 + ½), first shell", constraints="‖λ‖² = 2")),
    ("a3-sq", "a3", "A3-SQ", "The 12 minimal vectors of A3 (face-centred cubic), 3.58 bits.",
     dict(tour=False, construction="A3 = D3 (fcc), first shell: the cuboctahedron", constraints="‖λ‖² = 2")),
    ("d5-sq", "d5", "D5-SQ", "The 40 minimal vectors of D5, 5.32 bits.",
     dict(tour=False, construction="D5 = {x ∈ Z^5 : Σx even}, first shell", constraints="‖λ‖² = 2")),
    ("e6-sq", "e6", "E6-SQ", "The 72 minimal vectors of E6, 6.17 bits.",
     dict(tour=False, construction="E6 = {x ∈ E^3 : x_i ≡ x_j mod θ} (Eisenstein), first shell", constraints="‖λ‖² = 3")),
    ("e7-sq", "e7", "E7-SQ", "The 126 minimal vectors of E7, 6.98 bits.",
     dict(tour=False, construction="E7 = A7 ∪ (A7 + [4]), first shell", constraints="‖λ‖² = 2")),
    ("k12-sq", "k12", "K12-SQ", "The 756 minimal vectors of the Coxeter-Todd lattice K12, 9.56 bits.",
     dict(construction="Coxeter-Todd K12 = {x ∈ E^6 : x mod 2 ∈ hexacode}, first shell", constraints="‖λ‖² = 4")),
    ("lambda16-sq", "lambda16", "Λ16-SQ", "The 4,320 minimal vectors of the Barnes-Wall lattice Λ16, 12.08 bits.",
     dict(construction="Barnes-Wall Λ16 = {x ∈ Z^16 : x mod 2 ∈ RM(1,4), Σx ≡ 0 mod 4}, first shell", constraints="‖λ‖² = 8",
          aliases=("bw16-sq",))),
]


def _shell_factory(code: str, doc: str):
    def factory(entropy=None) -> SphericalLatticeQuantizer:
        return SphericalLatticeQuantizer(code, entropy=entropy)

    factory.__name__ = factory.__qualname__ = f"{code}_sq"
    factory.__doc__ = doc
    return factory


for _name, _code, _title, _doc, _kw in _SHELLS:
    globals()[f"{_code}_sq"] = register(_name, title=_title, geometry="transitive", **_kw)(_shell_factory(_code, _doc))


@register("product-sq", title="product {codes}", example={"codes": ["lambda16", "e8"]}, tableau=None, tour=False,
          construction="blocks of the latent, each on a lattice shell", constraints="‖λ_b‖ = 1/√k per block")
def product_sq(codes: list[str], entropy=None) -> SphericalLatticeQuantizer:
    """A product spherical code (:class:`npq.lattices.product.ProductCode`): e.g. ``["lambda16", "e8"]``
    (dim 24, 19.98 bits) or ``["e8", "e8", "e8"]`` (dim 24, 23.72 bits)."""
    if isinstance(codes, str) or not isinstance(codes, (list, tuple)) or not codes:
        raise ValueError(f"codes must be a non-empty list of code names, e.g. ['lambda16', 'e8'], got {codes!r}")
    return SphericalLatticeQuantizer("product:" + "+".join(str(c) for c in codes), entropy=entropy)


@register("leech-subset", title="Λ24-SQ subset {classes}", example={"classes": "C"}, tableau=None)
def leech_subset_sq(classes: str = "C") -> SphericalLatticeQuantizer:
    """Λ24 minimal vectors of some shape classes (``"A"``, ``"B"``, ``"C"``, ``"A+B"``, ...)."""
    return SphericalLatticeQuantizer(f"leech-subset:{classes}")


@register("leech", title="Λ24-SQ", construction="Leech lattice Λ24 (Golay code construction), first shell",
          constraints="‖λ‖² = 32 (x 1/√32)", geometry="transitive", aliases=("leech-sq",))
class LeechSQ(SphericalLatticeQuantizer):
    """Spherical Leech quantization Λ24-SQ: dim 24, 196,560 codes, 17.58 bits per token, exact
    structured nearest-codeword search (:mod:`npq.lattices.leech`)."""

    def __init__(self):
        super().__init__("leech")

    def label_schemes(self) -> dict:
        """``"index"`` and ``"coordinates"``: 24 labels of 9 values, the integer codeword (squared
        norm 32, coordinates -4..4) + 4; any labels map back to the nearest codeword of
        ``labels - 4`` (exact decoder), so every sampled label vector is a valid token."""
        from .labels import LabelScheme

        code = self.code

        def to_labels(indices: Tensor) -> Tensor:
            idx = torch.as_tensor(indices).long()
            return code.index_to_vector(idx.reshape(-1), integer=True).reshape(*idx.shape, 24) + 4

        def to_indices(labels: Tensor) -> Tensor:
            lab = torch.as_tensor(labels)
            return code.nearest((lab.reshape(-1, 24) - 4).double())[0].reshape(lab.shape[:-1])

        return {**super().label_schemes(), "coordinates": LabelScheme("coordinates", (9,) * 24, to_labels, to_indices)}
