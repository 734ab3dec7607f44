"""Give freed heap memory back to the operating system between the tiles of a large image.

glibc's malloc keeps memory freed by one tile's activations (hundreds of MB) in its heap, and its
dynamic mmap threshold grows after such frees, so the next large tensors come from that heap too:
the process's resident memory then stays at its high-water mark plus the next stage's needs.
:func:`release_memory` calls ``malloc_trim(0)``; elsewhere (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

__all__ = ["release_memory"]


@functools.cache
def _trim():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return libc.malloc_trim if libc is not None and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def release_memory() -> None:
    """Return freed heap memory to the OS (glibc ``malloc_trim(0)``; a no-op elsewhere)."""
    trim = _trim()
    if trim is not None:
        trim(0)
