"""Spherical codes by name (used by quantizers, VQ initialization and configs)."""

from __future__ import annotations

from .code import RandomCode, SphericalCode, check_positive_int
from .fibonacci import FibonacciCode
from .leech import LeechCode
from .product import ProductCode
from .root import D4Code, E8Code
from .shells import A2Code, A3Code, D5Code, E6Code, E7Code, K12Code, Lambda16Code

__all__ = ["make_code", "CODE_NAMES"]

CODE_NAMES = ("leech", "leech-subset:<A|B|C|A+B|...>", "lambda16", "k12", "e8", "e7", "e6", "d5", "d4", "a3", "a2",
              "product:<code>+<code>+...", "fibonacci", "random")
_FIXED = {"e8": E8Code, "d4": D4Code, "a2": A2Code, "a3": A3Code, "d3": A3Code, "d5": D5Code, "e6": E6Code, "e7": E7Code,
          "k12": K12Code, "coxeter-todd": K12Code, "lambda16": Lambda16Code, "bw16": Lambda16Code, "barnes-wall": Lambda16Code}


def make_code(code: str, n: int | None = None, dim: int | None = None, seed: int = 0) -> SphericalCode:
    """A spherical code by name.

    ``"leech"`` (Λ24, 196,560), ``"leech-subset:A"`` / ``":B"`` / ``":C"`` / ``":A+B"`` ... (shape
    classes, see :mod:`npq.lattices.leech`), ``"e8"`` (240), ``"d4"`` (24), ``"a2"`` (6),
    ``"fibonacci"`` (needs ``n`` and ``dim``), ``"random"`` (needs ``n``, ``dim``; ``seed``); the
    shells of :mod:`npq.lattices.shells` ``"a3"`` (12), ``"d5"`` (40), ``"e6"`` (72), ``"e7"`` (126),
    ``"k12"`` (756), ``"lambda16"`` (4,320); ``"product:lambda16+e8"`` (blocks in order, see
    :class:`~npq.lattices.product.ProductCode`).
    """
    if not isinstance(code, str):
        raise ValueError(f"code must be a string, got {code!r}")
    name = code.strip().lower()
    if name in ("leech", "leech24", "lambda24"):
        return LeechCode("ABC")
    if name.startswith("product:"):
        parts = [p for p in name.split(":", 1)[1].split("+") if p.strip()]
        if not parts or any(p.strip().startswith("product:") for p in parts):
            raise ValueError(f"code={code!r}: write product:<code>+<code>+... with fixed codes (e.g. product:lambda16+e8)")
        return ProductCode([make_code(p.strip(), seed=seed) for p in parts])
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
