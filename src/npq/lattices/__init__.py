"""Lattice mathematics (numpy/torch functions, no nn): spherical codes, Golay code, Leech lattice,
root lattices, generic lattices, Fibonacci sphere codes, and codes by name (:func:`make_code`)."""

from . import code, fibonacci, generic, golay, leech, root
from .catalog import CODE_NAMES, make_code
from .code import RandomCode, SphericalCode, TabulatedCode
from .fibonacci import FibonacciCode, fibonacci_sphere
from .generic import Lattice
from .leech import LeechCode
from .root import A2Code, D4Code, E8Code

__all__ = [
    "code",
    "golay",
    "leech",
    "root",
    "generic",
    "fibonacci",
    "SphericalCode",
    "TabulatedCode",
    "RandomCode",
    "LeechCode",
    "A2Code",
    "D4Code",
    "E8Code",
    "FibonacciCode",
    "Lattice",
    "fibonacci_sphere",
    "make_code",
    "CODE_NAMES",
]
