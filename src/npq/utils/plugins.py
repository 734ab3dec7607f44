"""Import every module of a package, so that a new file with a registering decorator
(a quantizer, a metric, a prior) is picked up without editing any other file."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

__all__ = ["import_submodules", "load_plugins"]


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import ``package.<name>`` for every module in ``path`` (a package's ``__path__``), in
    alphabetical order; modules already imported are untouched."""
    for info in sorted(pkgutil.iter_modules(list(path)), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


_LOADED: set[str] = set()


def load_plugins(group: str) -> list[str]:
    """Import the plugins of ``group`` (``"npq.quantizers"``, ``"npq.priors"``, ``"npq.metrics"``):
    the modules named by installed packages' entry points of that group
    (``[project.entry-points."npq.quantizers"] mine = "my_package.my_quantizer"``), and, for every
    group, the modules in ``$NPQ_PLUGINS`` (comma-separated). Their registering decorators fill
    the registries, so ``npq list`` and every command see them. A plugin that fails to import is
    reported in one warning line and skipped. Returns the modules imported now."""
    import os
    import warnings
    from importlib.metadata import entry_points

    names = [ep.value.split(":")[0] for ep in entry_points(group=group)]
    names += [m.strip() for m in os.environ.get("NPQ_PLUGINS", "").split(",") if m.strip()]
    done = []
    for name in names:
        if name in _LOADED:
            continue
        _LOADED.add(name)
        try:
            importlib.import_module(name)
            done.append(name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break npq
            warnings.warn(f"npq plugin {name!r} ({group}) failed to load: {type(e).__name__}: {e}", stacklevel=2)
    return done
