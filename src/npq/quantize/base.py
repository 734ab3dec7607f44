"""The quantizer protocol shared by every npq quantizer.

Every quantizer is an ``nn.Module`` that takes channel-last latents ``z`` of shape ``(..., dim)``
and returns a :class:`QuantizerOutput`. Subclasses implement three small hooks on float32
tensors of shape ``(n, dim)``:

* ``_quantize(z) -> QuantizerOutput`` (``z_q`` carrying the gradient estimator's gradient),
* ``_encode(z) -> indices`` (int64, ``(n,)``),
* ``_decode(indices) -> codes`` (float32, ``(n, dim)``).

The base class does the rest once, identically for all methods: input validation, flattening of
the leading dimensions, float32 quantization under autocast, casting back to the input dtype, and
the ``(b, d, h, w)`` image helpers.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..lattices.code import check_positive_int
from ..utils.histogram import usage_stats

__all__ = ["Quantizer", "QuantizerOutput", "check_positive_int", "check_weight", "commitment_loss", "l2_normalize", "batch_usage"]


class _Output(NamedTuple):
    z_q: Tensor
    indices: Tensor
    loss: Tensor


class QuantizerOutput(_Output):
    """Result of ``Quantizer.forward``: a named tuple ``(z_q, indices, loss)`` - so
    ``z_q, indices, loss = quantizer(z)`` works as in vector-quantize-pytorch - with the
    diagnostics in ``.stats``.

    Attributes:
        z_q: quantized latents, same shape and dtype as the input; gradients flow to the input
            through the quantizer's estimator (straight-through unless stated otherwise).
        indices: int64 code indices, shape ``z.shape[:-1]`` (``z.shape[:-1] + (K,)`` for K
            residual stages).
        loss: scalar auxiliary loss (a zero tensor when the method has none), already weighted.
        stats: detached diagnostics (e.g. ``usage`` = fraction of codes used in the batch); not
            part of the tuple.
    """

    def __new__(cls, z_q: Tensor, indices: Tensor, loss: Tensor, stats: dict[str, Tensor] | None = None):
        self = super().__new__(cls, z_q, indices, loss)
        self.stats = {} if stats is None else stats
        return self

    def __repr__(self) -> str:
        return (f"QuantizerOutput(z_q={tuple(self.z_q.shape)}, indices={tuple(self.indices.shape)}, "
                f"loss={float(self.loss.detach()):.4g}, stats={sorted(self.stats)})")


def check_weight(name: str, value: object) -> float:
    """Return a loss weight as float, or raise ``ValueError`` unless it is a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def commitment_loss(z: Tensor, q: Tensor, weight: float) -> Tensor:
    """``weight * mean((z - sg(q))^2)``: the mean over elements, as in VQGAN (taming) and
    vector-quantize-pytorch; every npq quantizer with a commitment term uses this one. An empty
    batch gives 0 (not NaN)."""
    if z.numel() == 0:
        return z.sum() * 0.0
    return weight * (z - q.detach()).pow(2).mean()


def l2_normalize(z: Tensor) -> Tensor:
    """z / ||z|| along the last dim (a zero vector stays zero), for every finite z. Rows whose
    largest |value| lies outside [2^-40, 2^40] are first scaled by a power of two (exact; held
    constant for autograd, so the function and its gradient are unchanged): in float32 a row
    beyond ~1e19 had an infinite norm and normalized to 0, and a row below ~1e-12 was divided by
    the 1e-12 floor instead of its norm. Other rows are F.normalize's, bit for bit."""
    m = z.detach().abs().amax(-1, keepdim=True)
    far = (m > 2.0**40) | ((m < 2.0**-40) & (m > 0))
    if bool(far.any()):
        _, e = torch.frexp(m.to(torch.float64))  # m = f 2^e, f in [0.5, 1); 2^(e-1) is representable in z's dtype
        z = z / torch.where(far, torch.ldexp(torch.ones_like(m, dtype=torch.float64), (e - 1).to(torch.float64)), 1.0).to(z.dtype)
    return F.normalize(z, dim=-1, eps=1e-12)


