"""Atomic file writes: a temporary file in the target's folder, flushed and fsynced, then renamed.

An interrupted write leaves any previous file intact and no partial file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "load_torch", "check_output", "PNG_MAGIC", "NPZ_MAGIC"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"  # first bytes of a PNG file
NPZ_MAGIC = b"PK\x03\x04"  # an .npz is a zip archive


def _umask() -> int:
    """The process umask (read from /proc on Linux; else set and restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(f)`` on a binary temporary file, then rename it to ``path``.

    The file gets the mode a plain ``open(path, "w")`` would give it: the replaced file's mode, or
    0666 minus the umask for a new file. A symbolic link is written through (its target is
    replaced). Unwritable locations and folders raise ``ValueError`` naming the path.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.is_dir():
        raise ValueError(f"cannot write {path}: it is a folder (give a file name)")
    try:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise ValueError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def check_output(out: str | Path, inputs=(), magic: bytes | None = None, what: str = "", force: bool = False) -> None:
    """Refuse to write ``out`` when it is one of ``inputs`` (the same file, also through links or
    hard links), or when it exists and does not start with ``magic`` (it is not ``what``) unless
    ``force``: a typo must not replace a photo with a bitstream. ValueError naming the path."""
    o = Path(out)
    if not o.exists():
        return
    for i in inputs:
        if Path(i).exists() and os.path.samefile(o, i):
            raise ValueError(f"the output {out} is the input {i}: choose another output name")
    if magic is not None and not force and o.is_file():
        with open(o, "rb") as f:
            head = f.read(len(magic))
        if head != magic:
            raise ValueError(f"{out} exists and is not {what}: refusing to overwrite it (pass --force to replace it)")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _numpy_safe_globals() -> list:
    """The numpy globals a pickled ``np.random.get_state()`` needs (an array of uint32): allowed
    in ``weights_only`` loading, which otherwise refuses every non-torch object."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    out = [core.multiarray._reconstruct, np.ndarray, np.dtype]
    try:
        from numpy.dtypes import UInt32DType

        out.append(UInt32DType)
    except ImportError:  # numpy < 1.25
        pass
    return out


def load_torch(path: str | Path, what: str = "file", map_location="cpu"):
    """``torch.load`` of a user file with ``weights_only=True``: tensors, plain Python types and
    numpy RNG states only, so a malicious pickle cannot run code. FileNotFoundError / ValueError
    naming ``what`` and the path otherwise."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, not a torch file, or a pickle that wants to run code
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read {what} {p}: {first}") from None
