"""Lattice mathematics (numpy/torch functions, no nn): Golay code, Leech lattice, root lattices,
generic lattices, Fibonacci sphere codes."""

from . import fibonacci, generic, golay, leech, root
from .fibonacci import FibonacciCode, fibonacci_sphere
from .generic import Lattice
from .leech import LeechCode
from .root import A2Code, D4Code, E8Code, SphericalCode

__all__ = [
    "golay",
    "leech",
    "root",
    "generic",
    "fibonacci",
    "LeechCode",
    "A2Code",
    "D4Code",
    "E8Code",
    "FibonacciCode",
    "SphericalCode",
    "Lattice",
    "fibonacci_sphere",
]
