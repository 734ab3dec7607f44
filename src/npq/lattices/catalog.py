"""Spherical codes by name (used by quantizers, VQ initialization and configs)."""

from __future__ import annotations

from .code import RandomCode, SphericalCode, check_positive_int
from .fibonacci import FibonacciCode
from .leech import LeechCode
from .root import A2Code, D4Code, E8Code

__all__ = ["make_code", "CODE_NAMES"]

CODE_NAMES = ("leech", "leech-subset:<A|B|C|A+B|...>", "e8", "d4", "a2", "fibonacci", "random")
_FIXED = {"e8": E8Code, "d4": D4Code, "a2": A2Code}


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
    if name in _FIXED:
        return _FIXED[name]()
    if name in ("fibonacci", "random"):
        if n is None or dim is None:
            raise ValueError(f"code={code!r} needs both n (number of points) and dim")
        check_positive_int("n", n)
        check_positive_int("dim", dim)
        return FibonacciCode(n, dim) if name == "fibonacci" else RandomCode(n, dim, seed)
    raise ValueError(f"unknown spherical code {code!r}; choose {', '.join(CODE_NAMES)}")
