"""Build any quantizer from a name and keyword arguments (used by configs and the CLI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Quantizer
from .scalar import FSQ, LFQ
from .spherical import BSQ, RandomProjectionVQ, SphericalLatticeQuantizer
from .vq import VectorQuantizer

__all__ = ["make", "register", "available"]

_REGISTRY: dict[str, Callable[..., Quantizer]] = {}


def register(name: str, factory: Callable[..., Quantizer]) -> None:
    """Register ``factory(**kwargs) -> Quantizer`` under ``name`` (lower case)."""
    _REGISTRY[name.lower()] = factory


def available() -> list[str]:
    """Registered quantizer names."""
    return sorted(_REGISTRY)


def make(name: str, **kwargs: Any) -> Quantizer:
    """Build a quantizer by name, e.g. ``make("leech")``, ``make("bsq", dim=18, entropy=0.1)``,
    ``make("fsq", bits=14)``, ``make("rpvq", dim=16, codebook_size=2**14)``."""
    key = str(name).lower()
    if key not in _REGISTRY:
        raise ValueError(f"unknown quantizer {name!r}; available: {', '.join(available())}")
    try:
        return _REGISTRY[key](**kwargs)
    except TypeError as e:  # unexpected keyword: say which quantizer
        raise ValueError(f"bad arguments for quantizer {name!r}: {e}") from None


def _fsq(levels=None, bits=None, **kw) -> FSQ:
    if (levels is None) == (bits is None):
        raise ValueError("fsq needs exactly one of levels=[...] or bits=<8|10|12|14|16>")
    return FSQ(levels, **kw) if levels is not None else FSQ.preset(bits)


register("lfq", LFQ)
register("bsq", BSQ)
register("fsq", _fsq)
register("rpvq", RandomProjectionVQ)
register("random-projection-vq", RandomProjectionVQ)
register("spherical", SphericalLatticeQuantizer)
register("leech", lambda **kw: SphericalLatticeQuantizer("leech", **kw))
register("leech-sq", lambda **kw: SphericalLatticeQuantizer("leech", **kw))
register("leech-subset", lambda classes="C", **kw: SphericalLatticeQuantizer(f"leech-subset:{classes}", **kw))
register("e8-sq", lambda **kw: SphericalLatticeQuantizer("e8", **kw))
register("d4-sq", lambda **kw: SphericalLatticeQuantizer("d4", **kw))
register("a2-sq", lambda **kw: SphericalLatticeQuantizer("a2", **kw))
register("vq", VectorQuantizer)
register("fibonacci", lambda n, dim, **kw: SphericalLatticeQuantizer("fibonacci", n=n, dim=dim, **kw))
