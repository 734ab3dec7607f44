"""Hugging Face model repositories of npq tokenizers: a repo id ("owner/name") is fetched with
``huggingface_hub.snapshot_download`` into the hub's usual cache where the hub is reachable;
offline (``HF_HUB_OFFLINE=1`` or ``NPQ_OFFLINE=1``) a repo already in the cache loads and anything
else is a one-line error. The folder layout: :mod:`npq.models.pretrained`; loading:
``npq.from_pretrained`` / :func:`npq.zoo.load_tokenizer`, which every ``--checkpoint`` uses.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .models.pretrained import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE, is_pretrained_dir

__all__ = ["resolve_pretrained", "download_repo", "looks_like_repo_id"]

_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def looks_like_repo_id(name: str) -> bool:
    """Whether ``name`` reads as a Hugging Face repo id (``owner/name``) and is not a local path."""
    return bool(_REPO_ID.match(str(name))) and not Path(str(name)).exists()


def _offline() -> bool:
    return bool(os.environ.get("NPQ_OFFLINE") or os.environ.get("HF_HUB_OFFLINE"))


def download_repo(repo_id: str, what: str) -> Path:
    """The local folder of Hugging Face repo ``repo_id``'s ``config.json``, ``model.safetensors``
    and ``README.md``, downloaded into (or found in) the hub's cache; offline (``NPQ_OFFLINE`` /
    ``HF_HUB_OFFLINE``) only the cache. Failures are one line naming ``what`` was asked for."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ValueError(f"{repo_id!r} looks like a Hugging Face repo id: install huggingface_hub to download it") from None
    try:
        # the cache folder read now: huggingface_hub reads HF_HUB_CACHE once, when first imported
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE], local_files_only=_offline(),
                                      cache_dir=os.environ.get("HF_HUB_CACHE") or None))
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, no access: say which, in one line
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FileNotFoundError(f"cannot fetch the {what} {repo_id!r} from the Hugging Face hub"
                                f"{' (offline: only cached repos load)' if _offline() else ''}: {why}") from None


def resolve_pretrained(name: str | Path) -> Path:
    """The local folder of a pretrained tokenizer: ``name`` itself, or a Hugging Face repo id
    downloaded (or found) in the hub's cache. FileNotFoundError / ValueError in one line."""
    p = Path(name)
    if is_pretrained_dir(p):
        return p
    if p.is_dir():
        raise ValueError(f"{p} is a folder without {CONFIG_FILE} and {WEIGHTS_FILE}: not a pretrained npq tokenizer")
    if not _REPO_ID.match(str(name)):
        raise FileNotFoundError(f"no pretrained tokenizer {str(name)!r}: not a folder, and not a repo id such as 'owner/name'")
    local = download_repo(str(name), "pretrained tokenizer")
    if not is_pretrained_dir(local):
        raise ValueError(f"the repo {name!r} has no {CONFIG_FILE} and {WEIGHTS_FILE}: not a pretrained npq tokenizer")
    return Path(local)
