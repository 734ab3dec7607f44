"""One progress-bar idiom for every long loop (tqdm is a hard dependency)."""

from __future__ import annotations

from collections.abc import Iterable

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(it: Iterable | None, desc: str, enabled: bool = True, **kw) -> tqdm:
    """A tqdm bar over ``it`` labelled ``desc``; with ``enabled=False`` a silent one (iteration,
    ``update``, ``set_postfix`` and ``close`` still work, and print nothing)."""
    return tqdm(it, desc=desc, disable=not enabled, dynamic_ncols=True, **kw)
