"""The quantizer registry: every quantizer registers itself with a decorator beside its class.

    @register("bsq", title="BSQ", example={"dim": 18}, construction="{±1/√d}^d", ...)
    class BSQ(BinaryQuantizer): ...

``make(name, **kwargs)`` builds one (configs, the CLI); ``entries()`` is read by ``npq list``,
the tour, the grand tableau and the docs, so a new quantizer appears in all of them from its own
file. A registered module must be imported once: the built-in ones are imported by
``npq.quantize``; a user's own module by the user (see docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Entry", "register", "make", "available", "entries", "entry"]


@dataclass(frozen=True)
class Entry:
    """A registered quantizer.

    Attributes:
        name: registry name (lower case), e.g. ``"bsq"``.
        factory: ``factory(**kwargs) -> Quantizer`` (a class or a function).
        title: display name; may use the instance's keyword arguments as format fields,
            e.g. ``"Fibonacci F_{dim}({n})"``.
        example: keyword arguments of a typical instance (``npq list``, the tour, docs).
        construction, constraints: how the codebook is built and what constrains it (tableau).
        needs_entropy_reg: the method collapses without an entropy regularizer.
        geometry: which closed forms the tableau may use: ``"lfq"``, ``"bsq"``, ``"transitive"``
            (all Voronoi cells congruent) or ``"generic"`` (Monte Carlo).
        tableau: keyword arguments of the tableau's instance (default: ``example``); ``None``
            keeps the quantizer out of the tableau.
        tour: whether the tour of real photos includes it.
        aliases: other names accepted by :func:`make`.
    """

    name: str
    factory: Callable[..., Any]
    title: str
    example: dict = field(default_factory=dict)
    construction: str = ""
    constraints: str = ""
    needs_entropy_reg: bool = False
    geometry: str = "generic"
    tableau: dict | None = None
    tour: bool = True
    aliases: tuple[str, ...] = ()

    def label(self, kwargs: dict | None = None) -> str:
        """The title with ``kwargs`` (default: the example) filled in."""
        return self.title.format(**(self.example if kwargs is None else kwargs))

    def build(self, kwargs: dict | None = None):
        """An instance with ``kwargs`` (default: the example)."""
        return self.factory(**(self.example if kwargs is None else kwargs))


_REGISTRY: dict[str, Entry] = {}
_ALIASES: dict[str, str] = {}
_UNSET: Any = object()


def register(
    name: str,
    *,
    title: str | None = None,
    example: dict | None = None,
    construction: str = "",
    constraints: str = "",
    needs_entropy_reg: bool = False,
    geometry: str = "generic",
    tableau: dict | None = _UNSET,
    tour: bool = True,
    aliases: tuple[str, ...] = (),
) -> Callable:
    """Decorator: register a quantizer class or factory function under ``name`` (see :class:`Entry`)."""
    key = name.lower()
    if geometry not in ("lfq", "bsq", "transitive", "generic"):
        raise ValueError(f"geometry must be lfq, bsq, transitive or generic, got {geometry!r}")

    def deco(factory: Callable) -> Callable:
        if key in _REGISTRY or key in _ALIASES:
            raise ValueError(f"a quantizer named {name!r} is already registered")
        ex = dict(example or {})
        _REGISTRY[key] = Entry(key, factory, title or name, ex, construction, constraints, needs_entropy_reg, geometry,
                               ex if tableau is _UNSET else tableau, tour, tuple(a.lower() for a in aliases))
        for a in aliases:
            _ALIASES[a.lower()] = key
        return factory

    return deco


def available() -> list[str]:
    """Registered quantizer names (aliases included), sorted."""
    return sorted([*_REGISTRY, *_ALIASES])


def entries() -> list[Entry]:
    """Registered quantizers in registration order (the built-in order: scalar, binary, spherical, VQ)."""
    return list(_REGISTRY.values())


def entry(name: str) -> Entry:
    """The registry entry of ``name`` (or an alias); ValueError naming the choices otherwise."""
    key = str(name).lower()
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"unknown quantizer {name!r}; available: {', '.join(available())}")
    return _REGISTRY[key]


def make(name: str, **kwargs: Any):
    """Build a quantizer by name, e.g. ``make("leech")``, ``make("bsq", dim=18, entropy=0.1)``,
    ``make("fsq", bits=14)``, ``make("rpvq", dim=16, codebook_size=2**14)``."""
    e = entry(name)
    dim = kwargs.pop("dim", None) if "dim" in kwargs and not _takes(e.factory, "dim") else None
    try:
        q = e.factory(**kwargs)
    except TypeError as err:  # unexpected keyword: say which quantizer
        raise ValueError(f"bad arguments for quantizer {name!r}: {err}") from None
    if dim is not None and dim != q.dim:  # a fixed-dimension code: a redundant dim must match it
        raise ValueError(f"quantizer {name!r} has dim {q.dim}, got dim={dim!r}")
    return q


def _takes(factory, arg: str) -> bool:
    """Whether ``factory`` accepts the keyword ``arg`` (or any keyword)."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return True
    return arg in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
