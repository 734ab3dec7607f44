"""Lattice mathematics (numpy/torch functions, no nn): spherical codes, Golay code, Leech lattice,
root lattices, the densest lattices of dimensions 3-24 (shells and nearest-point decoders),
product codes, generic lattices, Fibonacci sphere codes, and codes by name (:func:`make_code`)."""

from . import code, constructions, densest, fibonacci, generic, golay, leech, product, root, shells
from .catalog import CODE_NAMES, make_code
from .code import RandomCode, SphericalCode, TabulatedCode
from .fibonacci import FibonacciCode, fibonacci_sphere
from .generic import Lattice
from .leech import LeechCode
from .product import ProductCode
from .root import D4Code, E8Code
from .shells import A2Code, A3Code, D5Code, E6Code, E7Code, K12Code, Lambda16Code

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
    "A3Code",
    "D5Code",
    "E6Code",
    "E7Code",
    "K12Code",
    "Lambda16Code",
    "ProductCode",
    "shells",
    "densest",
    "product",
    "constructions",
    "FibonacciCode",
    "Lattice",
    "fibonacci_sphere",
    "make_code",
    "CODE_NAMES",
]
