"""Import every module of a package, so that a new file with a registering decorator
(a quantizer, a metric, a prior) is picked up without editing any other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

__all__ = ["import_submodules"]


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import ``package.<name>`` for every module in ``path`` (a package's ``__path__``), in
    alphabetical order; modules already imported are untouched."""
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
