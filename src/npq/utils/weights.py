"""Locating pretrained weights: a given path, an environment variable, the torch hub cache, or a
download into that cache (checked against the published checksum) when the network is reachable;
otherwise a one-line error naming the file and where to put it.

Known files (``WEIGHT_URLS``) are the ones torchvision and torch-fidelity publish; their names carry
the first 8 hex digits of the file's SHA-256 (torch hub's convention), which the download must
match. ``NPQ_OFFLINE=1`` turns downloads off; ``NPQ_WEIGHTS_BASE_URL`` replaces the hosts (a mirror).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

__all__ = ["MissingWeightsError", "resolve_weights", "hub_checkpoint_dir", "WEIGHT_URLS", "download_weights"]

WEIGHT_URLS = {
    "alexnet-owt-7be5be79.pth": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg16-397923af.pth": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "weights-inception-2015-12-05-6726825d.pth":
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
}
_HASH = re.compile(r"-([0-9a-f]{8,64})\.[a-z]+$")


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights are not on disk and could not be downloaded."""


def hub_checkpoint_dir() -> Path:
    """torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch``)."""
    torch_home = os.environ.get("TORCH_HOME", os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(torch_home).expanduser() / "hub" / "checkpoints"


def _url(filename: str) -> str | None:
    url = WEIGHT_URLS.get(filename)
    base = os.environ.get("NPQ_WEIGHTS_BASE_URL")
    if url and base:
        url = base.rstrip("/") + "/" + filename
    return url


def download_weights(filename: str, dest: Path, timeout: float = 30.0) -> Path:
    """Download a known weights file into ``dest`` (atomically: a partial or wrong download leaves
    nothing), checking the SHA-256 prefix its name carries. OSError / ValueError on failure."""
    import urllib.request

    url = _url(filename)
    if url is None:
        raise ValueError(f"no known download for {filename}")
    m = _HASH.search(filename)
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
        if m and not h.hexdigest().startswith(m.group(1)):
            raise ValueError(f"the download of {filename} from {url} has SHA-256 {h.hexdigest()[:16]}..., not {m.group(1)}...: not kept")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def resolve_weights(what: str, filename: str, explicit: str | os.PathLike | None, env_var: str, download: bool = True) -> Path:
    """First existing of: ``explicit`` path, ``$env_var``, the torch hub cache ``filename``; else
    (``download``, a known file, ``NPQ_OFFLINE`` unset) a checked download into the cache.

    Raises:
        MissingWeightsError: naming the file looked for, why it could not be fetched, and where
            to put it.
    """
    candidates = []
    if explicit:
        candidates.append(Path(explicit).expanduser())
    if os.environ.get(env_var):
        candidates.append(Path(os.environ[env_var]).expanduser())
    cache = hub_checkpoint_dir() / filename
    candidates.append(cache)
    for c in candidates:
        if c.is_file():
            return c
    if explicit and not Path(explicit).expanduser().is_file():
        raise MissingWeightsError(f"{what} weights not found at {explicit}")
    why = "downloads are off (NPQ_OFFLINE=1)" if os.environ.get("NPQ_OFFLINE") else "no known download"
    if download and not os.environ.get("NPQ_OFFLINE") and _url(filename):
        try:
            return download_weights(filename, cache)
        except (OSError, ValueError) as e:
            why = f"the download from {_url(filename)} failed ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})"
    raise MissingWeightsError(
        f"{what} weights '{filename}' not found (looked in: {', '.join(str(c) for c in candidates)}) and {why}: "
        f"copy the file to {cache}, or pass its path (argument or environment variable {env_var})."
    )
