"""Atomic file writes: a temporary file in the target's folder, flushed and fsynced, then renamed.

An interrupted write leaves any previous file intact and no partial file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "load_torch", "load_state", "save_safetensors", "load_safetensors",
           "check_output", "PNG_MAGIC", "NPZ_MAGIC", "SAFETENSORS_SUFFIX"]

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


def _check_writable_location(o: Path) -> None:
    """ValueError now, before any work, when ``o`` cannot be created: its nearest existing parent
    is a file or is not writable (the write itself would fail only after the work)."""
    parent = o.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise ValueError(f"cannot write {o}: {parent} is a file, not a folder")
    if parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write {o}: {parent} is not writable")


def check_output(out: str | Path, inputs=(), magic: bytes | None = None, what: str = "", force: bool = False,
                 replace_same_kind: bool = True) -> None:
    """Refuse to write ``out`` when it is one of ``inputs`` (the same file, also through links or
    hard links), or when it exists and does not start with ``magic`` (it is not ``what``) unless
    ``force``: a typo must not replace a photo with a bitstream. With ``replace_same_kind=False``
    (outputs that are images: an existing image may be the user's lossless original) any
    existing file is refused unless ``force``. ValueError naming the path."""
    o = Path(out)
    if not o.exists():
        _check_writable_location(o)
        return
    for i in inputs:
        if Path(i).exists() and os.path.samefile(o, i):
            raise ValueError(f"the output {out} is the input {i}: choose another output name")
    if not replace_same_kind and not force:
        raise ValueError(f"{out} exists: refusing to replace it with a lossy reconstruction (pass --force to replace it)")
    if magic is not None and not force and o.is_file():
        with open(o, "rb") as f:
            head = f.read(len(magic))
        if head != magic:
            raise ValueError(f"{out} exists and is not {what}: refusing to overwrite it (pass --force to replace it)")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); returns the path."""
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically (:func:`atomic_write`); returns the path."""
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


SAFETENSORS_SUFFIX = ".safetensors"


def _flatten(st: dict, prefix: str = "") -> tuple[dict, dict]:
    """Nested dict -> ({"a/b": tensor}, the same dict with tensors left out)."""
    import torch

    tensors, rest = {}, {}
    for k, v in st.items():
        if "/" in str(k):
            raise ValueError(f"key {k!r} contains '/', which the flat layout uses as a separator")
        if isinstance(v, torch.Tensor):
            tensors[prefix + str(k)] = v.detach().cpu().contiguous()
        elif isinstance(v, dict) and any(isinstance(x, (torch.Tensor, dict)) for x in v.values()):
            t, r = _flatten(v, prefix + str(k) + "/")
            tensors.update(t)
            rest[str(k)] = r
        else:
            rest[str(k)] = v
    return tensors, rest


def _unflatten(tensors: dict, rest: dict) -> dict:
    """Nest ``a/b`` tensor keys into ``rest``; ValueError when a key collides with a non-mapping
    value of the metadata (a crafted file)."""
    out = json.loads(json.dumps(rest))  # a copy
    for key, t in tensors.items():
        *parents, leaf = key.split("/")
        cur = out
        for p in parents:
            cur = cur.setdefault(p, {})
            if not isinstance(cur, dict):
                raise ValueError(f"tensor {key!r} collides with a non-mapping entry of the file's metadata")
        cur[leaf] = t
    return out


def save_safetensors(path: str | Path, state: dict) -> Path:
    """Write a nested dict of tensors and JSON-able values as one safetensors file: tensors under
    ``a/b`` keys, everything else as JSON in the metadata entry ``npq`` (atomic). Loading it runs
    no code: the format holds raw tensors and a JSON header only."""
    from safetensors.torch import save

    tensors, rest = _flatten(state)
    data = save(tensors, metadata={"npq": json.dumps(rest)})
    return atomic_write_bytes(path, data)


def load_safetensors(path: str | Path, what: str = "file") -> dict:
    """Inverse of :func:`save_safetensors`; ValueError naming ``what`` for an unreadable file."""
    from safetensors import safe_open

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with safe_open(str(p), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        rest = json.loads(meta.get("npq", "{}"))
    except Exception as e:  # noqa: BLE001 - any failure to parse is a bad file
        raise ValueError(f"cannot read {what} {p}: {str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__}") from None
    if not isinstance(rest, dict):
        raise ValueError(f"cannot read {what} {p}: its npq metadata is not a mapping")
    try:
        return _unflatten(tensors, rest)
    except ValueError as e:
        raise ValueError(f"cannot read {what} {p}: {e}") from None


def _looks_like_safetensors(p: Path) -> bool:
    """A safetensors file starts with its JSON header's length (u64, little-endian) and ``{``."""
    try:
        with open(p, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def load_state(path: str | Path, what: str = "file", map_location="cpu"):
    """A saved state from a safetensors file (by suffix or content) or a torch file (``weights_only``)."""
    p = Path(path)
    if p.suffix == SAFETENSORS_SUFFIX or (p.is_file() and _looks_like_safetensors(p)):
        return load_safetensors(p, what)
    return load_torch(p, what, map_location)


def load_torch(path: str | Path, what: str = "file", map_location="cpu"):
    """``torch.load`` of a user file with ``weights_only=True``: tensors, plain Python types and
    numpy RNG states only, so a malicious pickle cannot run code. FileNotFoundError / ValueError
    naming ``what`` and the path otherwise."""
    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    with open(p, "rb") as f:
        head = f.read(4)
    if not (head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"):  # a torch zip archive or a legacy pickle
        raise ValueError(f"cannot read {what} {p}: not a model file (neither safetensors nor a torch file"
                         f"{'; it is empty' if not head else ''})")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated, or a pickle that wants to run code
        if "Weights only load failed" in str(e) or "Unsupported global" in str(e):
            raise ValueError(f"cannot read {what} {p}: it holds objects other than tensors and plain data, which npq "
                             "does not unpickle (that would run code from the file)") from None
        first = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise ValueError(f"cannot read {what} {p}: {first}") from None