def _check_device(device: torch.device | None) -> None:
    if device is not None and device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"cannot move the quantizer to {device}: CUDA is not available on this machine")


class Quantizer(nn.Module):
    """Base class: validation, flattening, float32 under autocast, image helpers.

    Subclasses set ``self.dim`` and implement ``codebook_size``, ``_quantize``, ``_encode`` and
    ``_decode``.
    """

    dim: int
    index_shape: tuple[int, ...] = ()  # trailing dims of an index (a residual quantizer: (stages,))

    # ------------------------------------------------------------------ devices
    def to(self, *args, **kwargs):
        """``nn.Module.to``; a CUDA device without CUDA is an error even for a quantizer with no
        parameters (where torch would silently do nothing and fail later)."""
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        _check_device(device)
        return super().to(*args, **kwargs)

    def cuda(self, device=None):
        _check_device(torch.device("cuda"))
        return super().cuda(device)

    # ------------------------------------------------------------------ sizes
    @property
    def codebook_size(self) -> int:
        raise NotImplementedError

    @property
    def bits_per_token(self) -> float:
        """log2 of the codebook size (17.58 for Λ24-SQ, not the 18 of a fixed-width integer)."""
        return math.log2(self.codebook_size)

    def codebook(self, dtype: torch.dtype = torch.float32, device: str | torch.device | None = None) -> Tensor:
        """All codes ``(codebook_size, dim)`` in index order, detached (row i = ``decode(i)``).

        Refused for codebooks over 2^24 codes (a 62-bit LFQ has no table)."""
        if self.codebook_size > 1 << 24:
            raise ValueError(f"{type(self).__name__} has {self.codebook_size:,} codes: too many to list (limit 2^24)")
        if device is None:
            t = next(iter(self.parameters()), None)
            t = t if t is not None else next(iter(self.buffers()), None)
            device = t.device if t is not None else "cpu"
        with torch.no_grad():
            return self._decode(torch.arange(self.codebook_size, device=device)).detach().to(dtype)

    # ------------------------------------------------------------------ hooks
    def _quantize(self, z: Tensor) -> QuantizerOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def _encode(self, z: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _decode(self, indices: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------------ validation
    def _check_latents(self, z: Tensor, name: str = "z") -> None:
        if not isinstance(z, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
        if not z.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype {z.dtype}")
        if z.ndim == 0 or z.shape[-1] != self.dim:
            raise ValueError(
                f"{name} must have shape (..., {self.dim}) (channel-last) for "
                f"{type(self).__name__}, got shape {tuple(z.shape)}"
            )
        if not torch.isfinite(z).all():
            bad = (~torch.isfinite(z)).sum().item()
            raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or Inf)")
        if z.dtype == torch.float64 and z.numel() and z.abs().max() > torch.finfo(torch.float32).max:
            raise ValueError(f"{name} has values up to {z.abs().max().item():.3g}, beyond float32's range (3.4e38): "
                             "npq quantizers compute in float32; rescale the input")

    def _check_indices(self, indices: Tensor, name: str = "indices") -> None:
        if not isinstance(indices, Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(indices).__name__}")
        if indices.is_floating_point() or indices.is_complex() or indices.dtype == torch.bool:
            raise ValueError(f"{name} must be an integer tensor, got dtype {indices.dtype}")
        if indices.numel():
            lo, hi = int(indices.min()), int(indices.max())
            if lo < 0 or hi >= self.codebook_size:
                raise ValueError(
                    f"{name} must lie in [0, {self.codebook_size - 1}] for "
                    f"{type(self).__name__}, got values in [{lo}, {hi}]"
                )

    # ------------------------------------------------------------------ protocol
    def forward(self, z: Tensor) -> QuantizerOutput:
        """Quantize ``z`` of shape ``(..., dim)``; see :class:`QuantizerOutput`."""
        self._check_latents(z)
        lead, dtype = z.shape[:-1], z.dtype
        with torch.autocast(device_type=z.device.type, enabled=False):
            out = self._quantize(z.reshape(-1, self.dim).float())
        return QuantizerOutput(
            z_q=out.z_q.reshape(z.shape).to(dtype),
            indices=out.indices.reshape(tuple(lead) + tuple(self.index_shape)),
            loss=out.loss,
            stats={k: v.detach() for k, v in out.stats.items()},
        )

    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """Indices (int64, shape ``z.shape[:-1]``) of the codes ``forward`` would pick."""
        self._check_latents(z)
        with torch.autocast(device_type=z.device.type, enabled=False):
            idx = self._encode(z.reshape(-1, self.dim).float())
        return idx.reshape(tuple(z.shape[:-1]) + tuple(self.index_shape))

    @torch.no_grad()
    def decode(self, indices: Tensor) -> Tensor:
        """Codes (float32, shape ``indices.shape + (dim,)``) for integer ``indices``."""
        self._check_indices(indices)
        codes = self._decode(indices.reshape(-1).long())
        return codes.reshape(*indices.shape, self.dim)

    # ------------------------------------------------------------------ images
    def _check_image(self, x: Tensor, name: str) -> None:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape (b, {self.dim}, h, w), got {shape}")

    def label_schemes(self) -> dict:
        """How tokens factor into labels for a generator's head (:mod:`npq.quantize.labels`):
        ``{"index": one label of codebook_size classes}``; quantizers add their own factorizations."""
        from .labels import index_scheme

        return {"index": index_scheme(self.codebook_size)}

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """:meth:`decode` under vector-quantize-pytorch's name: codes ``(*idx.shape, dim)`` (``(...,
        dim)`` for stacked residual indices) of integer indices."""
        return self.decode(indices)

    def get_output_from_indices(self, indices: Tensor) -> Tensor:
        """:meth:`decode` under vector-quantize-pytorch's other name (npq quantizers have no output
        projection: the codes ``(..., dim)`` are the output)."""
        return self.decode(indices)

    def forward_image(self, x: Tensor) -> QuantizerOutput:
        """``forward`` for a channel-first feature map ``(b, dim, h, w)``.

        Returns ``z_q`` as ``(b, dim, h, w)`` and ``indices`` as ``(b, h, w)``.
        """
        self._check_image(x, "x")
        out = self.forward(x.permute(0, 2, 3, 1))
        return QuantizerOutput(out.z_q.permute(0, 3, 1, 2), out.indices, out.loss, out.stats)

    def encode_image(self, x: Tensor) -> Tensor:
        """Token grid ``(b, h, w)`` for a feature map ``(b, dim, h, w)``."""
        self._check_image(x, "x")
        return self.encode(x.permute(0, 2, 3, 1))

    def decode_image(self, indices: Tensor) -> Tensor:
        """Feature map ``(b, dim, h, w)`` for a token grid ``(b, h, w)`` (``(b, h, w, K)`` for a
        quantizer whose index has K parts, e.g. residual stages): the inverse of :meth:`encode_image`."""
        want = 3 + len(self.index_shape)
        if not isinstance(indices, Tensor) or indices.ndim != want:
            shape = tuple(indices.shape) if isinstance(indices, Tensor) else type(indices).__name__
            raise ValueError(f"indices must have shape (b, h, w{', ' + str(self.index_shape[0]) if self.index_shape else ''}), got {shape}")
        return self.decode(indices).permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, codebook_size={self.codebook_size}, bits={self.bits_per_token:.2f}"


def batch_usage(indices: Tensor, codebook_size: int) -> dict[str, Tensor]:
    """Per-batch ``usage`` (fraction of codes used) and ``perplexity``; only ``usage`` (from the
    unique indices) for codebooks over 2^22 codes, where a histogram would be too large."""
    if codebook_size > 1 << 22:
        return {"usage": torch.tensor(float(torch.unique(indices).numel()) / codebook_size)}
    return usage_stats(torch.bincount(indices.reshape(-1), minlength=codebook_size))
