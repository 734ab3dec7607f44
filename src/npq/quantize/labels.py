"""How a quantizer's tokens factor into labels for a generator's output head.

A generator predicts a token as ``L`` labels, label ``l`` one of ``sizes[l]`` classes; a
:class:`LabelScheme` maps indices to labels (exactly) and any labels back to a valid index. Every
quantizer has the ``"index"`` scheme (one label of ``codebook_size`` classes); a quantizer may
add others through :meth:`npq.quantize.base.Quantizer.label_schemes`, in its own file:

* Λ24-SQ, ``"coordinates"``: 24 labels of 9 values, the codeword scaled to squared norm 32 has
  integer coordinates in -4..4 (label = coordinate + 4), computed from the integer codewords, not
  by truncating float products; any 24 labels map back through the exact nearest-codeword
  decoder (the sampled vector need not be a codeword);
* LFQ / BSQ, ``"bits"``: d binary labels (bit t of the index, coordinate 0 most significant);
* FSQ, ``"levels"``: one label per dimension with L_i values (the mixed-radix digits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LabelScheme", "index_scheme"]


@dataclass(frozen=True)
class LabelScheme:
    """``sizes``: classes of each label; ``to_labels(indices (...)) -> (..., L)`` int64 and
    ``to_indices(labels (..., L)) -> (...)`` int64, a valid index for any labels in range."""

    name: str
    sizes: tuple[int, ...]
    to_labels: Callable[[Tensor], Tensor]
    to_indices: Callable[[Tensor], Tensor]

    def check_labels(self, labels: Tensor) -> None:
        """ValueError unless ``labels`` is an integer tensor ``(..., len(sizes))`` with label j in [0,
        sizes[j])."""
        if not isinstance(labels, Tensor) or labels.ndim == 0 or labels.shape[-1] != len(self.sizes):
            raise ValueError(f"labels must have shape (..., {len(self.sizes)}) for the {self.name!r} scheme, "
                             f"got {getattr(labels, 'shape', type(labels))}")
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise ValueError(f"labels must be integers, got {labels.dtype}")
        if labels.numel():
            hi = torch.tensor(self.sizes, device=labels.device)
            if bool(((labels < 0) | (labels >= hi)).any()):
                raise ValueError(f"labels out of range for the {self.name!r} scheme (classes per label: {list(self.sizes)[:6]}...)")


def index_scheme(codebook_size: int) -> LabelScheme:
    """One label of ``codebook_size`` classes: the index itself."""
    return LabelScheme("index", (int(codebook_size),), lambda i: torch.as_tensor(i).long()[..., None],
                       lambda lab: lab[..., 0].long())
